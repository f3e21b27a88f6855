"""Run directories: everything one training run leaves behind, in one place.

Layout of `runs/<name>/`:
```
spec.yaml            the spec as given          resolved.json   the resolved document
fingerprint          sha256 of the resolved document
state.json           completed epochs, checkpoint in use + checksums (the commit point)
history.json         metrics per epoch           metrics.json    final metrics
checkpoints/epoch-0007/<model>.weights.h5 (+ <model>.optimizer.npz, random.npz,
                     checkpoint.json)            the latest and the one before it
                     (or the newest `train.callbacks.checkpoint.keep`)
.lock                held by the `modelspec train` using the directory
checkpoints/best/<model>.weights.h5        final/<model>.weights.h5
logs/ (TensorBoard)  training.csv  curves.png  samples/ (GAN grids)
```
A checkpoint directory is complete before `state.json` names it, so a kill at any moment
leaves either the previous or the new checkpoint in use, never a half-written one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelspec.errors import UsageError
from modelspec.fileio import atomic_write_text, replace_dir, restore_dir

STATE = "state.json"


def atomic_write_json(path: Path, data: Any) -> None:
    """Writes JSON atomically (sorted keys, indented)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_plain) + "\n")


def _plain(value: Any) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def read_json(path: Path, default: Any = None) -> Any:
    """Reads a JSON file, or returns `default` when it does not exist."""
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


class RunDir:
    """Paths and atomic state of one run directory.

    Args:
        root: The directory (created on first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def state(self) -> dict | None:
        """The run's state (`epoch` completed, `checkpoint`, `fingerprint`, ...) or None."""
        return read_json(self.root / STATE)

    def write_state(self, state: dict) -> None:
        atomic_write_json(self.root / STATE, state)

    def new_checkpoint_dir(self, name: str) -> Path:
        """A fresh temporary directory to fill; `commit_checkpoint` renames it into place."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=self.checkpoints, prefix=f".{name}-", suffix=".tmp"))

    def commit_checkpoint(self, tmp: Path, name: str) -> Path:
        """Renames a filled temporary directory to `checkpoints/<name>` (replacing it)."""
        return replace_dir(tmp, self.checkpoints / name)

    def recover(self) -> None:
        """Puts back `best/` or `final/` if a kill cut their replacement (`replace_dir`)."""
        restore_dir(self.checkpoints / "best")
        restore_dir(self.root / "final")

    def prune(self, keep: set[str]) -> None:
        """Removes checkpoint directories (and leftovers of killed writes) not in `keep`."""
        if not self.checkpoints.exists():
            return
        for child in self.checkpoints.iterdir():
            if child.name not in keep and child.name != "best":
                shutil.rmtree(child, ignore_errors=True)

    def history(self) -> dict:
        return read_json(self.root / "history.json", {}) or {}

    def clear(self) -> None:
        """Removes everything a previous run left (for `--restart`), keeping the directory."""
        if not self.root.exists():
            return
        for child in self.root.iterdir():
            if child.name == ".lock":  # held by this process (`modelspec.training.lock`)
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()


def save_models(directory: Path, models: dict, optimizers: dict | None = None) -> None:
    """Saves each model's weights (and each optimizer's variables) into `directory`."""
    import numpy as np
    for name, model in models.items():
        model.save_weights(str(Path(directory) / f"{name}.weights.h5"))
    for name, opt in (optimizers or {}).items():
        arrays = {f"v{i:04d}": v.numpy() for i, v in enumerate(opt.variables)}
        with open(Path(directory) / f"{name}.optimizer.npz", "wb") as fh:
            np.savez(fh, **arrays)


def load_models(directory: Path, models: dict, optimizers: dict | None = None) -> None:
    """Loads weights (and optimizer variables, when saved) written by `save_models`."""
    import numpy as np
    for name, model in models.items():
        model.load_weights(str(Path(directory) / f"{name}.weights.h5"))
    for name, opt in (optimizers or {}).items():
        path = Path(directory) / f"{name}.optimizer.npz"
        if not path.exists():
            continue
        with np.load(path, allow_pickle=False) as data:
            values = [data[k] for k in sorted(data.files)]
        if len(values) != len(opt.variables):
            raise UsageError(f"checkpoint {path} holds {len(values)} optimizer variables, "
                             f"the optimizer has {len(opt.variables)}")
        for var, value in zip(opt.variables, values):
            var.assign(value)


def find_run_dir(path: str | Path) -> Path | None:
    """Returns `path` when it is a run directory (has `state.json`), else None."""
    path = Path(path)
    return path if path.is_dir() and (path / STATE).exists() else None
