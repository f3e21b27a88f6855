"""Argument values of a block's copies: Keras's defaults where left out, and how the
values of a call's copies are written (one value, `first:` or `vary:`)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from modelspec.importer.arguments import compact
from modelspec.importer.keras_graph import ImportNode
from modelspec.lang import registry

MISSING = object()


def value(node: ImportNode, key: str) -> Any:
    """A node's argument as written, or Keras's default (compacted) when left out."""
    if key in node.args:
        return node.args[key]
    default = registry.layer_arguments(node.type or "").get(key, MISSING)
    return MISSING if default is MISSING else compact(key, default)


def default_value(layer_type: str | None, key: str) -> Any:
    """Keras's default of a layer type's argument (MISSING if it has none)."""
    return value(ImportNode("", layer_type, {}, []), key)


def key_of(item: Any) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def same(values: list) -> bool:
    return all(key_of(v) == key_of(values[0]) for v in values)


def spread(values: list) -> tuple:
    """How the values of a call's copies are written: ("one", v), ("first", v0, v) or
    ("vary", values)."""
    if same(values):
        return ("one", values[0])
    if len(values) >= 2 and same(values[1:]):
        return ("first", values[0], values[1])
    return ("vary", list(values))


def common_value(values: list) -> Any:
    """The most frequent of `values` (a block parameter's default)."""
    counts = Counter(key_of(v) for v in values)
    best = counts.most_common(1)[0][0]
    return next(v for v in values if key_of(v) == best)


def put_spread(item: dict, key: str, values: list, default: Any = MISSING) -> None:
    """Writes the copies' values of `key` into a layer item or block call."""
    shape = spread(values)
    if shape[0] == "one":
        if default is MISSING or key_of(shape[1]) != key_of(default):
            item[key] = shape[1]
    elif shape[0] == "first":
        if default is MISSING or key_of(shape[2]) != key_of(default):
            item[key] = shape[2]
        item.setdefault("first", {})[key] = shape[1]
    else:
        item.setdefault("vary", {})[key] = shape[1]


def multiple_of(values: list, params: dict[str, list]) -> str | None:
    """`$(4 * filters)` when `values` are a whole multiple of a parameter's values."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        return None
    for name, base in params.items():
        if not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in base):
            continue
        if values[0] % base[0] == 0 and values[0] // base[0] >= 2:
            factor = values[0] // base[0]
            if all(v == factor * b for v, b in zip(values, base, strict=True)):
                return f"$({factor} * {name})"
    return None
