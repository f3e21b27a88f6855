"""Keras model → spec document → YAML text, checked like any spec before it is returned.

Example:
>>> result = convert(read_model("ResNet50"))
>>> result.text.count("\\n")
41
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from modelspec.errors import SpecError, UsageError
from modelspec.importer.blocks import find_blocks
from modelspec.importer.keras_graph import ImportGraph, ImportRef, Unsupported, read_graph
from modelspec.importer.reader import ModelSource
from modelspec.importer.writer import dump_spec, node_items


class UnsupportedModelError(UsageError):
    """The model has layers a spec cannot express (each listed); nothing was written."""

    def __init__(self, label: str, unsupported: list[Unsupported]) -> None:
        self.unsupported = unsupported
        lines = [f"{label}: {len(unsupported)} layer(s) cannot be written as a spec "
                 "(nothing was written):"]
        lines += [f"  {item.format()}" for item in unsupported]
        super().__init__("\n".join(lines))


@dataclass
class Converted:
    """An imported model: its graph, the spec document and its YAML text."""

    graph: ImportGraph
    document: dict
    text: str


def convert(source: ModelSource, *, blocks: bool = True, weights: str | None = None,
            name: str | None = None) -> Converted:
    """Converts a model's config into a checked spec.

    Args:
        source: The model (`modelspec.importer.reader.read_model`).
        blocks: Find repeated subgraphs and write them as blocks.
        weights: The weights file to name under `model.weights` (relative to the spec).
        name: The spec's name (default: the Keras model's name).

    Raises:
        UnsupportedModelError: If any layer cannot be expressed (all are listed).
    """
    graph, unsupported = read_graph(source.config)
    if unsupported:
        raise UnsupportedModelError(source.label, unsupported)
    document = spec_document(graph, blocks=blocks, weights=weights, name=name)
    header = [f"Imported from {source.label} by 'modelspec import'."]
    return Converted(graph, document, dump_spec(document, header))


def spec_document(graph: ImportGraph, *, blocks: bool = True, weights: str | None = None,
                  name: str | None = None) -> dict:
    """The spec document (plain data, as a person writes it) of an imported graph.

    A model with nested models becomes a `models:` spec: the nested ones first, called as
    `{model: name}`, the outer one last.
    """
    all_blocks: dict = {}
    graphs = {**graph.submodels, graph.name: graph}
    written = {key: _graph_document(g, all_blocks if blocks else None)
               for key, g in graphs.items()}
    if weights is not None:
        written[graph.name]["weights"] = weights
    document: dict = {"modelspec": 1, "name": _spec_name(name or graph.name)}
    if all_blocks:
        document["blocks"] = all_blocks
    if len(written) == 1:
        document["model"] = written[graph.name]
    else:
        document["models"] = written
    return document


def _graph_document(graph: ImportGraph, blocks: dict | None) -> dict:
    """One model's `inputs`, `layers` and `outputs`; its blocks are added to `blocks`."""
    inputs = {key: _input_decl(decl) for key, decl in graph.inputs.items()}
    only = next(iter(graph.inputs)) if len(graph.inputs) == 1 else None
    rename: dict = {}
    items = None
    if blocks is not None:
        outputs = {ref.node for ref in graph.outputs.values()}
        found, rename = find_blocks(graph.nodes, only, outputs, set(blocks))
        if found.blocks:
            blocks.update(found.blocks)
            items = found.items
    if items is None:
        items, rename = node_items(graph.nodes, only), {}
    return {"inputs": inputs, "layers": items,
            "outputs": {key: ImportRef(rename.get(ref.node, ref.node), ref.port).text()
                        for key, ref in graph.outputs.items()}}


def _input_decl(decl: dict) -> dict:
    out: dict = {"shape": list(decl["shape"])}
    if decl.get("dtype", "float32") != "float32":
        out["dtype"] = decl["dtype"]
    return out


def _spec_name(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return text if re.match(r"^[A-Za-z]", text) else f"m{text}"


def write_spec(source: ModelSource, output: Path, *, weights: bool = False,
               blocks: bool = True, name: str | None = None) -> list[Path]:
    """Converts, writes the weights (optional) and the spec, checked; returns the paths.

    The spec is checked (`modelspec validate`'s checks) before it is written; it names its
    weights file relative to itself.
    """
    from modelspec.fileio import atomic_write_text
    from modelspec.importer.weights import weights_path, write_weights
    from modelspec.lang.checks import check
    from modelspec.lang.yamlio import load_text

    if weights and source.archive is None and source.model is None:
        raise UsageError(f"'{source.label}' holds no weights (a JSON config is the "
                         "architecture only) — expected a .keras file or an application")
    target = weights_path(output) if weights else None
    result = convert(source, blocks=blocks, weights=target.name if target else None,
                     name=name)
    output.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if target is not None:
        written.append(write_weights(source, target))
    try:
        check(load_text(result.text, str(output), path=output))
    except SpecError as err:  # the writer produced an invalid spec: a bug in modelspec
        raise RuntimeError(f"the imported spec does not pass its checks:\n{err}") from None
    written.insert(0, atomic_write_text(output, result.text))
    return written
