"""KerasTuner's search space and oracle for a `TuneConfig`.

The space is KerasTuner's own `HyperParameters` (Choice, Int, Float, Boolean with their own
argument names), and the algorithms are its oracles (`RandomSearchOracle`,
`HyperbandOracle`, `BayesianOptimizationOracle`): modelspec writes no search loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.tune.config import SearchParam, TuneConfig

HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round",
                  "tuner/trial_id")


def _fits(param: SearchParam) -> bool:
    """True when the spec's own value is a valid default of the hyperparameter."""
    value, args = param.default, param.args
    if param.type == "Choice":
        return value in args["values"]
    if param.type == "Boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if param.type == "Int" and not isinstance(value, int):
        return False
    return args["min_value"] <= value <= args["max_value"]


def hyperparameters(config: TuneConfig) -> Any:
    """A `keras_tuner.HyperParameters` with one entry per searched spec parameter; each
    defaults to the spec's own value when that value lies in its range."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for param in config.params:
        default = {"default": param.default} if _fits(param) else {}
        getattr(hp, param.type)(param.name, **param.args, **default)
    return hp


def make_oracle(config: TuneConfig, epochs: int) -> Any:
    """KerasTuner's oracle for `config.algorithm`, over `hyperparameters(config)`.

    Args:
        config: The search.
        epochs: Epochs per trial (Hyperband's `max_epochs`).
    """
    import keras_tuner

    objective = keras_tuner.Objective(config.objective, config.direction)
    common = {"objective": objective, "hyperparameters": hyperparameters(config),
              "allow_new_entries": False, "tune_new_entries": True, "seed": config.seed}
    if config.algorithm == "hyperband":
        return keras_tuner.oracles.HyperbandOracle(max_epochs=epochs, **common,
                                                   **config.oracle_args)
    if config.algorithm == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(
            max_trials=config.max_trials, **common, **config.oracle_args)
    return keras_tuner.oracles.RandomSearchOracle(max_trials=config.max_trials, **common)


def spec_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's values without Hyperband's bookkeeping (`tuner/epochs`, ...)."""
    return {k: v for k, v in values.items() if k not in HYPERBAND_KEYS}
