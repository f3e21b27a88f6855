"""Cutting long pieces where two tensors are alive, so that cells reading the two previous
cells' outputs (NASNet) become repeated two-input blocks.

Inside a segment (`segments.segments`: one tensor alive at either end), its layers put in
dependency order (`dependency_order`: Keras's depth order interleaves neighbouring cells),
a *point* is a
position after which at most two tensors are alive: the last layer's output and one other.
A piece between two points reads at most those two tensors — the previous piece's output
first, as a block's `inputs: [x, skip]`. Points are everywhere in a residual block too (the
shortcut is alive beside the branch), so a segment is cut only where its inside repeats:
the longest *chain* of consecutive equal pieces that each read both tensors, where each
piece reads the previous one's output and that one's first input — what `repeat` of a
two-input block gives its copies. The parts before and after a chain are searched again,
and what is left between chains is cut where cells end (`_Cutter.cells`).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelspec.importer.blocks.segments import Segment, blockable
from modelspec.importer.keras_graph import ImportNode

MIN_NODES = 12          # shorter segments are left whole
MAX_PIECE = 400         # layers of one repeated piece (NASNetLarge's cell: ~60)


@dataclass(frozen=True)
class _Point:
    """A cut after node `index`: its output and at most one other tensor are alive."""

    index: int
    exit: str
    other: str | None


class _Cutter:
    """The points of one segment and the pieces between them."""

    def __init__(self, seg: Segment, last_use: dict[str, int], shared: set[str],
                 ported: set[str]) -> None:
        self.seg, self.shared, self.ported = seg, shared, ported
        self.points = _points(seg, last_use)
        self.at = {p.index: k for k, p in enumerate(self.points)}
        self.types = [node.type for node in seg.nodes]
        self._pieces: dict[tuple[int, int], Segment] = {}

    def piece(self, a: int, b: int) -> Segment:
        """The nodes after point `a` up to point `b` (indices into `points`)."""
        if (a, b) not in self._pieces:
            start, end = self.points[a], self.points[b]
            nodes = self.seg.nodes[start.index + 1:end.index + 1]
            read = {ref.node for node in nodes for ref in node.inputs}
            entries = [start.exit] + ([start.other] if start.other in read else [])
            ok = all(blockable(n, self.shared, self.ported) for n in nodes)
            self._pieces[(a, b)] = Segment(nodes, entries, ok and self.seg.blockable)
        return self._pieces[(a, b)]

    def chain(self, a: int, b: int, hi: int) -> list[int]:
        """Points of the chain of equal pieces starting with (a, b], up to point `hi`."""
        first = self.piece(a, b)
        if len(first.entries) < 2 or not first.blockable:
            return [a, b]
        length = self.points[b].index - self.points[a].index
        cuts, previous = [a, b], first
        while True:
            end = self.at.get(self.points[cuts[-1]].index + length)
            if end is None or end > hi:
                return cuts
            start = self.points[cuts[-1]].index + 1
            if self.types[start:start + length] != self.types[start - length:start]:
                return cuts
            nxt = self.piece(cuts[-1], end)
            if nxt.signature != first.signature or not nxt.follows(previous) \
                    or not nxt.blockable:
                return cuts
            cuts.append(end)
            previous = nxt

    def best_chain(self, lo: int, hi: int) -> list[int] | None:
        """The chain covering the most layers between points `lo` and `hi` (≥ 2 pieces)."""
        best: tuple | None = None
        for a in range(lo, hi):
            for b in range(a + 1, hi + 1):
                length = self.points[b].index - self.points[a].index
                if length > MAX_PIECE:
                    break
                if self.points[b].index + length not in self.at:
                    continue
                cuts = self.chain(a, b, hi)
                if len(cuts) < 3:
                    continue
                score = ((len(cuts) - 1) * length, len(cuts), -a)
                if best is None or score > best[0]:
                    best = (score, cuts)
        return None if best is None else best[1]

    def cuts(self, lo: int, hi: int, top: bool = True) -> list[int]:
        """The points where the pieces between `lo` and `hi` begin and end: the best
        chain, and around it more chains or else cells (`cells`); a segment without a
        chain is left whole."""
        chain = self.best_chain(lo, hi)
        if chain is None:
            return [lo, hi] if top else self.cells(lo, hi)
        left = self.cuts(lo, chain[0], False) if chain[0] > lo else [lo]
        right = self.cuts(chain[-1], hi, False) if chain[-1] < hi else [hi]
        return left[:-1] + chain + right[1:]

    def cells(self, lo: int, hi: int) -> list[int]:
        """Cuts between chains where a cell ends: from each cut, the farthest point whose
        other live tensor is one of the cut's two, reached by a piece that reads both of
        them (NASNet's reduction cell, then the stage's first cell; NASNetLarge's first
        cell reads the reduction's output and the cell before the reduction)."""
        out = [lo]
        while True:
            start = self.points[out[-1]]
            ends = [b for b in range(out[-1] + 1, hi)
                    if self.points[b].other in (start.exit, start.other)
                    and len(self.piece(out[-1], b).entries) == (1 if start.other is None
                                                                 else 2)
                    and start.exit in {r.node for n in self.piece(out[-1], b).nodes
                                       for r in n.inputs}]
            if not ends:
                return out + [hi]
            out.append(ends[-1])


def _points(seg: Segment, last_use: dict[str, int]) -> list[_Point]:
    """The segment's start (its entry), every two-alive position inside, and its end."""
    points = [_Point(-1, seg.entries[0], None)]
    alive = {seg.entries[0]}
    for j, node in enumerate(seg.nodes):
        alive = {t for t in alive if last_use.get(t, -1) > j}
        if last_use.get(node.id, -1) > j:
            alive.add(node.id)
        others = alive - {node.id}
        if node.id in alive and len(others) <= 1 and j < len(seg.nodes) - 1:
            points.append(_Point(j, node.id, next(iter(others), None)))
    points.append(_Point(len(seg.nodes) - 1, seg.nodes[-1].id, None))
    return points


def _local_last_use(nodes: list[ImportNode]) -> dict[str, int]:
    """Where each tensor is last read inside a segment (its exit: after it)."""
    last_use = {ref.node: j for j, node in enumerate(nodes) for ref in node.inputs}
    last_use[nodes[-1].id] = len(nodes)
    return last_use


def dependency_order(seg: Segment) -> Segment | None:
    """The segment's nodes in the order code builds them: each layer right after what it
    reads (depth first from the exit, the input farthest from the entry first), so that a
    cell's layers are together and after the cell before. Keras orders a model's layers
    by depth, which interleaves neighbouring cells; the rebuilt model's own order does not
    depend on the spec's. None if some node does not lead to the exit."""
    inside = {node.id: node for node in seg.nodes}
    depth: dict[str, int] = {}
    for node in seg.nodes:  # Keras's order is topological
        depth[node.id] = 1 + max((depth.get(ref.node, 0) for ref in node.inputs), default=0)
    reads = {node.id: sorted((ref.node for ref in node.inputs),
                             key=lambda name: -depth.get(name, 0)) for node in seg.nodes}
    order: list[ImportNode] = []
    done: set[str] = set()
    stack: list[tuple[ImportNode, int]] = [(seg.nodes[-1], 0)]
    while stack:
        node, k = stack.pop()
        if k < len(node.inputs):
            stack.append((node, k + 1))
            ref = reads[node.id][k]
            if ref in inside and ref not in done:
                done.add(ref)
                stack.append((inside[ref], 0))
        else:
            order.append(node)
    if len(order) != len(seg.nodes):
        return None
    return Segment(order, list(seg.entries), seg.blockable)


def split_repeating(segs: list[Segment], nodes: list[ImportNode]) -> list[Segment]:
    """Each long single-entry segment whose inside repeats, cut into its pieces (its
    layers in dependency order)."""
    shared = {node.shares for node in nodes if node.shares}
    ported = {ref.node for node in nodes for ref in node.inputs if ref.port is not None}
    out: list[Segment] = []
    for seg in segs:
        ordered = dependency_order(seg) if len(seg.nodes) >= MIN_NODES \
            and len(seg.entries) == 1 and seg.blockable else None
        if ordered is None:
            out.append(seg)
            continue
        cutter = _Cutter(ordered, _local_last_use(ordered.nodes), shared, ported)
        cuts = cutter.cuts(0, len(cutter.points) - 1)
        if len(cuts) == 2:
            out.append(seg)
        else:
            out.extend(cutter.piece(a, b) for a, b in zip(cuts, cuts[1:], strict=False))
    return out
