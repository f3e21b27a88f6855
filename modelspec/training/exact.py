"""Exact resume: the random state a seeded run carries from one epoch to the next.

Keras keeps the state of every random layer (Dropout, GaussianNoise, the augmentation
layers of `data.augment`, ...) in a `SeedGenerator` variable that `save_weights` does not
write (`Layer.variables` has it, `Layer.weights` does not). Those states are saved with each
checkpoint (`random.npz`) and put back on resume; the data order of each epoch is a function
of the epoch (`modelspec.data.epoch_order`), set here at the start of every epoch. Together
with the weights and the optimizer's variables, a seeded run killed at any moment and resumed
ends bit-identical to the uninterrupted run. The counters of EarlyStopping and
ReduceLROnPlateau go into the run state, and the best weights an EarlyStopping with
`restore_best_weights` keeps in memory into the checkpoint (`early_stopping.best_weights.npz`,
checksummed with the other files), so that the resumed run restores the best epoch of the
whole run. A signal inside an epoch: `modelspec.training.midepoch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

RANDOM_FILE = "random.npz"


def random_variables(models: dict, layers: list | None = None) -> list:
    """The variables of `models` (and of extra `layers`) that are not weights: the states of
    their seed generators, in a stable order."""
    out, seen = [], set()
    for owner in list(models.values()) + list(layers or []):
        weights = {id(v) for v in owner.weights}
        for variable in owner.variables:
            if id(variable) not in weights and id(variable) not in seen:
                seen.add(id(variable))
                out.append(variable)
    return out


def save_random_state(directory: Path, variables: list,
                      values: list[np.ndarray] | None = None) -> None:
    """Writes the values of `variables` (or the given `values`, one per variable) to
    `directory/random.npz` (nothing when empty)."""
    if not variables:
        return
    if values is None:
        values = [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in variables]
    arrays = {f"v{i:04d}": value for i, value in enumerate(values)}
    with open(Path(directory) / RANDOM_FILE, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds arrays


def load_random_state(directory: Path, variables: list) -> None:
    """Assigns the values saved by `save_random_state` (a checkpoint without them — written
    before they were saved — leaves the variables as they are)."""
    path = Path(directory) / RANDOM_FILE
    if not variables or not path.exists():
        return
    with np.load(path, allow_pickle=False) as data:
        values = [data[k] for k in sorted(data.files)]
    if len(values) != len(variables):
        return  # another model layout: the fingerprint check makes this unreachable in practice
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


# the counters of Keras's stateful callbacks (their `on_train_begin` resets them)
CALLBACK_STATE = {"EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
                  "ReduceLROnPlateau": ("wait", "best", "cooldown_counter")}
# EarlyStopping(restore_best_weights=True)'s best weights, saved with each checkpoint
BEST_WEIGHTS_FILE = "early_stopping.best_weights.npz"


def _keeps_best_weights(callback: keras.callbacks.Callback) -> bool:
    return (type(callback).__name__ == "EarlyStopping"
            and bool(getattr(callback, "restore_best_weights", False))
            and getattr(callback, "best_weights", None) is not None)


def callback_state(callbacks: list) -> dict:
    """`{class name: {counter: value}}` of the stateful Keras callbacks in `callbacks`; an
    EarlyStopping that restores its best weights also names the file
    `save_callback_files` writes them to (`best_weights`)."""
    out = {}
    for callback in callbacks:
        names = CALLBACK_STATE.get(type(callback).__name__)
        if names:
            out[type(callback).__name__] = {n: _plain(getattr(callback, n, None))
                                            for n in names}
            if _keeps_best_weights(callback):
                out[type(callback).__name__]["best_weights"] = BEST_WEIGHTS_FILE
    return out


def save_callback_files(directory: Path, callbacks: list) -> None:
    """Writes the best weights an EarlyStopping keeps in memory (`restore_best_weights`) into
    a checkpoint directory, so that a resumed run restores the best epoch of the whole run,
    not of its own part (the manifest's checksums cover the file)."""
    for callback in callbacks:
        if _keeps_best_weights(callback):
            arrays = {f"v{i:04d}": np.asarray(w) for i, w in enumerate(callback.best_weights)}
            with open(Path(directory) / BEST_WEIGHTS_FILE, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub


def _load_best_weights(path: Path, callback: keras.callbacks.Callback) -> None:
    """Sets an EarlyStopping's `best_weights` from the file `save_callback_files` wrote."""
    if not path.is_file():
        return
    with np.load(path, allow_pickle=False) as data:
        weights = [data[k] for k in sorted(data.files)]
    if callback.model is None or len(weights) == len(callback.model.weights):
        callback.best_weights = weights


def _plain(value: Any) -> Any:
    return None if value is None else (float(value) if not isinstance(value, int) else value)


class RestoreCallbackState(keras.callbacks.Callback):
    """Puts back the counters `callback_state` saved (and EarlyStopping's best weights),
    after the callbacks' own `on_train_begin` reset them (place it after them in the
    callback list).

    Args:
        callbacks: The run's callbacks.
        saved: What `callback_state` returned when the checkpoint was written.
        directory: The checkpoint directory resumed from (holds the best weights file).
    """

    def __init__(self, callbacks: list[Any], saved: dict[str, Any] | None,
                 directory: Path | None = None) -> None:
        super().__init__()
        self.callbacks, self.saved = callbacks, saved or {}
        self.directory = Path(directory) if directory is not None else None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for callback in self.callbacks:
            for name, value in self.saved.get(type(callback).__name__, {}).items():
                if name == "best_weights":
                    if self.directory is not None and callback.restore_best_weights:
                        _load_best_weights(self.directory / str(value), callback)
                else:
                    setattr(callback, name, value)


class EpochOrder(keras.callbacks.Callback):
    """Sets the data pipeline's epoch variable before each epoch's pass starts.

    Args:
        epoch: The `tf.Variable` of `DataBundle.epoch` (None: nothing to do).
    """

    def __init__(self, epoch: Any) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epoch is not None:
            self.epoch.assign(epoch)
