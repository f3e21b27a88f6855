"""Model diagrams for `modelspec show SPEC --diagram FILE.svg|.png`, drawn by Graphviz.

Like `keras.utils.plot_model`, the graph is written with pydot and laid out by Graphviz's
`dot` program; unlike it, the picture is drawn from the spec's flat layer graph, so each box
shows the spec's layer id, type, output shape and parameter count, block instances are
drawn as clusters (nested blocks nested; `collapse=True` draws each block instance as one
box with its parameter total) and a `models:` spec draws each model as a cluster, where a
`{model: ...}` call is one box named after the model it calls.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelspec.build.show import count_params, node_summaries
from modelspec.errors import UsageError

if TYPE_CHECKING:
    import keras

    from modelspec.lang.flatgraph import Node
    from modelspec.lang.spec import CheckedSpec

FORMATS = ("svg", "png", "pdf", "dot")
_BLOCK = re.compile(r"in block '(?P<block>[^']+)' used at line \d+ as '(?P<name>[^']+)'")
# fill colours by layer family (Graphviz X11 names), so that a picture reads at a glance
_COLOURS = (("Conv", "lightskyblue"), ("Pool", "navajowhite"), ("Normalization", "khaki1"),
            ("Dense", "palegreen"), ("Dropout", "gray90"), ("LSTM", "plum1"),
            ("GRU", "plum1"), ("RNN", "plum1"), ("Attention", "lightpink"),
            ("Embedding", "lightcyan"))
INSTALL_HINT = ("drawing a diagram needs Graphviz's `dot` program, which is not on PATH; "
                "install Graphviz (Debian/Ubuntu: apt install graphviz; macOS: brew install "
                "graphviz; conda: conda install graphviz; Windows: winget install graphviz) "
                "and try again")


@dataclass(frozen=True)
class Box:
    """One drawn node: a layer (or a collapsed block instance) of one model."""

    key: str
    title: str
    kind: str
    shape: str
    params: int
    clusters: tuple[str, ...]


def _colour(kind: str) -> str:
    if kind.startswith(("block ", "model ")):
        return "thistle1"
    return next((c for word, c in _COLOURS if word in kind), "white")


def _clusters(expansion: tuple[str, ...]) -> tuple[str, ...]:
    """Block instances a node lies in, outermost first ('stage2_0 (basic)')."""
    out = []
    for text in expansion:
        match = _BLOCK.match(text)
        if match:
            out.append(f"{match['name']} ({match['block']})")
    return tuple(out)


def layer_boxes(spec: CheckedSpec, name: str, model: keras.Model,
                record: list[tuple[Node, Any]]) -> list[Box]:
    """One box per node of the model's flat graph, with its output shape and parameters."""
    return [Box(f"{name}/{node.name}", node.name, kind, shape, params, _clusters(node.expansion))
            for node, kind, shape, params in node_summaries(model, record)]


def collapse_blocks(boxes: list[Box]) -> tuple[list[Box], dict[str, str]]:
    """Replaces each outermost block instance by one box (its parameter total); returns the
    boxes and a map from every original key to the key drawn for it."""
    drawn: dict[str, Box] = {}
    where: dict[str, str] = {}
    for box in boxes:
        if not box.clusters:
            drawn[box.key], where[box.key] = box, box.key
            continue
        model = box.key.split("/", 1)[0]
        key = f"{model}/[{box.clusters[0]}]"
        name, block = box.clusters[0].rsplit(" (", 1)
        old = drawn.get(key)
        drawn[key] = Box(key, name, f"block {block.rstrip(')')}", box.shape,
                         box.params + (old.params if old else 0), ())
        where[box.key] = key
    return list(drawn.values()), where


def _label(box: Box) -> str:
    params = f"{box.params:,} params" if box.params else "no params"
    return f"{box.title} : {box.kind}\n{box.shape}\n{params}"


