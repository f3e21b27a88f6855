"""Typed configuration of a search, read from a checked spec's `tune:` section (no TF)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelspec.training.config import TrainConfig

ALGORITHMS = ("random", "hyperband", "bayesian")
PARAM_TYPES = ("Choice", "Int", "Float", "Boolean")
# objective names whose direction KerasTuner infers too (keras_tuner's infer_metric_direction)
_MIN_WORDS = ("loss", "error", "mse", "mae", "crossentropy", "hinge", "divergence")
_MAX_WORDS = ("accuracy", "auc", "precision", "recall", "f1", "iou", "top_k")


def infer_direction(name: str) -> str | None:
    """'min' for losses and errors, 'max' for accuracies; None when it cannot tell."""
    lowered = name.lower()
    if any(word in lowered for word in _MIN_WORDS):
        return "min"
    if any(word in lowered for word in _MAX_WORDS):
        return "max"
    return None


@dataclass(frozen=True)
class SearchParam:
    """One searched spec parameter: a KerasTuner hyperparameter's type and arguments.

    Args:
        name: The spec parameter (a key of `params:`).
        type: "Choice", "Int", "Float" or "Boolean" (KerasTuner's `hp.<type>`).
        args: KerasTuner's own arguments (`values`, `min_value`, `max_value`, `step`,
            `sampling`).
        default: The spec's own value of the parameter (the search's default).
    """

    name: str
    type: str
    args: dict[str, Any]
    default: Any = None


@dataclass(frozen=True)
class TuneConfig:
    """A search: objective, algorithm, budget and space (`tune:` section).

    Args:
        epochs: `tune.epochs` (None: the spec's `train.epochs`, `train_epochs`).
        train_epochs: The spec's own `train.epochs` (its params resolved).
    """

    objective: str
    direction: str
    algorithm: str = "random"
    max_trials: int = 10
    executions_per_trial: int = 1
    epochs: int | None = None
    seed: int | None = None
    baseline: bool = True
    oracle_args: dict[str, Any] = field(default_factory=dict)
    params: tuple[SearchParam, ...] = ()
    train_epochs: int = 1

    def trial_epochs(self) -> int:
        """Epochs per trial: `tune.epochs`, else `train.epochs`."""
        return int(self.epochs or self.train_epochs)


ORACLE_KEYS = {"hyperband": ("factor", "hyperband_iterations"),
               "bayesian": ("num_initial_points", "alpha", "beta")}


def tune_config(spec: Any) -> TuneConfig:
    """Reads the `tune:` section of a checked spec (`modelspec.lang.spec.CheckedSpec`).

    Raises:
        ValueError: When the spec has no `tune:` section.
    """
    section = spec.raw.get("tune")
    if not isinstance(section, dict):
        raise ValueError(f"{spec.filename}: the spec has no 'tune:' section")
    objective = section["objective"]
    name = objective if isinstance(objective, str) else objective["name"]
    direction = (objective.get("direction") if isinstance(objective, dict) else None) \
        or infer_direction(name) or "min"
    algorithm = section.get("algorithm", "random")
    params = tuple(SearchParam(key, value["type"],
                               {k: v for k, v in value.items() if k != "type"},
                               spec.params.get(key))
                   for key, value in section["params"].items())
    return TuneConfig(objective=name, direction=direction, algorithm=algorithm,
                      max_trials=int(section.get("max_trials", 10)),
                      executions_per_trial=int(section.get("executions_per_trial", 1)),
                      epochs=section.get("epochs"), seed=section.get("seed"),
                      baseline=bool(section.get("baseline", True)),
                      oracle_args={k: section[k] for k in ORACLE_KEYS.get(algorithm, ())
                                   if k in section},
                      params=params,
                      train_epochs=TrainConfig.from_section(spec.section("train") or {}).epochs)
