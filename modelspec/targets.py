"""A spec file or a training run directory → its checked spec and its Keras models.

`modelspec export`, `predict`, `evaluate`, `attack`, `dream` and `style` all take "a spec or a
run": a spec is built with its initial weights, a run directory (one with `state.json`,
written by `modelspec train`) is rebuilt from its spec and loaded with its saved weights
(`modelspec.training.checkpoints.load_run`). This module is the one place that tells the two
apart. TensorFlow is imported only when models are built.

Example:
>>> target = open_target("runs/lenet5")
>>> target.trained, list(target.models)
(True, ['model'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelspec.errors import UsageError
from modelspec.lang.spec import CheckedSpec
from modelspec.training import checkpoints, rundir


@dataclass
class Target:
    """What a spec file or a run directory opens to.

    Args:
        spec: The checked spec (a run's own copy for a run directory).
        models: Model name → `keras.Model` (`"model"` for a `model:` spec).
        run_dir: The run directory, None for a spec file (then the weights are initial).
        metrics: A run's final metrics (`metrics.json`); empty for a spec file or an
            unfinished run.
    """

    spec: CheckedSpec
    models: dict[str, Any]
    run_dir: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """Whether the models hold trained weights (they come from a run)."""
        return self.run_dir is not None


def open_target(path: str | Path, *, which: str = "final",
                params: dict[str, Any] | None = None, allow_spec: bool = True) -> Target:
    """Opens a run directory (its models with saved weights) or builds a spec file.

    Args:
        path: A run directory written by `modelspec train`, or a spec file.
        which: For a run: which weights, "final", "best" or "latest" (see `load_run`).
        params: For a spec file: parameter overrides (a run keeps its own).
        allow_spec: False when only a run will do (`modelspec evaluate`): then anything but
            a run directory is reported as not being one.

    Raises:
        UsageError: `path` is neither; or the run holds no weights.
        SpecError: The spec is invalid (also a Keras error while building it).
    """
    path = Path(path)
    if rundir.find_run_dir(path) is not None or not allow_spec:
        spec, models, metrics = checkpoints.load_run(path, which=which)
        return Target(spec, models, path, metrics or {})
    if path.is_file():
        from modelspec.build.compiler import build_models
        from modelspec.lang.checks import load_and_check
        checked = load_and_check(path, overrides=params or None)
        return Target(checked, build_models(checked))
    if path.is_dir():
        raise UsageError(f"{path}: not a run directory (no state.json) — expected a run "
                         "directory written by `modelspec train` or a spec file")
    raise UsageError(f"{path}: no such spec file or run directory")
