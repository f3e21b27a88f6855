"""Exact resume and run-directory integrity (issue 15, findings 4, 5, 6, 7, 9, 10).

A small seeded digits spec with Dropout, GaussianNoise and a shuffled training split: a run
resumed after stopping (or after kill -9 at a random moment, the first checkpoint included)
ends with weights bit-identical to the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from digits_data import digits_data

REPO = Path(__file__).resolve().parents[1]
SPEC = """\
modelspec: 1
name: exact_digits
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {type: GaussianNoise, stddev: 0.05}
    - {type: Dense, units: 24, activation: relu}
    - {type: Dropout, rate: 0.3}
    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:50%]", validation: "all[50%:60%]", test: "all[60%:70%]"}') + """\
  shuffle: 256
train:
  epochs: EPOCHS
  seed: 7
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {tensorboard: false}
"""


def _spec(tmp_path: Path, epochs: int) -> Path:
    path = tmp_path / f"exact{epochs}.yaml"
    path.write_text(SPEC.replace("EPOCHS", str(epochs)))
    return path


def _train(*args) -> object:
    from modelspec.training.cli import train_command
    return CliRunner().invoke(train_command, [str(a) for a in args] + ["--quiet"])


def _final(run: Path) -> list[np.ndarray]:
    import h5py
    out = []
    with h5py.File(run / "final" / "model.weights.h5", "r") as handle:
        handle.visititems(lambda name, obj: out.append(obj[()])
                          if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[np.ndarray]:
    tmp = tmp_path_factory.mktemp("exact")
    result = _train(_spec(tmp, 4), "--output", tmp / "run")
    assert result.exit_code == 0, result.output
    return _final(tmp / "run")


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_resume_with_more_epochs_is_bit_identical(tmp_path, uninterrupted):
    """Finding 5: 2 epochs, then resumed to 4, equals 4 epochs in one go."""
    run = tmp_path / "run"
    assert _train(_spec(tmp_path, 2), "--output", run).exit_code == 0
    result = _train(_spec(tmp_path, 2), "--output", run, "--epochs", 4)
    assert result.exit_code == 0, result.output
    assert _same(_final(run), uninterrupted)
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 4
    rows = (run / "training.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]


def test_rerunning_a_finished_run_keeps_its_metrics(tmp_path):
    """Finding 7: a second `train` on a finished run kept only the test metrics."""
    run = tmp_path / "run"
    assert _train(_spec(tmp_path, 1), "--output", run).exit_code == 0
    before = json.loads((run / "metrics.json").read_text())
    assert "loss" in before and "test_accuracy" in before
    assert _train(_spec(tmp_path, 1), "--output", run).exit_code == 0
    assert json.loads((run / "metrics.json").read_text()) == before


def _kill_and_resume(tmp_path: Path, spec: Path, run: Path, delay: float) -> int:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "modelspec", "train", str(spec), "--output", str(run),
               "--quiet"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoints").exists() and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.returncode


@pytest.mark.parametrize("delay", [0.0, None])
def test_kill9_at_a_random_moment_then_resume_is_bit_identical(tmp_path, uninterrupted, delay):
    """Findings 4, 5, 6: a kill -9 from the first checkpoint's write on, then a resume."""
    delay = random.Random(os.getpid()).uniform(0.0, 1.5) if delay is None else delay
    run = tmp_path / "run"
    _kill_and_resume(tmp_path, _spec(tmp_path, 4), run, delay)
    assert _same(_final(run), uninterrupted), f"differs after a kill at +{delay:.2f}s"
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 4
    rows = (run / "training.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_a_second_process_on_the_run_directory_is_refused(tmp_path):
    """Finding 9: two `train` processes on one directory."""
    from modelspec.errors import StateConflictError
    from modelspec.training.lock import run_lock
    run = tmp_path / "run"
    code = ("import sys, time\nfrom modelspec.training.lock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(30)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateConflictError) as err:
            with run_lock(run):
                pass
        assert err.value.exit_code == 4
        assert f"in use by another modelspec process (pid {holder.pid})" in str(err.value)
        result = _train(_spec(tmp_path, 1), "--output", run)
        assert result.exit_code == 4 and "in use by another modelspec process" in result.output
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run):  # released by the kernel when its holder died
        pass


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory) -> Path:
    """A finished 3-epoch run, copied by each test that damages it."""
    tmp = tmp_path_factory.mktemp("three")
    assert _train(_spec(tmp, 3), "--output", tmp / "run").exit_code == 0
    return tmp / "run"


