"""Keras optimizers, schedules, losses and metrics for compile (a thin adapter).

Every object comes from the project-wide closed registry
`modelspec.build.components.objects.make(kind, value)`; this module only maps the `train:` section's
shapes (one loss for all outputs, a loss per output, metrics per output) onto `compile`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelspec.build.components.objects import make


def make_optimizer(value: str | Mapping[str, Any] | None) -> Any:
    """Builds a Keras optimizer from `"adam"` or `{type: Adam, learning_rate: ..., ...}`.

    Example:
    >>> make_optimizer({"type": "SGD", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True})
    """
    return make("optimizers", "Adam" if value is None else value)


def make_loss(value: str | Mapping[str, Any]) -> Any:
    """Builds a loss: strings are Keras names (`mse`), dicts `{type: Huber, delta: 2}`."""
    return make("losses", value)


def make_metric(value: str | Mapping[str, Any]) -> Any:
    """Builds a metric; plain Keras strings such as `accuracy` are passed through."""
    from modelspec.lang import registry
    if isinstance(value, str) and value not in registry.python_components("metrics"):
        return value
    return make("metrics", value)


def losses_for(loss: Any, outputs: Iterable[str]) -> dict[str, Any]:
    """Turns the spec's `loss` into what `compile` takes for a dict-output model.

    Args:
        loss: One loss (for every output) or a mapping output name → loss.
        outputs: The model's output names.
    """
    if isinstance(loss, dict) and "type" not in loss:
        return {name: make_loss(loss[name]) for name in outputs if name in loss}
    return {name: make_loss(loss) for name in outputs}


def metrics_for(metrics: Any, outputs: Iterable[str]) -> dict[str, list[Any]] | None:
    """Turns the spec's `metrics` (a list for every output, or per output) for `compile`."""
    if not metrics:
        return None
    if isinstance(metrics, dict):
        return {name: [make_metric(m) for m in (v if isinstance(v, list) else [v])]
                for name, v in metrics.items()}
    return {name: [make_metric(m) for m in metrics] for name in outputs}
