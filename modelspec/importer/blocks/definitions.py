"""The definition of a piece that occurs more than once: its layers with block-local
ids, and a parameter for every argument that differs between its occurrences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelspec.importer.blocks import names
from modelspec.importer.blocks.segments import Segment
from modelspec.importer.blocks.values import (
    common_value,
    default_value,
    key_of,
    multiple_of,
    same,
    value,
)
from modelspec.importer.keras_graph import ImportNode, ImportRef
from modelspec.importer.writer import node_items
from modelspec.lang.flatgraph import keras_style_name


@dataclass
class SegBlock:
    """A block made from equal pieces: its name, definition and parameter bindings."""

    name: str
    definition: dict
    bindings: dict                  # param → (node index, argument)
    defaults: dict                  # param → default value
    inputs: list[str]               # the block's input names
    local_ids: list[str]            # each layer's id inside the block

    def values(self, seg: Segment) -> dict:
        """The parameters' values of one occurrence."""
        return {p: value(seg.nodes[j], k) for p, (j, k) in self.bindings.items()}


def input_names(seg: Segment) -> list[str]:
    return [names.BLOCK_INPUT] if len(seg.entries) <= 1 else names.TWO_INPUTS[:len(seg.entries)]


def seg_block(instances: list[Segment], block_names: set) -> SegBlock:
    """The block of `instances` (pieces of the same structure), named after their layers."""
    first = instances[0]
    inputs = input_names(first)
    local = _local_ids(first)
    params: dict[str, Any] = {}
    bindings: dict[str, tuple[int, str]] = {}
    vectors: dict[tuple, str] = {}
    nodes = []
    for j, node in enumerate(first.nodes):
        args = {}
        keys = list(dict.fromkeys(k for seg in instances for k in seg.nodes[j].args))
        for key in keys:
            values = [value(seg.nodes[j], key) for seg in instances]
            if same(values):
                if key_of(values[0]) != key_of(default_value(node.type, key)):
                    args[key] = values[0]
                continue
            vector = tuple(key_of(v) for v in values)
            derived = multiple_of(values, {n: _param_values(instances, b)
                                           for n, b in bindings.items()})
            if vector not in vectors and derived is not None:
                args[key] = derived
                continue
            if vector not in vectors:
                name = names.unique(key if key not in params else f"{local[node.id]}_{key}",
                                    set(params))
                vectors[vector] = name
                params[name] = common_value(values)
                bindings[name] = (j, key)
            args[key] = f"${vectors[vector]}"
        outside = dict(zip(first.entries, inputs, strict=False))
        refs = [ImportRef(outside.get(r.node) or local[r.node]) for r in node.inputs]
        nodes.append(ImportNode(local[node.id], node.type, args, refs,
                                trainable=node.trainable))
    definition: dict[str, Any] = {}
    if params:
        definition["params"] = params
    if inputs != [names.BLOCK_INPUT]:
        definition["inputs"] = list(inputs)
    definition["layers"] = node_items(nodes, inputs[0])
    name = names.unique(_block_name(first, local), block_names)
    return SegBlock(name, definition, bindings, params, inputs,
                    [local[node.id] for node in first.nodes])


def _block_name(seg: Segment, local: dict[str, str]) -> str:
    """Named after the layers' common prefix (`conv2_block1_` → `conv_block`); a
    two-input block after its output layer's first word (`normal_concat_5` → `normal_cell`)."""
    fallback = keras_style_name(seg.nodes[-1].type or "") + "_block"
    common, _ = _affixes(seg)
    if common:
        return names.block_name(common, fallback)
    if len(seg.entries) > 1:
        word = local[seg.exit].split("_")[0]
        return names.tidy(f"{word}_cell", fallback)
    return fallback


def _affixes(seg: Segment) -> tuple[str, str]:
    """The common prefix of the piece's layer names, or else the suffix most of them share
    (NASNet's `normal_conv_1_5`, `normal_add_1_5`: `_5`); automatic names such as
    `activation_3` do not count."""
    ids = [node.id for node in seg.nodes]
    common = names.prefix(ids)
    if common or len(ids) < 4:
        return common, ""
    best = ""
    for a, b in zip(ids, ids[1:], strict=False):
        candidate = names.prefix([a[::-1], b[::-1]])[::-1]
        covered = sum(i.endswith(candidate) for i in ids) if candidate else 0
        if covered * 2 > len(ids) and len(candidate) > len(best):
            best = candidate
    return "", best


def _local_ids(seg: Segment) -> dict[str, str]:
    head, tail = _affixes(seg)
    taken: set = set()
    local = {}
    for node in seg.nodes:
        rest = node.id[len(head):] if head and node.id.startswith(head) else node.id
        if tail and rest.endswith(tail) and len(rest) > len(tail):
            rest = rest[:-len(tail)]
        local[node.id] = names.unique(names.tidy(rest, keras_style_name(node.type or "layer")),
                                      taken)
    return local


def _param_values(instances: list[Segment], binding: tuple[int, str]) -> list:
    j, key = binding
    return [value(seg.nodes[j], key) for seg in instances]
