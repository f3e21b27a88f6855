"""Checkpoint pruning: `train.callbacks.checkpoint.keep` (modelspec.training.checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

from digits_data import TINY_SPLITS, tiny_digits_spec

from modelspec.training.checkpoints import prune_checkpoints
from modelspec.training.rundir import RunDir


def _run_with(tmp_path: Path, names: list[str]) -> RunDir:
    run = RunDir(tmp_path / "run")
    for name in names:
        (run.checkpoints / name).mkdir(parents=True)
    return run


def _left(run: RunDir) -> list[str]:
    return sorted(child.name for child in run.checkpoints.iterdir())


def test_the_newest_keep_epoch_checkpoints_stay(tmp_path):
    run = _run_with(tmp_path, ["best", "epoch-0001", "epoch-0002", "epoch-0003", "epoch-0004",
                               ".epoch-0005-x.tmp"])
    prune_checkpoints(run, "epoch-0004", "epoch-0003", keep=3)
    assert _left(run) == ["best", "epoch-0002", "epoch-0003", "epoch-0004"]


def test_the_default_and_the_least_keep_the_fallback(tmp_path):
    """Without `keep` (and never fewer): the checkpoint in use and the previous one."""
    for keep in (None, 1):
        run = _run_with(tmp_path / str(keep), ["best", "epoch-0001", "epoch-0002",
                                               "epoch-0003"])
        prune_checkpoints(run, "epoch-0003", "epoch-0002", keep=keep)
        assert _left(run) == ["best", "epoch-0002", "epoch-0003"]


def test_interrupted_is_newer_and_uncommitted_newer_ones_go(tmp_path):
    """An `-interrupted` checkpoint follows the complete epoch of its number; a directory
    newer than the one `state.json` now names was never committed and is removed."""
    run = _run_with(tmp_path, ["epoch-0002", "epoch-0003", "epoch-0003-interrupted",
                               "epoch-0004", "epoch-0009"])
    prune_checkpoints(run, "epoch-0004", "epoch-0003-interrupted", keep=3)
    assert _left(run) == ["epoch-0003", "epoch-0003-interrupted", "epoch-0004"]


def test_the_previous_checkpoint_stays_even_when_older(tmp_path):
    """After a fallback to an older checkpoint, the one `state.json` names as previous stays."""
    run = _run_with(tmp_path, ["epoch-0001", "epoch-0002", "epoch-0003"])
    prune_checkpoints(run, "epoch-0003", "epoch-0001", keep=2)
    assert _left(run) == ["epoch-0001", "epoch-0002", "epoch-0003"]


def test_a_run_keeps_what_the_spec_asks_and_resumes_from_it(tmp_path):
    from modelspec.training.run import train_spec
    train = ("  epochs: 4\n  seed: 1\n  loss: sparse_categorical_crossentropy\n"
             "  callbacks: {tensorboard: false, checkpoint: {keep: 3}}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(tiny_digits_spec("keep3", TINY_SPLITS, train))
    run = tmp_path / "run"
    train_spec(spec, output=run, verbose=0)
    assert _left(RunDir(run)) == ["best", "epoch-0002", "epoch-0003", "epoch-0004"]
    state = json.loads((run / "state.json").read_text())
    assert (state["checkpoint"], state["previous"]) == ("epoch-0004", "epoch-0003")
    train_spec(spec, output=run, verbose=0, epochs=5)
    assert _left(RunDir(run)) == ["best", "epoch-0003", "epoch-0004", "epoch-0005"]
    assert len(json.loads((run / "history.json").read_text())["loss"]) == 5


def test_keep_below_the_fallback_is_an_error(spec_problems):
    text = tiny_digits_spec("keep1", TINY_SPLITS, "  epochs: 1\n  loss: mse\n"
                            "  callbacks: {checkpoint: {keep: 1}}\n")
    problems = spec_problems(text)
    assert len(problems) == 1
    assert problems[0].endswith("train.callbacks.checkpoint.keep: 1 is out of range — "
                                "expected at least 2"), problems
