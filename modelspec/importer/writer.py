"""The importer's spec document as YAML text a person would write.

Layer items are one flow mapping per line (`- {id: c1, type: Conv2D, filters: 64}`), in
the key order people use (`id`, `type`/`block`/`shares`, `in`, arguments, `repeat`,
`first`, `vary`, `call`, `trainable`). Strings are plain where YAML 1.2 reads them back as
the same string and JSON-quoted otherwise, so that the text loads to exactly the document.

Example:
>>> print(dump_spec({"modelspec": 1, "name": "m", "model": {...}}))
modelspec: 1
name: m
...
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from modelspec.importer.keras_graph import ImportNode

_PLAIN = re.compile(r"^\$?[A-Za-z_][A-Za-z0-9_.-]*$")
_EXPRESSION = re.compile(r"^\$\(\d+ \* [A-Za-z_][A-Za-z0-9_]*\)$")  # $(4 * filters)
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}
_FIRST_KEYS = ("id", "type", "block", "shares", "model", "in")
_LAST_KEYS = ("repeat", "first", "vary", "call", "trainable")


def node_items(nodes: list[ImportNode], previous: str | None) -> list[dict]:
    """Layer items for `nodes`: `in:` only where a node does not read the one before.

    Args:
        nodes: The nodes, in order.
        previous: The tensor the first item reads without `in:` (the only input), or None.
    """
    items = []
    for node in nodes:
        item: dict = {"id": node.id}
        if node.shares is not None:
            item["shares"] = node.shares
        elif node.model is not None:
            item["model"] = node.model
        else:
            item["type"] = node.type
        texts = [ref.text() for ref in node.inputs]
        if texts != [previous]:
            item["in"] = texts[0] if len(texts) == 1 else texts
        item.update(node.args)
        if node.call:
            item["call"] = dict(node.call)
        if node.trainable is not None:
            item["trainable"] = node.trainable
        items.append(item)
        previous = node.id
    return items


def dump_spec(document: dict, header: list[str] | None = None) -> str:
    """The document as YAML: top-level keys in block style, layer items one per line."""
    lines = [f"# {line}" for line in header or []]
    for key, value in document.items():
        if key in ("model", "blocks"):
            lines.append(f"{key}:")
            lines.extend(_section(key, value, "  "))
        elif key == "models":
            lines.append(f"{key}:")
            for name, graph in value.items():
                lines.append(f"  {name}:")
                lines.extend(_graph_lines(graph, "    "))
        else:
            lines.append(f"{key}: {flow(value)}")
    return "\n".join(lines) + "\n"


def _section(key: str, value: dict, indent: str) -> list[str]:
    if key == "blocks":
        lines = []
        for name, block in value.items():
            lines.append(f"{indent}{name}:")
            lines.extend(_graph_lines(block, indent + "  "))
        return lines
    return _graph_lines(value, indent)


def _graph_lines(graph: dict, indent: str) -> list[str]:
    lines = []
    for key, value in graph.items():
        if key == "layers":
            lines.append(f"{indent}layers:")
            lines.extend(f"{indent}  - {flow(_ordered(item))}" for item in value)
        elif key == "inputs" and isinstance(value, dict):
            lines.append(f"{indent}inputs:")
            lines.extend(f"{indent}  {name}: {flow(decl)}" for name, decl in value.items())
        else:
            lines.append(f"{indent}{key}: {flow(value)}")
    return lines


def _ordered(item: dict) -> dict:
    first = {k: item[k] for k in _FIRST_KEYS if k in item}
    last = {k: item[k] for k in _LAST_KEYS if k in item}
    middle = {k: v for k, v in item.items() if k not in first and k not in last}
    return {**first, **middle, **last}


def flow(value: Any) -> str:
    """One value in YAML flow style that loads back to exactly `value`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(str(k))}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    return _string(str(value))


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"a spec cannot hold the number {value}")
    text = repr(value)
    if "e" in text or "E" in text:
        mantissa, exponent = text.lower().split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}e{int(exponent):+03d}"
    return text


def _string(text: str) -> str:
    if _EXPRESSION.match(text) or (_PLAIN.match(text) and text.lower() not in _RESERVED
                                   and not _numeric(text)):
        return text
    return json.dumps(text)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
