"""Evaluating a trained run: its spec's losses and metrics on one of its data splits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from modelspec.errors import UsageError
from modelspec.targets import open_target
from modelspec.training.config import TrainConfig
from modelspec.training.rundir import find_run_dir


def locate_run(spec_or_run: str | Path, run_dir: str | Path | None = None) -> Path:
    """Returns the run directory for a run directory or a spec path.

    Raises:
        UsageError: When no run directory exists for the spec.
    """
    path = Path(spec_or_run)
    found = find_run_dir(path)
    if found is not None:
        return found
    if path.is_dir():
        raise UsageError(f"{path}: not a run directory (no state.json); pass a run "
                         "directory written by `modelspec train` or a spec")
    from modelspec.lang.checks import load_and_check as load_spec
    from modelspec.training.run import default_run_dir
    spec = load_spec(path)
    candidate = Path(run_dir) if run_dir else default_run_dir(spec)
    if find_run_dir(candidate) is None:
        raise UsageError(f"{path}: no run found in {candidate}; train it first with "
                         f"`modelspec train {path}` or name the run with --run DIR")
    return candidate


def evaluate_run(run_dir: str | Path, split: str | None = None,
                 which: str = "final") -> dict[str, float]:
    """Evaluates the model of a run with its spec's losses and metrics.

    Args:
        run_dir: A run directory.
        split: "test", "validation" or "train"; by default test, else validation.
        which: Which weights: "final", "best" or "latest".

    Returns:
        Metric name → value. A spec with `export.generate` (a seq2seq decoder) also gets
        `<split>_generate_accuracy` and `<split>_generate_sequence_accuracy`: the same
        targets decoded greedily with each step's output fed back, no teacher forcing
        (`modelspec.decoding`), beside the teacher-forced `<split>_accuracy`.

    Raises:
        UsageError: For runs of loops without a single supervised model, or a missing split.
    """
    opened = open_target(run_dir, which=which, allow_spec=False)
    spec, models = opened.spec, opened.models
    train = TrainConfig.from_section(spec.section("train") or {})
    if train.kind == "adversarial" or len(models) != 1:
        raise UsageError(f"{run_dir}: evaluate needs a single supervised model; this run "
                         f"trained {', '.join(models)}")
    from modelspec.build.compiler import model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.training.loops.supervised import compile_model
    (model,) = models.values()
    compile_model(model, replace(train, loss="mse") if train.loss is None else train)
    inputs, outputs = model_io(model)
    order = [split] if split else ["test", "validation"]
    bundle = build_datasets(spec, inputs, outputs, splits=order)  # not the others' counts
    for name in order:
        data = getattr(bundle, name, None)
        if data is not None:
            result = model.evaluate(data, return_dict=True, verbose=0)
            metrics = {f"{name}_{k}": float(v) for k, v in result.items()}
            metrics.update(_generation_metrics(spec, model, data, name))
            return metrics
    raise UsageError(f"{run_dir}: the spec's data has no {' or '.join(order)} split")


def _generation_metrics(spec: Any, model: Any, data: Any, split: str) -> dict[str, float]:
    """Accuracy without teacher forcing, for a spec with `export.generate`; else nothing."""
    from modelspec.decoding import buffer_length, score_generation, spec_generate_config
    config = spec_generate_config(spec)
    if config is None:
        return {}
    try:
        buffer_length(model, config)
    except ValueError as err:
        raise UsageError(f"export.{err}") from err
    return score_generation(model, data, config).metrics(split)
