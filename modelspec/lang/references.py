"""Names in scope while a layer graph expands, and the references that read them.

A scope maps each name a layer may read (`in:`, `call:`, `outputs:`, `shares:`) to what it
stands for: an input or an earlier layer's output (a `Ref`), a block instance (whose inner
layers are reachable as `stage2.conv1`), or a layer that failed to expand (its error is
already reported, so reading it is not an error of its own). `lookup` resolves `id`,
`id.port` and `instance.layer` against a scope, with did-you-mean suggestions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.expr import REF_NAME
from modelspec.lang.flatgraph import Node, Ref
from modelspec.source import PathT

BLOCK_INPUT = "input"
DEFAULT_PORT = "out"  # what `in: enc` reads from a layer with several outputs


class Failed:
    """The entry of an id whose layer could not be expanded (its error is reported)."""


FAILED = Failed()


@dataclass
class Instance:
    """A block instance in a scope: its output and its inner scope (for `stage2.conv1`)."""

    output: Ref
    scope: Scope


Scope = dict[str, "Ref | Instance | Failed"]


class Names(dict[str, Any]):
    """Parameters visible in a block, with where each value was written (for errors)."""

    def __init__(self, names: Mapping[str, Any]) -> None:
        super().__init__(names)
        self.paths: dict[str, PathT] = dict(getattr(names, "paths", {}))


def source_path(value: Any, names: Mapping[str, Any], path: PathT) -> PathT:
    """The document path a plain `$name` of a block parameter stands for, else `path`."""
    match = REF_NAME.match(value) if isinstance(value, str) else None
    paths: dict[str, PathT] = getattr(names, "paths", {})
    if match and match.group(1) in paths:
        return paths[match.group(1)]
    return path


def lookup(text: str, scope: Scope, later: Mapping[str, int], nodes: Mapping[str, Node],
           errs: Collector, path: PathT, expansion: tuple[str, ...]) -> Ref | None:
    """The tensor `text` (`id`, `id.port`, `instance.layer`, ...) names, or None (reported).

    Args:
        later: Ids defined further down the same list → their line (for a clearer error).
        nodes: The nodes made so far by name (for their output ports).
    """
    parts = text.split(".")
    head = parts[0]
    if head not in scope:
        if head in later:
            errs.add(path, f"'{head}' is defined later (line {later[head]}) — "
                     "a layer can read only inputs and earlier layers", notes=expansion)
        else:
            errs.add(path, f"unknown layer or input '{head}'",
                     expected="the id of an earlier layer or an input name",
                     suggestion=did_you_mean(head, [k for k in scope if k]), notes=expansion)
        return None
    entry = scope[head]
    for i, part in enumerate(parts[1:], start=1):
        if isinstance(entry, Failed):
            return None
        if isinstance(entry, Instance):
            if part not in entry.scope or part == BLOCK_INPUT:
                errs.add(path, f"block instance '{'.'.join(parts[:i])}' has no layer "
                         f"'{part}'", expected="the id of a layer inside the block",
                         suggestion=did_you_mean(part, entry.scope), notes=expansion)
                return None
            entry = entry.scope[part]
            continue
        if i != len(parts) - 1 or entry.port not in (None, DEFAULT_PORT):
            errs.add(path, f"'{text}' has too many parts", expected="id or id.port",
                     notes=expansion)
            return None
        return _port(entry, part, nodes, errs, path, expansion)
    if isinstance(entry, Failed):
        return None
    if isinstance(entry, Instance):
        return entry.output
    node = nodes.get(entry.node)
    if node is not None and node.kind == "model" and node.ports and entry.port is None:
        errs.add(path, f"'{text}' calls model '{node.target}', which has several "
                 "outputs", expected="one of them: " + ", ".join(
                     f"{text}.{p}" for p in node.ports), notes=expansion)
        return None
    return entry


def _port(entry: Ref, part: str, nodes: Mapping[str, Node], errs: Collector, path: PathT,
          expansion: tuple[str, ...]) -> Ref | None:
    """`id.port`: the output `part` of the layer `entry`, or None (reported)."""
    node = nodes.get(entry.node)
    ports = node.ports if node is not None else None
    if ports is None or (part not in ports and not part.isdigit()):
        what = (f"one of its ports: {', '.join(ports)}" if ports else
                "no port: this layer has a single output (ports exist for layers with "
                "several outputs, e.g. an LSTM with return_state: true)")
        errs.add(path, f"'{entry.node}' has no output port '{part}'",
                 expected=what, suggestion=did_you_mean(part, ports or []), notes=expansion)
        return None
    return Ref(entry.node, part)
