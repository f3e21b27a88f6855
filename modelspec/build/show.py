"""The layer table `modelspec show` prints: id, type, output shape, parameters, YAML line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

    from modelspec.lang.flatgraph import Node
    from modelspec.lang.spec import CheckedSpec


def _shape(tensor: Any) -> str:
    if isinstance(tensor, dict):
        return ", ".join(f"{k}: {_shape(v)}" for k, v in tensor.items())
    if isinstance(tensor, (list, tuple)):
        return " ".join(_shape(t) for t in tensor)
    shape = getattr(tensor, "shape", None)
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def count_params(weights: Iterable[keras.Variable]) -> int:
    """The number of values in `weights` (from their shapes: nothing is read)."""
    total = 0
    for w in weights:
        size = 1
        for d in w.shape:
            size *= int(d)
        total += size
    return total


def node_summaries(model: keras.Model,
                   record: list[tuple[Node, Any]]) -> Iterator[tuple[Node, str, str, int]]:
    """`(node, type, output shape, parameters)` per node of a built model's flat graph, as
    `show` and `show --diagram` list them; a shared layer's parameters count once."""
    seen_layers = set()
    for node, out in record:
        if node.kind == "shares":
            layer_type, params = f"shares {node.target}", 0
        elif node.kind == "model":
            layer_type, params = f"model {node.target}", 0
        else:
            layer = model.get_layer(node.name)
            layer_type = str(node.type)
            params = 0 if id(layer) in seen_layers else count_params(layer.weights)
            seen_layers.add(id(layer))
        yield node, layer_type, _shape(out), params


def render_model(spec: CheckedSpec, name: str, model: keras.Model,
                 record: list[tuple[Node, Any]]) -> str:
    """Renders one model's table and totals as text."""
    rows = [("id", "type", "output shape", "params", "line")]
    for node, layer_type, shape, params in node_summaries(model, record):
        line = spec.source.position(node.path)[0]
        rows.append((node.name, layer_type, shape, f"{params:,}", str(line)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"model '{model.name}'" + (f" ({name})" if name != "model" else "")]
    for i, row in enumerate(rows):
        cells = [row[j].ljust(widths[j]) if j not in (3, 4) else row[j].rjust(widths[j])
                 for j in range(5)]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    trainable = count_params(model.trainable_weights)
    non_trainable = count_params(model.non_trainable_weights)
    lines.append("inputs: " + ", ".join(f"{k} {_shape(v)} {v.dtype}"
                                         for k, v in _named(model.input).items()))
    lines.append("outputs: " + ", ".join(f"{k} {_shape(v)}"
                                          for k, v in _named(model.output).items()))
    lines.append(f"total parameters: {trainable + non_trainable:,} "
                 f"(trainable {trainable:,}, non-trainable {non_trainable:,})")
    return "\n".join(lines)


def _named(structure: Any) -> dict[str, Any]:
    if isinstance(structure, dict):
        return structure
    items = structure if isinstance(structure, (list, tuple)) else [structure]
    return {getattr(t, "name", str(i)): t for i, t in enumerate(items)}


def render_models(spec: CheckedSpec, models: dict[str, keras.Model],
                  record: dict[str, list[tuple[Node, Any]]]) -> str:
    """Renders every model of a spec (one table each)."""
    return "\n\n".join(render_model(spec, name, models[name], record.get(name, []))
                       for name in models)
