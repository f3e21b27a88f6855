"""Writing a model's pieces as layer items, block calls and calls of blocks of blocks.

1. **Runs.** Consecutive pieces of the same structure are one run: a layer with
   `repeat: n`, or a block called with `repeat: n` (a two-input block's copies each read
   the copy before's output and that copy's first input).
2. **Units.** A sequence of single-input runs that repeats itself (VGG's `conv×n, pool`;
   ResNet's `projection block, identity blocks×n`; DenseNet's `dense layers×n,
   transition`) becomes a block of blocks, called with `repeat`, its run lengths as
   parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from modelspec.importer.blocks import names
from modelspec.importer.blocks.definitions import SegBlock, seg_block
from modelspec.importer.blocks.segments import Segment
from modelspec.importer.blocks.values import (
    MISSING,
    common_value,
    default_value,
    key_of,
    multiple_of,
    put_spread,
    same,
    spread,
    value,
)
from modelspec.importer.keras_graph import ImportNode, ImportRef
from modelspec.importer.writer import node_items
from modelspec.lang.flatgraph import keras_style_name

MAX_UNIT_TOKENS = 6


@dataclass
class Token:
    """A run: one or more consecutive segments of the same structure."""

    copies: list[Segment]

    @property
    def signature(self) -> tuple:
        return self.copies[0].signature

    @property
    def is_layer(self) -> bool:
        return len(self.copies[0].nodes) == 1

    @property
    def blockable(self) -> bool:
        return all(seg.blockable for seg in self.copies)


@dataclass
class FoundBlocks:
    """The `blocks:` mapping and the model's layer items that call them."""

    blocks: dict = field(default_factory=dict)
    items: list = field(default_factory=list)


def runs(segs: list[Segment]) -> list[Token]:
    """Groups consecutive segments of the same structure (single layers: same arguments)."""
    tokens: list[Token] = []
    for seg in segs:
        last = tokens[-1] if tokens else None
        if last is not None and seg.blockable and last.blockable \
                and last.signature == seg.signature and seg.follows(last.copies[-1]) and (
                    len(seg.nodes) > 1 or seg.nodes[0].args == last.copies[-1].nodes[0].args):
            last.copies.append(seg)
        else:
            tokens.append(Token([seg]))
    return tokens


