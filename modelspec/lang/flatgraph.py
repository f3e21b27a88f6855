"""The flat layer graph: what `modelspec.lang.expand` produces, `modelspec.build.compiler` builds.

A `FlatGraph` is a model's layers after parameters, blocks, `repeat` and `if:` have been
expanded: `Node`s in creation order, each reading earlier nodes through `Ref`s.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from modelspec.errors import Collector


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
    args: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)   # list[Ref]
    call: dict = field(default_factory=dict)     # values may be Ref or list[Ref]
    target: str | None = None      # shared node name, or model name
    trainable: bool | None = None
    path: tuple = ()               # document path of the layer item
    expansion: tuple = ()          # block-expansion path, outermost first
    arg_paths: dict = field(default_factory=dict)
    ports: list | None = None


@dataclass
class FlatGraph:
    """A model's graph after expansion."""

    inputs: dict                   # name → {"shape": [...], "dtype": str, "path": tuple}
    nodes: list                    # list[Node], creation order
    outputs: dict                  # name → Ref
    output_paths: dict = field(default_factory=dict)
    path: tuple = ()

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def __post_init__(self):
        self._by_name = {n.name: n for n in self.nodes}


def check_connected(flat: FlatGraph, errs: Collector) -> None:
    """Every layer must contribute to an output (a forgotten branch is a likely mistake)."""
    needed = set()
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
        if node.kind == "shares":
            stack.append(node.target)
    for node in flat.nodes:
        if node.name not in needed:
            errs.add(node.path, f"layer '{node.name}' is not connected to any output",
                     expected="every layer to lead to an output listed under 'outputs:' "
                     "(remove it, or add it to 'outputs:')", notes=node.expansion)
