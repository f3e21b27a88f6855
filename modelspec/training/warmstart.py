"""Starting a run from an earlier run's weights: transfer learning and Net2Net growth.

`train.init_from: {run: ../runs/small, weights: final, layers: [...], grow: net2net}` copies
the weights of layers with the same name from the earlier run's model into the new one
before the first epoch (never on resume). With `grow: net2net` a grown network computes the
same function as the trained one (Chen et al. 2015, "Net2Net"):

- **Net2WiderNet**: a Dense layer with more units copies randomly chosen existing units; the
  next Dense layer divides the outgoing weights of each copied unit by its number of copies.
- **Net2DeeperNet**: a Dense layer absent from the earlier model, whose input and output
  widths match, starts as the identity (exact for ReLU, linear and other idempotent
  activations on their range).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from modelspec.errors import UsageError
from modelspec.training.config import InitFromConfig


def _dense_chain(model: Any) -> list[Any]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def widen(student: Any, teacher: Any, rng: np.random.Generator) -> list[str]:
    """Copies `teacher`'s weights into `student`, widening Dense layers function-preservingly.

    Returns:
        Names of the layers that were widened.
    """
    grown = []
    mappings = {}  # student Dense layer name → unit mapping g (new unit → teacher unit)
    for layer in _dense_chain(student):
        try:
            old = teacher.get_layer(layer.name)
        except ValueError:
            continue
        n, m = old.units, layer.units
        if m < n:
            raise UsageError(f"layer '{layer.name}' shrinks from {n} to {m} units; Net2Net "
                             "only grows networks")
        mapping = np.concatenate([np.arange(n), rng.integers(0, n, m - n)])
        mappings[layer.name] = mapping
        if m > n:
            grown.append(layer.name)
    for layer in _dense_chain(student):
        if layer.name not in mappings:
            continue
        old = teacher.get_layer(layer.name)
        kernel, *bias = old.get_weights()
        kernel = kernel[:, mappings[layer.name]]
        bias = [b[mappings[layer.name]] for b in bias]
        previous = _previous_mapping(student, layer, mappings)
        if previous is not None:
            counts = np.bincount(previous, minlength=kernel.shape[0])
            kernel = kernel[previous, :] / counts[previous][:, None]
        layer.set_weights([kernel] + bias)
    return grown


def _previous_mapping(student: Any, layer: Any,
                      mappings: dict[str, np.ndarray]) -> np.ndarray | None:
    chain = _dense_chain(student)
    index = chain.index(layer)
    for earlier in reversed(chain[:index]):
        if earlier.name in mappings:  # inserted (identity) layers in between keep the width
            return mappings[earlier.name] if earlier.units == layer.input.shape[-1] else None
    return None


def deepen(student: Any, teacher: Any) -> list[str]:
    """Initialises Dense layers absent from `teacher` as identities; returns their names."""
    names = {layer.name for layer in teacher.layers}
    added = []
    for layer in _dense_chain(student):
        if layer.name in names:
            continue
        width = layer.input.shape[-1]
        if width != layer.units:
            raise UsageError(f"new layer '{layer.name}' maps {width} to {layer.units} units; "
                             "Net2DeeperNet inserts layers of equal width")
        weights = [np.eye(width, dtype="float32")]
        if layer.use_bias:
            weights.append(np.zeros(width, dtype="float32"))
        layer.set_weights(weights)
        added.append(layer.name)
    return added


def copy_by_name(student: Any, teacher: Any, layers: Sequence[str] | None = None) -> list[str]:
    """Copies the weights of same-named layers (all shared names, or `layers`)."""
    names = list(layers) if layers else [
        lay.name for lay in student.layers
        if lay.weights and lay.name in {t.name for t in teacher.layers}]
    for name in names:
        try:
            student.get_layer(name).set_weights(teacher.get_layer(name).get_weights())
        except ValueError as err:
            raise UsageError(f"train.init_from: cannot copy layer '{name}': {err}") from None
    return names


def warm_start(models: dict[str, Any], config: InitFromConfig, base_dir: Path,
               seed: int | None = None) -> dict[str, list[str]]:
    """Initialises `models` from an earlier run as `train.init_from` asks.

    Args:
        models: The freshly built models of this run.
        config: `train.init_from`: the run, which weights, the layers, the growth.
        base_dir: The directory `run` is relative to (the spec's).
        seed: Seeds the choice of copied units for Net2WiderNet.

    Returns:
        What was done: `{"copied": [...], "widened": [...], "deepened": [...]}`.
    """
    from modelspec.training.checkpoints import load_run
    source = Path(config.run)
    source = source if source.is_absolute() else Path(base_dir) / source
    _, teachers, _ = load_run(source, which=config.weights)
    report: dict[str, list[str]] = {"copied": [], "widened": [], "deepened": []}
    for name, student in models.items():
        if name not in teachers:
            continue
        teacher = teachers[name]
        if config.grow == "net2net":
            rng = np.random.default_rng(seed)
            report["widened"] += widen(student, teacher, rng)
            report["deepened"] += deepen(student, teacher)
            dense = {lay.name for lay in _dense_chain(student)}
            others = [lay.name for lay in student.layers if lay.weights and lay.name not in
                      dense and lay.name in {t.name for t in teacher.layers}]
            report["copied"] += copy_by_name(student, teacher, others) if others else []
        else:
            report["copied"] += copy_by_name(student, teacher, config.layers)
    return report