class Writer:
    """Writes the runs of a model as layer items, block calls and unit-block calls."""

    def __init__(self, tokens: list[Token], node_ids: set[str], only_input: str | None,
                 block_names: set[str]) -> None:
        self.tokens = tokens
        self.taken = set(node_ids) | ({only_input} if only_input else set())
        self.previous = only_input
        self.found = FoundBlocks()
        self.rename: dict[str, str] = {}
        self.block_names = block_names
        self.seg_blocks: dict[tuple, SegBlock] = {}

    def write(self) -> tuple[FoundBlocks, dict]:
        """The blocks and items, and the names of nodes folded into block calls."""
        instances: dict[tuple, list[Segment]] = {}
        for token in self.tokens:
            if token.blockable and not token.is_layer:
                for seg in token.copies:
                    instances.setdefault(seg.signature, []).append(seg)
        for sig, segs in instances.items():
            if len(segs) >= 2:
                block = seg_block(segs, self.block_names)
                self.seg_blocks[sig] = block
                self.found.blocks[block.name] = block.definition
        index = 0
        while index < len(self.tokens):
            unit = self.find_unit(index)
            if unit is not None:
                length, count, template = unit
                self.emit_unit(self.tokens[index:index + length * count], count, template)
                index += length * count
            else:
                self.emit_token(self.tokens[index])
                index += 1
        return self.found, self.rename

    # top-level items
    def add(self, item: dict, token: Token, block: SegBlock | None = None) -> None:
        """Adds a call item that stands for `token`'s copies (the last one's output).

        Later pieces may read a layer inside a two-input block call's last copy
        (`cell.reduction_concat`) or the copy before it (its first input, `cells.x`).
        """
        entries = [self.rename.get(e, e) for e in token.copies[0].entries]
        if len(entries) > 1:
            item["in"] = entries
        elif entries and entries[0] != self.previous:
            item["in"] = entries[0]
        self.found.items.append(item)
        if block is not None:
            for node, local in zip(token.copies[-1].nodes, block.local_ids, strict=True):
                self.rename[node.id] = f"{item['id']}.{local}"
        if len(token.copies) > 1 and len(token.copies[-1].entries) > 1:
            self.rename[token.copies[-2].exit] = f"{item['id']}.{names.TWO_INPUTS[0]}"
        self.rename[token.copies[-1].exit] = item["id"]
        self.previous = item["id"]

    def emit_token(self, token: Token) -> None:
        block = self.seg_blocks.get(token.signature) if token.blockable else None
        nodes = [node for seg in token.copies for node in seg.nodes]
        if block is not None:
            ids = [node.id for node in nodes]
            item: dict[str, Any] = {
                "id": names.unique(names.tidy(names.prefix(ids), block.name), self.taken),
                "block": block.name}
            per_copy = [block.values(seg) for seg in token.copies]
            for param, default in block.defaults.items():
                put_spread(item, param, [v[param] for v in per_copy], default)
            if len(token.copies) > 1:
                item["repeat"] = len(token.copies)
            self.add(item, token, block)
        elif token.is_layer and len(token.copies) > 1:
            node = nodes[0]
            name = names.tidy(re.sub(r"_?\d+$", "", names.prefix([n.id for n in nodes])
                                     or node.id), keras_style_name(node.type or "layer"))
            item = {"id": names.unique(name, self.taken), "type": node.type, **node.args,
                    "repeat": len(nodes)}
            if node.trainable is not None:
                item["trainable"] = node.trainable
            self.add(item, token)
        else:
            renamed = [_renamed(node, self.rename) for node in nodes]
            items = node_items(renamed, self.previous)
            self.found.items.extend(items)
            self.previous = nodes[-1].id

    # units: a repeating sequence of runs
    def shape(self, token: Token) -> tuple | None:
        if not token.blockable or len(token.copies[0].entries) != 1:
            return None
        if not token.is_layer and token.signature not in self.seg_blocks:
            return None
        return (token.is_layer, token.signature)

    def find_unit(self, start: int) -> tuple | None:
        """The best (length, count, template) of a unit repeating from `start`, or None."""
        best = None
        for length in range(2, MAX_UNIT_TOKENS + 1):
            shapes = [self.shape(t) for t in self.tokens[start:start + length]]
            if len(shapes) < length or None in shapes:
                break
            count = 1
            while [self.shape(t) for t in self.tokens[start + count * length:
                                                       start + (count + 1) * length]] == shapes:
                count += 1
            if count < 2:
                continue
            size = sum(len(seg.nodes) for t in self.tokens[start:start + length]
                       for seg in t.copies)
            if best is not None and (count - 1) * size <= best[0]:
                continue
            instances = [self.tokens[start + u * length:start + (u + 1) * length]
                         for u in range(count)]
            template = self.unit_template(instances)
            if template is not None:
                best = ((count - 1) * size, length, count, template)
        return None if best is None else best[1:]

    def unit_template(self, instances: list[list[Token]]) -> tuple | None:
        """(block name, unit, call name), or None if not expressible."""
        ids = [n.id for tok in instances[0] for seg in tok.copies for n in seg.nodes]
        uprefix = names.prefix(ids)
        unit = _Unit(len(instances))
        local_taken: set = set()
        for t, token in enumerate(instances[0]):
            row = [inst[t] for inst in instances]
            tid = names.unique(_token_id(token, uprefix, self.seg_blocks), local_taken)
            if token.is_layer:
                node = token.copies[0].nodes[0]
                item: dict[str, Any] = {"id": tid, "type": node.type}
                keys = dict.fromkeys(k for tok in row for seg in tok.copies
                                     for k in seg.nodes[0].args)
                matrices = {k: [[value(seg.nodes[0], k) for seg in tok.copies]
                                for tok in row] for k in keys}
                defaults = {k: default_value(node.type, k) for k in keys}
                if node.trainable is not None:
                    item["trainable"] = node.trainable
            else:
                block = self.seg_blocks[token.signature]
                item = {"id": tid, "block": block.name}
                matrices = {p: [[block.values(seg)[p] for seg in tok.copies] for tok in row]
                            for p in block.defaults}
                defaults = block.defaults
            for key, matrix in matrices.items():
                if not unit.bind(item, key, matrix, defaults.get(key, MISSING), tid):
                    return None
            counts = [len(tok.copies) for tok in row]
            unit.place(item, "repeat", counts, 1, f"{tid}_repeat")
            unit.items.append(item)
        name = names.unique(names.block_name(uprefix, "stage"),
                            self.block_names | set(self.found.blocks))
        every = [n.id for inst in instances for tok in inst for seg in tok.copies
                 for n in seg.nodes]
        call = names.tidy(names.prefix(every), "") or names.tidy(
            re.sub(r"\d+_?$", "", uprefix), name)
        return name, unit, call

    def emit_unit(self, tokens: list[Token], count: int, template: tuple) -> None:
        name, unit, call_name = template
        self.block_names.add(name)
        definition = {"params": unit.params} if unit.params else {}
        definition["layers"] = unit.items
        self.found.blocks[name] = definition
        item = {"id": names.unique(call_name, self.taken), "block": name}
        for param, default in unit.params.items():
            put_spread(item, param, [values[param] for values in unit.values], default)
        item["repeat"] = count
        entry = tokens[0].copies[0].entry
        written = self.rename.get(entry, entry) if entry is not None else None
        if written is not None and written != self.previous:
            item["in"] = written
        self.found.items.append(item)
        self.rename[tokens[-1].copies[-1].exit] = item["id"]
        self.previous = item["id"]


