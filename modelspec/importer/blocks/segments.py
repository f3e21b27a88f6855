"""Cutting a model's layer list into segments: pieces with one exit (their last layer)
that read at most two tensors from before them.

The graph is cut wherever exactly one tensor is alive (every later layer reads only it or
later ones): each piece is a layer of a chain, or a whole residual block, dense-block layer
or Inception module. A long piece whose inside repeats itself with two tensors alive (NASNet:
each cell reads the two previous cells' outputs) is cut further by
`modelspec.importer.blocks.two_inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelspec.importer.keras_graph import ImportNode

MERGES = {"Add", "Concatenate", "Multiply", "Subtract", "Average", "Maximum", "Minimum"}
_TRAILING = {"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"}


@dataclass
class Segment:
    """Consecutive nodes reading only `entries` from outside; the last one is the exit.

    `entries` is empty for a piece that cannot be a block (the model's first layers when it
    has several inputs), one tensor for most pieces, two for a NASNet cell: the previous
    piece's output first.
    """

    nodes: list[ImportNode]
    entries: list[str]
    blockable: bool

    @property
    def entry(self) -> str | None:
        return self.entries[0] if self.entries else None

    @property
    def exit(self) -> str:
        return self.nodes[-1].id

    @property
    def signature(self) -> tuple:
        index = {node.id: i for i, node in enumerate(self.nodes)}
        outside = {name: -1 - k for k, name in enumerate(self.entries)}
        return tuple((node.type, node.trainable, tuple(
            outside.get(ref.node, index.get(ref.node, -9)) for ref in node.inputs))
            for node in self.nodes)

    def follows(self, before: Segment) -> bool:
        """Whether this piece reads what a repeated block's next copy reads: the copy
        before's output, then that copy's first inputs (`repeat` of a two-input block)."""
        return self.entries == ([before.exit] + before.entries)[:len(self.entries)]


@dataclass(frozen=True)
class Liveness:
    """Where each tensor is last read (the model's outputs: after the last node)."""

    position: dict[str, int]
    last_use: dict[str, int]
    inputs_alive_until: int     # the last node reading a graph input

    @staticmethod
    def of(nodes: list[ImportNode], outputs: set[str]) -> Liveness:
        count = len(nodes)
        position = {node.id: i for i, node in enumerate(nodes)}
        last_use: dict[str, int] = {}
        for i, node in enumerate(nodes):
            for ref in node.inputs:
                last_use[ref.node] = i
        for name in outputs:
            last_use[name] = count
        alive = max([use for name, use in last_use.items() if name not in position] or [-1])
        return Liveness(position, last_use, alive)


def segments(nodes: list[ImportNode], only_input: str | None,
             outputs: set[str]) -> list[Segment]:
    """Cuts the node list where exactly one tensor (the last node's output) is alive."""
    count = len(nodes)
    live = Liveness.of(nodes, outputs)
    shared = {node.shares for node in nodes if node.shares}
    ported = {ref.node for node in nodes for ref in node.inputs if ref.port is not None}
    out, start, alive = [], 0, live.inputs_alive_until
    for i, node in enumerate(nodes):
        if alive <= i:  # nothing before node i is read after it
            chunk = nodes[start:i + 1]
            entry = nodes[start - 1].id if start > 0 else only_input
            ok = entry is not None and all(blockable(n, shared, ported) for n in chunk)
            out.append(Segment(chunk, [entry] if entry is not None else [], ok))
            start = i + 1
        alive = max(alive, live.last_use.get(node.id, count))
    if start < count:
        out.append(Segment(nodes[start:], [], False))
    return out


def absorb_activations(segs: list[Segment]) -> list[Segment]:
    """Joins the activation after a merge to its segment (ResNet's `add → relu`)."""
    out: list[Segment] = []
    for seg in segs:
        last = out[-1] if out else None
        if last is not None and len(seg.nodes) == 1 and seg.nodes[0].type in _TRAILING \
                and last.blockable and seg.blockable and len(last.nodes) > 1 \
                and len(last.entries) == 1 \
                and (last.nodes[-1].type in MERGES or last.nodes[-2].type in MERGES):
            last.nodes.append(seg.nodes[0])
        else:
            out.append(seg)
    return out


def blockable(node: ImportNode, shared: set, ported: set) -> bool:
    """Whether a node can be inside a block (not shared, no output ports, a layer)."""
    return (node.shares is None and not node.call and node.id not in shared
            and node.id not in ported and node.type is not None
            and all(ref.port is None for ref in node.inputs))
