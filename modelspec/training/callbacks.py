"""Callbacks of the built-in loops: checkpoints, divergence, signals, and those of the spec.

`EpochCheckpoint` writes one complete checkpoint per epoch (weights and optimizer state,
atomically) and the metrics history; `DivergenceGuard` stops at the first NaN/inf loss with
`DivergedError` (instead of Keras's `TerminateOnNaN`, which stops "gracefully" and lets
`BackupAndRestore` delete its backup); `SignalStop` turns SIGTERM / Ctrl-C into a clean stop
after the current step. The custom loops call the same objects through `keras.callbacks`
hooks, so every loop writes the same run directory.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Collection, Mapping
from typing import Any, Protocol

import keras

from modelspec.errors import DivergedError, ModelspecError
from modelspec.training.checkpoints import prune_checkpoints, write_manifest
from modelspec.training.config import CallbacksConfig
from modelspec.training.exact import callback_state, save_callback_files, save_random_state
from modelspec.training.midepoch import EpochStartRandomState, metric_values, save_metric_state
from modelspec.training.rundir import RunDir, atomic_write_json, save_models

Logs = Mapping[str, Any] | None  # what Keras passes a callback hook


class Interrupted(ModelspecError):
    """Training was stopped by a signal after writing a checkpoint; exit 128 + signal."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class DivergenceGuard(keras.callbacks.Callback):
    """Raises `DivergedError` naming the epoch and step of the first non-finite loss.

    Args:
        run: The run directory (named in the message, with the last good epoch).
        keys: Log entries to watch (every entry ending in `loss` when None).
    """

    def __init__(self, run: RunDir, keys: Collection[str] | None = None) -> None:
        super().__init__()
        self.run, self.keys, self.epoch, self.first_step = run, keys, 0, 0

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self.first_step = batch

    def check(self, logs: Logs, step: int, first_step: int | None = None) -> None:
        """Raises `DivergedError` when a watched entry of `logs` is not finite.

        With `steps_per_execution` > 1, Keras reports once per group of steps: the message
        then names the group (`steps 9–16`), the finest position known.
        """
        first = step if first_step is None else first_step
        where = f"step {step + 1}" if first >= step else f"steps {first + 1}–{step + 1}"
        for key, value in (logs or {}).items():
            watched = key in self.keys if self.keys else key.endswith("loss")
            if watched and not _finite(value):
                state = self.run.state() or {}
                kept = (f"the last good checkpoint (epoch {state['epoch']}) is kept in "
                        f"{self.run.root}" if state.get("checkpoint") else
                        "no epoch completed, so there is no checkpoint")
                raise DivergedError(
                    f"training diverged: {key} is {float(value)} at epoch {self.epoch + 1}, "
                    f"{where}; {kept}. Lower the learning rate, add gradient "
                    "clipping (clipnorm) or check the data for NaN values")

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        steps = (self.params or {}).get("steps")
        if steps:  # Keras numbers a shorter last group as if it were full
            batch = min(batch, steps - 1)
        self.check(logs, batch, self.first_step)



class Stopper(Protocol):
    """What `EpochCheckpoint` reads of a stop: `SignalStop`, or the multi-worker loop's
    `ClusterStop` (the stop the whole cluster agreed on)."""

    @property
    def stopped(self) -> bool:
        """True once training is to stop after the current step."""
        ...