class _Unit:
    """A unit block being built: its items, parameters and each instance's values."""

    def __init__(self, count: int) -> None:
        self.items: list[dict] = []
        self.params: dict = {}
        self.values: list[dict] = [{} for _ in range(count)]
        self.vectors: dict = {}

    def bind(self, item: dict, key: str, matrix: list[list], default: Any,
             tid: str) -> bool:
        """Writes an argument whose copies' values are `matrix[instance][copy]`."""
        shapes = [spread(row) for row in matrix]
        if any(shape[0] == "vary" for shape in shapes):
            return False
        rest = [shape[-1] for shape in shapes]
        self.place(item, key, rest, default, key if key not in self.params else f"{tid}_{key}")
        if any(shape[0] == "first" for shape in shapes):
            first = item.setdefault("first", {})
            self.place(first, key, [shape[1] for shape in shapes], MISSING, f"{key}_first")
        return True

    def place(self, target: dict, key: str, values: list, default: Any,
              name: str) -> None:
        if same(values):
            if default is MISSING or key_of(values[0]) != key_of(default):
                target[key] = values[0]
            return
        vector = tuple(key_of(v) for v in values)
        derived = multiple_of(values, {p: [inst[p] for inst in self.values]
                                       for p in self.params})
        if vector not in self.vectors and derived is not None:
            target[key] = derived
            return
        if vector not in self.vectors:
            pname = names.unique(name, set(self.params))
            self.vectors[vector] = pname
            self.params[pname] = common_value(values)
            for u, val in enumerate(values):
                self.values[u][pname] = val
        target[key] = f"${self.vectors[vector]}"


def _token_id(token: Token, uprefix: str, seg_blocks: dict) -> str:
    ids = [n.id for seg in token.copies for n in seg.nodes]
    fallback = (keras_style_name(token.copies[0].nodes[0].type or "layer") if token.is_layer
                else seg_blocks[token.signature].name)
    common = names.prefix(ids) if len(ids) > 1 else ids[0]
    if token.is_layer and len(ids) > 1:
        common = re.sub(r"_?\d+$", "", common) or re.sub(r"\d+$", "", ids[0])
    if common.startswith(uprefix):
        common = common[len(uprefix):]
    if token.is_layer and len(ids) > 1 and not common:
        common = re.sub(r"\d+$", "", ids[0][len(uprefix):])
    return names.tidy(common, fallback)


def _renamed(node: ImportNode, rename: dict) -> ImportNode:
    inputs = [ImportRef(rename.get(r.node, r.node), r.port) for r in node.inputs]
    return ImportNode(node.id, node.type, node.args, inputs, node.call, node.trainable,
                      node.shares, node.keras_name, node.model)
