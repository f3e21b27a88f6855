"""SIGTERM / Ctrl-C inside an epoch, then resume: bit-identical to the uninterrupted run
(`modelspec.training.midepoch`), with the same history (the interrupted epoch's logged
loss averages over the whole epoch)."""

from __future__ import annotations

import json
import os
import random
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_training_exact import _final, _same, _spec, _train

STEPS = 15  # ceil(898 training examples / 64) per epoch


def _spec_per_step(tmp_path: Path, per_call: int) -> Path:
    """The spec of test_training_exact with `per_call` steps per `train_function` call
    (Keras's steps_per_execution; modelspec's default is 8)."""
    spec = _spec(tmp_path, 4)
    text = spec.read_text().replace("  seed: 7\n",
                                    f"  seed: 7\n  steps_per_execution: {per_call}\n")
    spec.write_text(text)
    return spec


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory
              ) -> Callable[[int], tuple[list[np.ndarray], dict]]:
    """steps_per_execution → (final weights, history) of the uninterrupted run (cached)."""
    done: dict[int, tuple[list[np.ndarray], dict]] = {}

    def get(per_call: int) -> tuple[list[np.ndarray], dict]:
        if per_call not in done:
            tmp = tmp_path_factory.mktemp(f"midepoch{per_call}")
            result = _train(_spec_per_step(tmp, per_call), "--output", tmp / "run")
            assert result.exit_code == 0, result.output
            done[per_call] = (_final(tmp / "run"),
                              json.loads((tmp / "run" / "history.json").read_text()))
        return done[per_call]
    return get


def _sigterm_at(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    """Sends this process a real SIGTERM during the `call`-th call of the training function
    (1-based; a call runs steps_per_execution steps)."""
    from modelspec.training.callbacks import SignalStop
    original = SignalStop.on_train_batch_end
    seen = {"steps": 0}

    def on_train_batch_end(self: Any, batch: int, logs: dict | None = None) -> None:
        seen["steps"] += 1
        if seen["steps"] == call:
            os.kill(os.getpid(), signal.SIGTERM)
        original(self, batch, logs)

    monkeypatch.setattr(SignalStop, "on_train_batch_end", on_train_batch_end)


def _random_step() -> int:
    rng = random.Random(os.getpid())
    while True:
        step = rng.randint(1, 4 * STEPS - 1)
        if step % STEPS:  # inside an epoch, not its last step
            return step


@pytest.mark.parametrize(("per_call", "call", "step"), [
    (1, 5, 5),               # one step per call: the 5th step of epoch 1
    (1, None, None),         # a random step of any epoch (not an epoch's last)
    (8, 3, STEPS + 8)])      # 8 steps per call (the default): epoch 2 after its first 8
def test_sigterm_inside_an_epoch_then_resume_is_bit_identical(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        reference: Callable[[int], tuple[list[np.ndarray], dict]],
        per_call: int, call: int | None, step: int | None) -> None:
    weights, history = reference(per_call)
    if call is None:
        call = step = _random_step()
    run = tmp_path / "run"
    spec = _spec_per_step(tmp_path, per_call)
    with monkeypatch.context() as patch:
        _sigterm_at(patch, call)
        stopped = _train(spec, "--output", run)
    assert stopped.exit_code == 128 + signal.SIGTERM, stopped.output
    assert step is not None
    epoch, done = divmod(step, STEPS)
    assert f"epoch {epoch + 1} was interrupted after {done} step(s) (the supervised loop " \
           "continues there on resume" in stopped.output
    state = json.loads((run / "state.json").read_text())
    assert state["interrupted"] == {"epoch": epoch + 1, "step": done}
    assert state["epoch"] == epoch and state["checkpoint"].endswith("-interrupted")
    resumed = _train(spec, "--output", run)
    assert resumed.exit_code == 0, resumed.output
    assert _same(_final(run), weights), f"differs after a SIGTERM at step {step}"
    assert json.loads((run / "history.json").read_text()) == history
    rows = (run / "training.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]


def test_a_checkpoint_without_the_step_reruns_the_epoch(tmp_path: Path) -> None:
    """Interrupted checkpoints written before the step was recorded: the epoch runs again."""
    from modelspec.training.midepoch import interrupted_step, resume_callbacks
    assert interrupted_step({"interrupted": {"epoch": 3}}) is None
    assert interrupted_step({"interrupted": None}) is None
    assert interrupted_step({"interrupted": {"epoch": 3, "step": 7}}) == (2, 7)
    assert resume_callbacks({"interrupted": {"epoch": 3}}, tmp_path) == []
    [callback] = resume_callbacks({"interrupted": {"epoch": 1, "step": 4}}, tmp_path)
    assert (callback.epoch, callback.steps) == (0, 4)