class SignalStop(keras.callbacks.Callback):
    """Stops training cleanly after the current step on SIGTERM or SIGINT (Ctrl-C).

    Use as a context manager around training: the handlers are restored on exit.
    """

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> SignalStop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # a second signal: give up at once
            raise KeyboardInterrupt
        self.signum = signum

    @property
    def stopped(self) -> bool:
        return self.signum is not None

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        if self.stopped and self.model is not None:
            self.model.stop_training = True


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes a complete checkpoint, the history and the run state after every epoch.

    Args:
        run: The run directory.
        models: Model name → model to save.
        optimizers: Optimizer name → optimizer whose variables are saved.
        base_state: Fixed entries of `state.json` (fingerprint, spec name, ...).
        monitor: The log entry that decides the `best` checkpoint.
        mode: "min", "max" or "auto" (max for accuracy-like names).
        stopper: A `Stopper` (`SignalStop`); an epoch cut short by it is not counted as completed:
            its `-interrupted` checkpoint records the steps done, and the resumed run
            continues at the next one (`modelspec.training.midepoch`). A signal that
            arrives during the epoch's last step (or last group of steps, with
            `steps_per_execution` > 1) stops training after a complete epoch, which is
            then saved as one.
        random_state: Variables saved with each checkpoint besides weights and optimizer
            variables (the seed generators' states, `modelspec.training.exact`).
        carried: Callbacks whose counters are saved with each checkpoint (EarlyStopping,
            ReduceLROnPlateau): put this callback after them, so that it saves their state
            after the epoch.
        data_random: The variables among `random_state` that belong to the data pipeline
            (augmentation layers): an interrupted checkpoint saves their values of the
            epoch's start, since the resumed epoch passes its first batches again.
        keep: How many epoch checkpoints are kept (`train.callbacks.checkpoint.keep`;
            None: 2, the least, `modelspec.training.checkpoints.prune_checkpoints`).

    The checkpoint directory (weights, optimizer, random state, `checkpoint.json` with the
    history and checksums) is complete before `state.json` names it; writing `state.json` is
    the epoch's one commit point (`modelspec.training.checkpoints`). The previous epoch's
    checkpoint is always kept, as the fallback when the newest one is found damaged.
    """

    def __init__(self, run: RunDir, models: dict[str, Any], optimizers: dict[str, Any],
                 base_state: dict[str, Any], monitor: str = "val_loss", mode: str = "auto",
                 stopper: Stopper | None = None, random_state: list[Any] | None = None,
                 carried: list[Any] | None = None, data_random: list[Any] | None = None,
                 keep: int | None = None) -> None:
        super().__init__()
        self.epoch_start = EpochStartRandomState(data_random or [])
        self.keep = keep
        self.run, self.models, self.optimizers = run, models, optimizers
        self.random_state = list(random_state or [])
        self.carried = list(carried or [])
        self.base_state, self.monitor, self.stopper = dict(base_state), monitor, stopper
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall",
                                                        "f1", "iou")) else "min"
        self.mode = mode
        state = run.state() or {}
        self.best = state.get("best")
        self.history = run.history()
        self.last_step = -1
        self.stop_metrics: list = []

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self.last_step = -1
        self.epoch_start.take()

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        self.last_step = batch
        if self.model is not None and self.model.stop_training:  # Keras stops after this step
            self.stop_metrics = metric_values(self.model)

    def epoch_completed(self) -> bool:
        """False for an epoch a signal cut short (it is not counted and runs again)."""
        return not (self.stopper is not None and self.stopper.stopped
                    and not self._epoch_complete())

    def _epoch_complete(self) -> bool:
        """True when every step of the epoch ran (unknown when Keras does not know the count)."""
        steps = (self.params or {}).get("steps")
        return steps is not None and self.last_step + 1 >= steps

    def _improved(self, value: Any) -> bool:
        if value is None or not _finite(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def save(self, completed_epochs: int, logs: dict[str, Any] | None,
             interrupted: dict[str, Any] | None = None) -> None:
        """Saves a checkpoint for `completed_epochs` and, with `logs`, appends history."""
        if logs is not None:
            for key, value in logs.items():
                self.history.setdefault(key, []).append(float(value))
        previous = (self.run.state() or {}).get("checkpoint")
        name = f"epoch-{completed_epochs:04d}" + ("-interrupted" if interrupted else "")
        value = (logs or {}).get(self.monitor)
        if logs is not None and value is not None and self._improved(value):
            self.best = float(value)
            tmp = self.run.new_checkpoint_dir("best")
            save_models(tmp, self.models)
            self.run.commit_checkpoint(tmp, "best")
        state = dict(self.base_state, epoch=completed_epochs, checkpoint=name,
                     best=self.best, monitor=self.monitor,
                     interrupted=interrupted, finished=False,
                     callbacks=callback_state(self.carried))
        tmp = self.run.new_checkpoint_dir(name)
        save_models(tmp, self.models, self.optimizers)
        if interrupted:  # resumed at the next step (modelspec.training.midepoch)
            save_random_state(tmp, self.random_state,
                              self.epoch_start.at_epoch_start(self.random_state))
            save_metric_state(tmp, self.stop_metrics)
        else:
            save_random_state(tmp, self.random_state)
        save_callback_files(tmp, self.carried)
        files = write_manifest(tmp, state, self.history)
        self.run.commit_checkpoint(tmp, name)
        self.run.write_state(dict(state, files=files, previous=previous))  # the commit point
        atomic_write_json(self.run.path("history.json"), self.history)
        prune_checkpoints(self.run, name, previous, self.keep)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if not self.epoch_completed():
            import sys
            print(f"epoch {epoch + 1} was interrupted after {self.last_step + 1} step(s) "
                  "(the supervised loop continues there on resume; the others run the epoch "
                  "again)", file=sys.stderr)
            self.save(epoch, None, interrupted={"epoch": epoch + 1, "step": self.last_step + 1})
            return
        self.save(epoch + 1, dict(logs or {}))


def spec_callbacks(run: RunDir, config: CallbacksConfig | Mapping[str, Any],
                   has_validation: bool, resumed: bool) -> list[keras.callbacks.Callback]:
    """Builds the Keras callbacks the spec asks for (`train.callbacks`).

    Args:
        run: The run directory (for TensorBoard logs and the CSV log).
        config: The spec's `train.callbacks` (a raw mapping is read through
            `CallbacksConfig.from_section`: the multi-worker loop passes one).
        has_validation: Whether a validation set exists (decides default monitors).
        resumed: Whether this run continues an earlier one (the CSV log is appended).

    Returns:
        A list of `keras.callbacks.Callback`; a `CompletedEpochsCSVLogger` among them reads
        `.checkpoint` (set it to the run's `EpochCheckpoint`).
    """
    if not isinstance(config, CallbacksConfig):
        config = CallbacksConfig.from_section(config)
    default_monitor = "val_loss" if has_validation else "loss"
    out: list[keras.callbacks.Callback] = []
    for args, make in ((config.early_stopping, keras.callbacks.EarlyStopping),
                       (config.reduce_lr_on_plateau, keras.callbacks.ReduceLROnPlateau)):
        if args is not None:
            out.append(make(**{"monitor": default_monitor, **args}))
    if config.tensorboard:
        tb_args = dict(config.tensorboard) if isinstance(config.tensorboard, Mapping) else {}
        tb_args.setdefault("profile_batch", 0)
        out.append(keras.callbacks.TensorBoard(log_dir=str(run.path("logs")), **tb_args))
    if config.csv_log:
        out.append(CompletedEpochsCSVLogger(str(run.path("training.csv")), append=resumed))
    from modelspec.lang import registry
    for name, component in registry.python_components("callbacks").items():
        value = config.plugins.get(name)
        if value:  # registered with modelspec.register_callback (a plugin)
            out.append(component.obj(**(value if isinstance(value, Mapping) else {})))
    return out


class CompletedEpochsCSVLogger(keras.callbacks.CSVLogger):
    """Keras's `CSVLogger` without the row of an epoch a signal cut short (it is not
    counted: it is completed on resume, and its row is written then)."""

    checkpoint: EpochCheckpoint | None = None

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if self.checkpoint is None or self.checkpoint.epoch_completed():
            super().on_epoch_end(epoch, logs)
