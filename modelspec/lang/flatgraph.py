"""The flat layer graph: what `modelspec.lang.expand` produces, `modelspec.build.compiler` builds.

A `FlatGraph` is a model's layers after parameters, blocks, `repeat` and `if:` have been
expanded: `Node`s in creation order, each reading earlier nodes through `Ref`s.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import Collector
from modelspec.source import PathT


@functools.lru_cache(maxsize=1024)
def keras_style_name(name: str) -> str:
    """Keras's own layer naming: Conv2D → conv2d, MaxPooling2D → max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass(frozen=True)
class Ref:
    """A tensor: the output `port` (None for the only output) of node `node`."""

    node: str
    port: str | None = None

    def __str__(self) -> str:
        return self.node if self.port is None else f"{self.node}.{self.port}"


@dataclass
class Node:
    """One layer call of the flat graph."""

    name: str
    kind: str                      # "layer" | "model" | "shares"
    type: str | None = None        # layer type for kind == "layer"
    args: dict[str, Any] = field(default_factory=dict)  # resolved constructor arguments
    inputs: list[Ref] = field(default_factory=list)
    call: dict[str, Any] = field(default_factory=dict)  # values may be Ref or list[Ref]
    target: str | None = None      # shared node name, or model name
    trainable: bool | None = None
    path: PathT = ()               # document path of the layer item
    expansion: tuple[str, ...] = ()  # block-expansion path, outermost first
    arg_paths: dict[str, PathT] = field(default_factory=dict)
    ports: list[str] | None = None


@dataclass
class FlatGraph:
    """A model's graph after expansion."""

    inputs: dict[str, dict[str, Any]]  # name → {"shape": [...], "dtype": str, "path": tuple}
    nodes: list[Node]              # creation order
    outputs: dict[str, Ref]
    output_paths: dict[str, PathT] = field(default_factory=dict)
    path: PathT = ()

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def __post_init__(self) -> None:
        self._by_name = {n.name: n for n in self.nodes}


def check_connected(flat: FlatGraph, errs: Collector) -> None:
    """Every layer must contribute to an output (a forgotten branch is a likely mistake)."""
    needed: set[str] = set()
    stack = [r.node for r in flat.outputs.values()]
    by_name = {n.name: n for n in flat.nodes}
    while stack:
        name = stack.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        node = by_name[name]
        stack.extend(r.node for r in node.inputs)
        for value in node.call.values():
            for ref in value if isinstance(value, list) else [value]:
                if isinstance(ref, Ref):
                    stack.append(ref.node)
        if node.kind == "shares" and node.target is not None:
            stack.append(node.target)
    for node in flat.nodes:
        if node.name not in needed:
            errs.add(node.path, f"layer '{node.name}' is not connected to any output",
                     expected="every layer to lead to an output listed under 'outputs:' "
                     "(remove it, or add it to 'outputs:')", notes=node.expansion)