def model_graph(spec: CheckedSpec, models: dict[str, keras.Model],
                record: dict[str, list[tuple[Node, Any]]], collapse: bool = False) -> Any:
    """The pydot graph of every model of a spec (each a cluster when there are several)."""
    import pydot

    graph = pydot.Dot(graph_type="digraph", rankdir="TB", fontname="Helvetica",
                      fontsize="11", compound="true", nodesep="0.25", ranksep="0.3")
    graph.set_node_defaults(shape="box", style="rounded,filled", fontname="Helvetica",
                            fontsize="10", margin="0.12,0.04")
    graph.set_edge_defaults(arrowsize="0.6")
    several = len(models) > 1
    for name, model in models.items():
        parent: Any = graph
        if several:
            parent = pydot.Cluster(f"model_{name}", label=f"model {name} "
                                   f"({count_params(model.weights):,} params)", style="dashed",
                                   fontname="Helvetica-Bold", fontsize="12")
            graph.add_subgraph(parent)
        _draw_model(parent, spec, name, model, record.get(name, []), collapse)
    return graph


def _draw_model(parent: Any, spec: CheckedSpec, name: str, model: keras.Model,
                record: list[tuple[Node, Any]],
                collapse: bool) -> None:
    import pydot

    flat = spec.graphs[name]
    boxes = layer_boxes(spec, name, model, record)
    where = {b.key: b.key for b in boxes}
    if collapse:
        boxes, where = collapse_blocks(boxes)
    for input_name, decl in flat.inputs.items():
        shape = "(None, " + ", ".join(str(d) for d in decl["shape"]) + ")"
        parent.add_node(pydot.Node(_id(f"{name}/<input:{input_name}>"), fillcolor="gray80",
                                   label=f"{input_name} : Input\n{shape} {decl['dtype']}"))
    clusters: dict[tuple[str, ...], Any] = {(): parent}
    for box in boxes:
        _cluster(clusters, box.clusters, name).add_node(pydot.Node(
            _id(box.key), label=_label(box), fillcolor=_colour(box.kind)))
    edges = set()
    for node, _ in record:
        head = where[f"{name}/{node.name}"]
        for ref in node.inputs:
            tail = where.get(f"{name}/{ref.node}", f"{name}/{ref.node}")
            if tail != head:
                edges.add((tail, head))
    for out_name, ref in flat.outputs.items():
        key = f"{name}/<output:{out_name}>"
        parent.add_node(pydot.Node(_id(key), label=f"{out_name} : output", shape="ellipse",
                                   fillcolor="gray80"))
        edges.add((where.get(f"{name}/{ref.node}", f"{name}/{ref.node}"), key))
    for tail, head in sorted(edges):
        parent.add_edge(pydot.Edge(_id(tail), _id(head)))


def _cluster(clusters: dict[tuple[str, ...], Any], path: tuple[str, ...], model: str) -> Any:
    """The (nested) cluster of a block instance, created on first use."""
    import pydot

    if path not in clusters:
        outer = _cluster(clusters, path[:-1], model)
        safe = re.sub(r"\W", "_", f"{model}/" + "/".join(path))
        inner = pydot.Cluster(safe, label=path[-1],
                              style="rounded", color="gray50", fontname="Helvetica",
                              fontsize="10")
        outer.add_subgraph(inner)
        clusters[path] = inner
    return clusters[path]


def _id(key: str) -> str:
    """A Graphviz node id for `key` (quoted, so any character is safe)."""
    return '"' + key.replace('"', "'") + '"'


def write_diagram(graph: Any, path: str | Path) -> Path:
    """Lays the graph out with Graphviz's `dot` and writes it, atomically, by extension.

    Raises:
        UsageError: For an unknown extension or when Graphviz's `dot` is not installed.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(f"--diagram '{path}': unknown picture format '.{fmt}'; expected a "
                         "file name ending in .svg, .png, .pdf or .dot")
    if fmt != "dot" and shutil.which("dot") is None:
        raise UsageError(INSTALL_HINT)
    from modelspec.fileio import atomic_write_bytes
    data = graph.to_string().encode() if fmt == "dot" else graph.create(format=fmt)
    return atomic_write_bytes(path, data)
