"""Keras optimizers, schedules, losses and metrics from spec values (a thin adapter).

Uses the project-wide registry `modelspec.components.objects.make(kind, value)` when it exists;
otherwise builds the object itself from Keras's own public classes, looked up by name in a
closed table (`keras_names`), never by import path.
"""

from __future__ import annotations

import keras

from modelspec.errors import UsageError
from modelspec.training import keras_names as kn


def _registry_make(kind, value):
    try:
        from modelspec.components.objects import make
    except ImportError:
        return None
    return make(kind, value)


def _split(value, kind):
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and "type" in value:
        return value["type"], {k: v for k, v in value.items() if k != "type"}
    raise UsageError(f"cannot build a {kind} from {value!r}")


def _class(module, name, names, kind):
    lowered = {n.lower(): n for n in names}
    cls_name = lowered.get(name.lower().replace("_", "")) or lowered.get(name.lower())
    if cls_name is None:
        for n in names:
            if kn.snake(n) == name:
                cls_name = n
    if cls_name is None or not hasattr(module, cls_name):
        raise UsageError(f"unknown {kind} '{name}'")
    return getattr(module, cls_name)


def make_schedule(value):
    """Builds a learning rate: a float stays a float, `{type: CosineDecay, ...}` a schedule."""
    if isinstance(value, (int, float)):
        return float(value)
    made = _registry_make("schedules", value)
    if made is not None:
        return made
    name, args = _split(value, "learning-rate schedule")
    return _class(keras.optimizers.schedules, name, kn.classes("schedules"), "schedule")(**args)


def make_optimizer(value):
    """Builds a Keras optimizer from `"adam"` or `{type: Adam, learning_rate: ..., ...}`.

    Example:
    >>> make_optimizer({"type": "SGD", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True})
    """
    if value is None:
        value = "Adam"
    made = _registry_make("optimizers", value)
    if made is not None:
        return made
    name, args = _split(value, "optimizer")
    if "learning_rate" in args:
        args["learning_rate"] = make_schedule(args["learning_rate"])
    return _class(keras.optimizers, name, kn.classes("optimizers"), "optimizer")(**args)


def make_loss(value):
    """Builds a loss: strings are Keras names (`mse`), dicts `{type: Huber, delta: 2}`."""
    made = _registry_make("losses", value)
    if made is not None:
        return made
    if isinstance(value, str):
        try:
            return keras.losses.get(value)
        except ValueError:
            pass
    name, args = _split(value, "loss")
    return _class(keras.losses, name, kn.classes("losses"), "loss")(**args)


def make_metric(value):
    """Builds a metric; plain Keras strings such as `accuracy` are passed through."""
    if isinstance(value, str):
        return value
    made = _registry_make("metrics", value)
    if made is not None:
        return made
    name, args = _split(value, "metric")
    return _class(keras.metrics, name, kn.classes("metrics"), "metric")(**args)


def losses_for(loss, outputs):
    """Turns the spec's `loss` into what `compile` takes for a dict-output model.

    Args:
        loss: One loss (for every output) or a mapping output name → loss.
        outputs: The model's output names.
    """
    if isinstance(loss, dict) and "type" not in loss:
        return {name: make_loss(loss[name]) for name in outputs if name in loss}
    return {name: make_loss(loss) for name in outputs}


def metrics_for(metrics, outputs):
    """Turns the spec's `metrics` (a list for every output, or per output) for `compile`."""
    if not metrics:
        return None
    if isinstance(metrics, dict):
        return {name: [make_metric(m) for m in (v if isinstance(v, list) else [v])]
                for name, v in metrics.items()}
    return {name: [make_metric(m) for m in metrics] for name in outputs}