@pytest.mark.parametrize("damage", ["truncate_weights", "empty_weights", "truncate_optimizer",
                                    "cut_state", "delete_epoch"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted,
                                                                    three_epochs, damage):
    """Finding 10: damage is detected by checksums; the previous checkpoint is used."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(three_epochs, run)
    state = json.loads((run / "state.json").read_text())
    newest = run / "checkpoints" / state["checkpoint"]
    assert state["previous"] == "epoch-0002" and (run / "checkpoints/epoch-0002").is_dir()
    weights = newest / "model.weights.h5"
    if damage == "truncate_weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "empty_weights":
        weights.write_bytes(b"")
    elif damage == "truncate_optimizer":
        path = newest / "model.optimizer.npz"
        path.write_bytes(path.read_bytes()[:-50])
    elif damage == "cut_state":
        text = (run / "state.json").read_text()
        (run / "state.json").write_text(text[:len(text) // 2])
    else:
        shutil.rmtree(newest)
    result = _train(_spec(tmp_path, 3), "--output", run, "--epochs", 4)
    assert result.exit_code == 0, result.output
    assert "resuming from the previous intact checkpoint" in result.output
    if damage != "cut_state":
        assert str(newest) in result.output
    assert _same(_final(run), uninterrupted)
    assert len(json.loads((run / "history.json").read_text())["loss"]) == 4


def test_no_intact_checkpoint_is_a_clean_error_naming_the_file(tmp_path):
    run = tmp_path / "run"
    assert _train(_spec(tmp_path, 2), "--output", run).exit_code == 0
    for ckpt in (run / "checkpoints").glob("epoch-*"):
        (ckpt / "model.weights.h5").write_bytes(b"")
    result = _train(_spec(tmp_path, 2), "--output", run, "--epochs", 3)
    assert result.exit_code == 4, result.output
    assert "epoch-0002/model.weights.h5 does not match its checksum" in result.output
    assert "--restart" in result.output and "Traceback" not in result.output


def test_a_kill_before_the_first_state_leaves_a_resumable_directory(tmp_path):
    """Finding 4: after `history.json` (or temp files) but before `state.json`."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("spec.yaml", "fingerprint", "history.json", ".history.json.x1y2.tmp"):
        (run / name).write_text("{}")
    (run / "checkpoints" / ".epoch-0001-abc.tmp").mkdir(parents=True)
    result = _train(_spec(tmp_path, 1), "--output", run)
    assert result.exit_code == 0, result.output
    assert not (run / ".history.json.x1y2.tmp").exists()
    assert not list((run / "checkpoints").glob(".*.tmp"))
    assert oct((run / "state.json").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_load_run_survives_a_cut_state_file(tmp_path):
    from modelspec.training.checkpoints import load_run
    run = tmp_path / "run"
    assert _train(_spec(tmp_path, 2), "--output", run).exit_code == 0
    text = (run / "state.json").read_text()
    (run / "state.json").write_text(text[:len(text) // 3])
    spec, models, metrics = load_run(run, "latest")
    assert spec.name == "exact_digits" and "test_accuracy" in metrics


BEST = "  callbacks: {tensorboard: false}\n"
# mode max on val_loss: the best epoch is an early one, so the later epochs of a resumed run
# never beat it and only the carried best weights can give the uninterrupted run's result
EARLY = ("  callbacks:\n    tensorboard: false\n    early_stopping: {monitor: val_loss, mode: max, "
         "patience: 10, restore_best_weights: true}\n")


def test_restore_best_weights_is_carried_across_a_resume(tmp_path):
    """EarlyStopping(restore_best_weights=True): its best weights are saved with each
    checkpoint, so a run resumed after epoch 2 ends with the best epoch of all four."""
    def spec(folder: Path, epochs: int) -> Path:
        folder.mkdir()
        path = _spec(folder, epochs)
        path.write_text(path.read_text().replace(BEST, EARLY))
        return path

    whole = tmp_path / "whole"
    assert _train(spec(tmp_path / "a", 4), "--output", whole).exit_code == 0
    history = json.loads((whole / "history.json").read_text())
    best = int(np.argmax(history["val_loss"]))
    assert best < 2, history["val_loss"]  # the test's premise
    state = json.loads((whole / "state.json").read_text())
    assert state["callbacks"]["EarlyStopping"]["best_weights"] == \
        "early_stopping.best_weights.npz"
    ckpt = whole / "checkpoints" / state["checkpoint"]
    assert "early_stopping.best_weights.npz" in json.loads(
        (ckpt / "checkpoint.json").read_text())["files"]  # checksummed with the rest
    run = tmp_path / "run"
    assert _train(spec(tmp_path / "b", 2), "--output", run).exit_code == 0
    result = _train(spec(tmp_path / "c", 2), "--output", run, "--epochs", 4)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "history.json").read_text()) == history
    assert _same(_final(run), _final(whole))
