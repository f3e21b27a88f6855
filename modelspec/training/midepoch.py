"""Resuming inside an epoch: a SIGTERM / Ctrl-C checkpoint continues at the step it stopped.

A signal stops training after the current step (`callbacks.SignalStop`); the `-interrupted`
checkpoint then records the step within the epoch, and holds, besides the weights and the
optimizer's variables (whose `iterations` carries learning-rate schedules on):

- the states of the model's seed generators (Dropout, GaussianNoise, ...) as they were at
  that step, and those of the data pipeline's augmentation layers as they were when the
  epoch began — the resumed epoch passes its first batches through the pipeline again;
- the model's metric variables (`metrics.npz`: the loss tracker's and each compiled
  metric's totals), so the epoch's logged loss and metrics average over the whole epoch.

On resume `ResumeMidEpoch` puts the metric state back when the epoch begins (after Keras's
`reset_metrics`) and wraps `model.train_function` for the epoch's first steps: each of those
calls takes its batch from Keras's iterator and discards it without a training step — the
data order of an epoch is a function of `(data.seed, epoch)` (`modelspec.data.epoch_order`),
so the batches that follow are those the uninterrupted run trained on next — then puts the
original function back. Keras keeps counting the epoch's steps as usual (progress bar,
`steps` of callbacks), so nothing else needs to know. The resumed run ends bit-identical to
the uninterrupted one (`tests/test_training_midepoch.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

METRICS_FILE = "metrics.npz"


def metric_values(model: Any) -> list[np.ndarray]:
    """The values of `model.metrics_variables` now (take them when the signal stops the
    epoch: the validation that Keras runs after it resets the metrics)."""
    return [np.asarray(keras.ops.convert_to_numpy(v.value))
            for v in list(getattr(model, "metrics_variables", None) or [])]


def save_metric_state(directory: Path, values: list[np.ndarray]) -> None:
    """Writes metric values (`metric_values`) to `directory/metrics.npz`."""
    if not values:
        return
    arrays = {f"v{i:04d}": value for i, value in enumerate(values)}
    with open(Path(directory) / METRICS_FILE, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds arrays


def load_metric_state(directory: Path, model: Any) -> bool:
    """Assigns the metric values `save_metric_state` wrote; False when there are none (or
    the model's metrics differ in number, which a changed spec would cause)."""
    path = Path(directory) / METRICS_FILE
    variables = list(getattr(model, "metrics_variables", None) or [])
    if not variables or not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as data:
        values = [data[k] for k in sorted(data.files)]
    if len(values) != len(variables):
        return False
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return True


class EpochStartRandomState:
    """The values of the data pipeline's random variables when the current epoch began.

    Args:
        variables: The seed-generator variables of the augmentation layers
            (`exact.random_variables({}, bundle.random_layers)`).
    """

    def __init__(self, variables: list[Any]) -> None:
        self.variables = list(variables)
        self.values: dict[int, np.ndarray] = {}

    def take(self) -> None:
        """Remembers the variables' current values (call when an epoch begins)."""
        self.values = {id(v): np.asarray(keras.ops.convert_to_numpy(v.value))
                       for v in self.variables}

    def at_epoch_start(self, variables: list[Any]) -> list[np.ndarray]:
        """The values to save for `variables`: the epoch-start value of the data
        pipeline's variables, the current value of every other (the model's)."""
        return [self.values[id(v)] if id(v) in self.values
                else np.asarray(keras.ops.convert_to_numpy(v.value)) for v in variables]


def interrupted_step(state: dict[str, Any] | None) -> tuple[int, int] | None:
    """(0-based epoch, steps done in it) of an interrupted checkpoint's state, else None
    (also for checkpoints written before the step was recorded)."""
    interrupted = (state or {}).get("interrupted")
    if not isinstance(interrupted, dict):
        return None
    epoch, step = interrupted.get("epoch"), interrupted.get("step")
    if not isinstance(epoch, int) or not isinstance(step, int) or step <= 0:
        return None
    return epoch - 1, step


class ResumeMidEpoch(keras.callbacks.Callback):
    """Continues an interrupted epoch at the step it stopped (see the module docstring).

    Args:
        epoch: The 0-based epoch that was interrupted.
        steps: How many of its steps were done.
        checkpoint: The interrupted checkpoint's directory (its `metrics.npz`).
    """

    def __init__(self, epoch: int, steps: int, checkpoint: Path) -> None:
        super().__init__()
        self.epoch, self.steps, self.checkpoint = epoch, steps, Path(checkpoint)
        self.skipped = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch != self.epoch or self.model is None:
            return
        self.model.train_function = self._skipping(self.model.train_function)

    def _skipping(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        model = self.model

        def train_function(iterator: Any) -> Any:
            if self.skipped >= self.steps:
                model.train_function = original
                return original(iterator)
            group = min(int(getattr(model, "steps_per_execution", 1) or 1),
                        self.steps - self.skipped)
            for _ in range(group):  # the batches trained on before the interruption
                batch = iterator.get_next()
                if self.skipped == 0:
                    _restore_metrics(model, batch, self.checkpoint)
                self.skipped += 1
            if self.skipped >= self.steps:
                model.train_function = original
            return model.get_metrics_result()
        return train_function


def _restore_metrics(model: Any, batch: Any, checkpoint: Path) -> None:
    """Puts the interrupted epoch's metric state back. Keras creates the compiled metrics'
    variables when it first traces a training step (without a distribution strategy,
    `backend/tensorflow/trainer.py: _maybe_symbolic_build`); the same symbolic build as
    `fit` does with one (`Trainer._symbolic_build`: shapes only, no computation, no random
    draw) creates them from the batch first."""
    build = getattr(model, "_symbolic_build", None)
    if build is not None:
        build(data_batch=batch)
    load_metric_state(checkpoint, model)


def resume_callbacks(state: dict[str, Any] | None, checkpoint: Path | None) -> list[Any]:
    """`[ResumeMidEpoch]` when resuming from a checkpoint a signal cut inside an epoch."""
    where = interrupted_step(state)
    if where is None or checkpoint is None:
        return []
    return [ResumeMidEpoch(where[0], where[1], checkpoint)]
