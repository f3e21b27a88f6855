"""Names and arguments of the Keras components a `train:` section may use (no TensorFlow).

A thin view over the project-wide catalogue (`modelspec.lang.catalog`), shaped for the checks of
the `train:` section: the strings Keras accepts for losses and metrics include the snake_case
of the class names and Keras's short aliases.
"""

from __future__ import annotations

from modelspec.lang import catalog, registry
from modelspec.lang.flatgraph import keras_style_name

# The snake_case of a class name follows Keras's own rule (`keras_style_name`, the one the
# layer graph names layers with): MeanSquaredError → mean_squared_error.

# Short names Keras accepts as strings besides the snake_case of the class names.
LOSS_ALIASES = ["mse", "mae", "mape", "msle", "kld", "kl_divergence", "logcosh", "huber_loss"]
METRIC_ALIASES = ["accuracy", "acc", "mse", "mae", "mape", "msle", "crossentropy", "ce"]


def optimizer_names() -> list[str]:
    """Names of the Keras optimizers (classes)."""
    return catalog.names("optimizers")


def optimizer_args(name: str) -> list[str]:
    """Arguments of a Keras optimizer, [] when unknown."""
    if name not in catalog.names("optimizers"):
        return []
    return [a for a in catalog.arguments("optimizers", name) if a != "name"]


def schedule_names() -> list[str]:
    """Names of the Keras learning-rate schedules."""
    return catalog.names("schedules")


def schedule_args(name: str) -> list[str]:
    """Arguments of a Keras learning-rate schedule, [] when unknown."""
    if name not in catalog.names("schedules"):
        return []
    return [a for a in catalog.arguments("schedules", name) if a != "name"]


def loss_names() -> list[str]:
    """Names a `loss:` may use: class names, their snake_case and Keras's short aliases."""
    base = catalog.names("losses")
    return sorted(set(base) | {keras_style_name(n) for n in base} | set(LOSS_ALIASES)
                  | set(catalog.string_names("losses")) | set(registry.python_components("losses")))


def metric_names() -> list[str]:
    """Names a `metrics:` entry may use: class names, snake_case and Keras's aliases."""
    base = catalog.names("metrics")
    return sorted(set(base) | {keras_style_name(n) for n in base} | set(METRIC_ALIASES)
                  | set(catalog.string_names("metrics"))
                  | set(registry.python_components("metrics")))
