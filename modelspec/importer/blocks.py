"""Finding where a model repeats itself, and writing it as `blocks:` with `repeat`,
`first` and `vary`.

1. **Segments.** The graph is cut wherever exactly one tensor is alive (every later layer
   reads only that tensor or later ones): each piece between two cuts has one entry and one
   exit — a layer of a chain, or a whole residual block, dense-block layer or Inception
   module.
2. **Runs.** Consecutive segments with the same structure (layer types and wiring) are one
   run: a layer with `repeat: n`, or a block called with `repeat: n`. A multi-layer segment
   whose structure occurs twice or more anywhere becomes a block definition.
3. **Units.** A sequence of runs that repeats itself (VGG's `conv×n, pool`; ResNet's
   `projection block, identity blocks×n`; DenseNet's `dense layers×n, transition`) becomes a
   block of blocks, called with `repeat`, its run lengths as parameters.

Arguments that differ between the copies become block parameters; the values of a call's
copies are written as one value, as `first:` (only copy 0 differs: ResNet's first block of
a stage) or as `vary:` (one value per copy).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelspec.importer.arguments import compact
from modelspec.importer.keras_graph import ImportNode, ImportRef
from modelspec.importer.writer import node_items
from modelspec.lang import registry
from modelspec.lang.flatgraph import keras_style_name

BLOCK_INPUT = "input"
MAX_UNIT_TOKENS = 6
_MISSING = object()
_MERGES = {"Add", "Concatenate", "Multiply", "Subtract", "Average", "Maximum", "Minimum"}
_TRAILING = {"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"}


@dataclass
class Segment:
    """Consecutive nodes reading only `entry` from outside; the last one is the exit."""

    nodes: list[ImportNode]
    entry: str | None
    blockable: bool

    @property
    def signature(self) -> tuple:
        index = {node.id: i for i, node in enumerate(self.nodes)}
        return tuple((node.type, node.trainable, tuple(
            -1 if ref.node == self.entry else index.get(ref.node, -2) for ref in node.inputs))
            for node in self.nodes)


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


def find_blocks(nodes: list[ImportNode], only_input: str | None, outputs: set[str],
                block_names: set | None = None) -> tuple[FoundBlocks, dict[str, str]]:
    """Finds repeated structure in `nodes` and returns blocks and the model's items.

    Args:
        nodes: The graph's nodes in creation order.
        only_input: The graph's input when it has exactly one (the first layer reads it).
        outputs: Ids of the nodes the model's outputs read.
        block_names: Block names already taken (by other models of the spec); updated.

    Returns:
        The blocks and items, and the names under which nodes that were folded into block
        calls are written (a block call's id stands for its last layer's output).
    """
    tokens = _runs(_absorb_activations(segments(nodes, only_input, outputs)))
    writer = _Writer(tokens, {node.id for node in nodes}, only_input,
                     block_names if block_names is not None else set())
    return writer.write()


# -- 1. segments -------------------------------------------------------------------------

def segments(nodes: list[ImportNode], only_input: str | None,
             outputs: set[str]) -> list[Segment]:
    """Cuts the node list where exactly one tensor (the last node's output) is alive."""
    count = len(nodes)
    position = {node.id: i for i, node in enumerate(nodes)}
    last_use: dict[str, int] = {}
    shared = {node.shares for node in nodes if node.shares}
    ported = set()
    for i, node in enumerate(nodes):
        for ref in _reads(node):
            last_use[ref.node] = i
            if ref.port is not None:
                ported.add(ref.node)
    for name in outputs:
        last_use[name] = count
    alive = max([use for name, use in last_use.items() if name not in position] or [-1])
    out, start = [], 0
    for i, node in enumerate(nodes):
        if alive <= i:  # nothing before node i is read after it
            chunk = nodes[start:i + 1]
            entry = nodes[start - 1].id if start > 0 else only_input
            ok = entry is not None and all(_blockable(n, shared, ported) for n in chunk)
            out.append(Segment(chunk, entry, ok))
            start = i + 1
        alive = max(alive, last_use.get(node.id, count))
    if start < count:
        out.append(Segment(nodes[start:], None, False))
    return out


def _absorb_activations(segs: list[Segment]) -> list[Segment]:
    """Joins the activation after a merge to its segment (ResNet's `add → relu`)."""
    out: list[Segment] = []
    for seg in segs:
        last = out[-1] if out else None
        if last is not None and len(seg.nodes) == 1 and seg.nodes[0].type in _TRAILING \
                and last.blockable and seg.blockable and len(last.nodes) > 1 \
                and (last.nodes[-1].type in _MERGES or last.nodes[-2].type in _MERGES):
            last.nodes.append(seg.nodes[0])
        else:
            out.append(seg)
    return out


def _reads(node: ImportNode) -> Iterator[ImportRef]:
    yield from node.inputs


def _blockable(node: ImportNode, shared: set, ported: set) -> bool:
    return (node.shares is None and not node.call and node.id not in shared
            and node.id not in ported and node.type is not None
            and all(ref.port is None for ref in node.inputs))


# -- 2. runs ---------------------------------------------------------------------------

def _runs(segs: list[Segment]) -> list[Token]:
    """Groups consecutive segments of the same structure (single layers: same arguments)."""
    tokens: list[Token] = []
    for seg in segs:
        last = tokens[-1] if tokens else None
        if last is not None and seg.blockable and last.blockable \
                and last.signature == seg.signature and (
                    len(seg.nodes) > 1 or seg.nodes[0].args == last.copies[-1].nodes[0].args):
            last.copies.append(seg)
        else:
            tokens.append(Token([seg]))
    return tokens


# -- argument values -------------------------------------------------------------------

def _value(node: ImportNode, key: str) -> Any:
    """A node's argument as written, or Keras's default (compacted) when left out."""
    if key in node.args:
        return node.args[key]
    default = registry.layer_arguments(node.type or "").get(key, _MISSING)
    return _MISSING if default is _MISSING else compact(key, default)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _same(values: list) -> bool:
    return all(_key(v) == _key(values[0]) for v in values)


def spread(values: list) -> tuple:
    """How the values of a call's copies are written: ("one", v), ("first", v0, v) or
    ("vary", values)."""
    if _same(values):
        return ("one", values[0])
    if len(values) >= 2 and _same(values[1:]):
        return ("first", values[0], values[1])
    return ("vary", list(values))


def _common_value(values: list) -> Any:
    counts = Counter(_key(v) for v in values)
    best = counts.most_common(1)[0][0]
    return next(v for v in values if _key(v) == best)


def put_spread(item: dict, key: str, values: list, default: Any = _MISSING) -> None:
    """Writes the copies' values of `key` into a layer item or block call."""
    shape = spread(values)
    if shape[0] == "one":
        if default is _MISSING or _key(shape[1]) != _key(default):
            item[key] = shape[1]
    elif shape[0] == "first":
        if default is _MISSING or _key(shape[2]) != _key(default):
            item[key] = shape[2]
        item.setdefault("first", {})[key] = shape[1]
    else:
        item.setdefault("vary", {})[key] = shape[1]


# -- names -----------------------------------------------------------------------------

def _prefix(names: list[str]) -> str:
    """The longest common prefix of `names` that ends at an underscore ('' if none)."""
    if len(names) < 2:
        return ""
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    cut = common.rfind("_")
    return common[:cut + 1] if cut >= 0 else ""


def _tidy(text: str, fallback: str) -> str:
    text = re.sub(r"__+", "_", text).strip("_")
    if text and text[0].isdigit():  # "1_conv" → "conv_1": ids start with a letter
        parts = text.split("_")
        words = [p for p in parts if not p.isdigit()]
        text = "_".join(words + [p for p in parts if p.isdigit()]) if words else ""
    return text if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text or "") else fallback


def _block_name(prefix: str, fallback: str) -> str:
    return _tidy(re.sub(r"\d+", "", prefix), fallback)


def _unique(name: str, taken: set) -> str:
    candidate, n = name, 1
    while candidate in taken or candidate == BLOCK_INPUT:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


# -- block definitions -----------------------------------------------------------------

@dataclass
class _SegBlock:
    """The definition of a multi-layer segment that occurs more than once."""

    name: str
    definition: dict
    bindings: dict                  # param → (node index, argument)
    defaults: dict                  # param → default value

    def values(self, seg: Segment) -> dict:
        return {p: _value(seg.nodes[j], k) for p, (j, k) in self.bindings.items()}


def _seg_block(instances: list[Segment], block_names: set) -> _SegBlock:
    first = instances[0]
    prefix = _prefix([node.id for node in first.nodes])
    local_taken: set = set()
    local = {}
    for node in first.nodes:
        rest = node.id[len(prefix):]
        local[node.id] = _unique(_tidy(rest, keras_style_name(node.type or "layer")),
                                 local_taken)
    params: dict[str, Any] = {}
    bindings: dict[str, tuple[int, str]] = {}
    vectors: dict[tuple, str] = {}
    nodes = []
    for j, node in enumerate(first.nodes):
        args = {}
        keys = list(dict.fromkeys(k for seg in instances for k in seg.nodes[j].args))
        for key in keys:
            values = [_value(seg.nodes[j], key) for seg in instances]
            default = _value(ImportNode("", node.type, {}, []), key)
            if _same(values):
                if _key(values[0]) != _key(default):
                    args[key] = values[0]
                continue
            vector = tuple(_key(v) for v in values)
            derived = _multiple_of(values, {n: [p for p in _param_values(instances, b)]
                                            for n, b in bindings.items()})
            if vector not in vectors and derived is not None:
                args[key] = derived
                continue
            if vector not in vectors:
                name = _unique(key if key not in params else f"{local[node.id]}_{key}",
                               set(params))
                vectors[vector] = name
                params[name] = _common_value(values)
                bindings[name] = (j, key)
            args[key] = f"${vectors[vector]}"
        inputs = [ImportRef(BLOCK_INPUT if r.node == first.entry else local[r.node])
                  for r in node.inputs]
        nodes.append(ImportNode(local[node.id], node.type, args, inputs,
                                trainable=node.trainable))
    definition: dict[str, Any] = {}
    if params:
        definition["params"] = params
    definition["layers"] = node_items(nodes, BLOCK_INPUT)
    name = _unique(_block_name(prefix, f"{keras_style_name(first.nodes[-1].type or '')}"
                                       "_block"), block_names)
    return _SegBlock(name, definition, bindings, params)


def _param_values(instances: list[Segment], binding: tuple[int, str]) -> list:
    j, key = binding
    return [_value(seg.nodes[j], key) for seg in instances]


def _multiple_of(values: list, params: dict[str, list]) -> str | None:
    """`$(4 * filters)` when `values` are a whole multiple of a parameter's values."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        return None
    for name, base in params.items():
        if not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in base):
            continue
        if values[0] % base[0] == 0 and values[0] // base[0] >= 2:
            factor = values[0] // base[0]
            if all(v == factor * b for v, b in zip(values, base, strict=True)):
                return f"$({factor} * {name})"
    return None


# -- writing the model -----------------------------------------------------------------

class _Writer:
    """Writes the runs of a model as layer items, block calls and unit-block calls."""

    def __init__(self, tokens: list[Token], node_ids: set, only_input: str | None,
                 block_names: set):
        self.tokens = tokens
        self.taken = set(node_ids) | ({only_input} if only_input else set())
        self.previous = only_input
        self.found = FoundBlocks()
        self.rename: dict[str, str] = {}
        self.block_names = block_names
        self.seg_blocks: dict[tuple, _SegBlock] = {}

    def write(self) -> tuple[FoundBlocks, dict]:
        instances: dict[tuple, list[Segment]] = {}
        for token in self.tokens:
            if token.blockable and not token.is_layer:
                for seg in token.copies:
                    instances.setdefault(seg.signature, []).append(seg)
        for sig, segs in instances.items():
            if len(segs) >= 2:
                block = _seg_block(segs, self.block_names)
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
    def add(self, item: dict, entry: str | None, exit_id: str) -> None:
        written = self.rename.get(entry, entry) if entry is not None else None
        if written != self.previous and written is not None:
            item["in"] = written
        self.found.items.append(item)
        self.rename[exit_id] = item["id"]
        self.previous = item["id"]

    def emit_token(self, token: Token) -> None:
        block = self.seg_blocks.get(token.signature) if token.blockable else None
        nodes = [node for seg in token.copies for node in seg.nodes]
        if block is not None:
            ids = [node.id for node in nodes]
            item: dict[str, Any] = {"id": _unique(_tidy(_prefix(ids), block.name), self.taken),
                                    "block": block.name}
            per_copy = [block.values(seg) for seg in token.copies]
            for param, default in block.defaults.items():
                put_spread(item, param, [v[param] for v in per_copy], default)
            if len(token.copies) > 1:
                item["repeat"] = len(token.copies)
            self.add(item, token.copies[0].entry, nodes[-1].id)
        elif token.is_layer and len(token.copies) > 1:
            node = nodes[0]
            name = _tidy(re.sub(r"_?\d+$", "", _prefix([n.id for n in nodes]) or node.id),
                         keras_style_name(node.type or "layer"))
            item = {"id": _unique(name, self.taken), "type": node.type, **node.args,
                    "repeat": len(nodes)}
            if node.trainable is not None:
                item["trainable"] = node.trainable
            self.add(item, token.copies[0].entry, nodes[-1].id)
        else:
            renamed = [_renamed(node, self.rename) for node in nodes]
            items = node_items(renamed, self.previous)
            self.found.items.extend(items)
            self.previous = nodes[-1].id

    # units: a repeating sequence of runs
    def shape(self, token: Token) -> tuple | None:
        if not token.blockable:
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
        """(block definition, per-instance parameter values), or None if not expressible."""
        ids = [n.id for tok in instances[0] for seg in tok.copies for n in seg.nodes]
        uprefix = _prefix(ids)
        unit = _Unit(len(instances))
        local_taken: set = set()
        for t, token in enumerate(instances[0]):
            row = [inst[t] for inst in instances]
            tid = _unique(_token_id(token, uprefix, self.seg_blocks), local_taken)
            if token.is_layer:
                node = token.copies[0].nodes[0]
                item: dict[str, Any] = {"id": tid, "type": node.type}
                keys = dict.fromkeys(k for tok in row for seg in tok.copies
                                     for k in seg.nodes[0].args)
                matrices = {k: [[_value(seg.nodes[0], k) for seg in tok.copies]
                                for tok in row] for k in keys}
                defaults = {k: _value(ImportNode("", node.type, {}, []), k) for k in keys}
                if node.trainable is not None:
                    item["trainable"] = node.trainable
            else:
                block = self.seg_blocks[token.signature]
                item = {"id": tid, "block": block.name}
                matrices = {p: [[block.values(seg)[p] for seg in tok.copies] for tok in row]
                            for p in block.defaults}
                defaults = block.defaults
            for key, matrix in matrices.items():
                if not unit.bind(item, key, matrix, defaults.get(key, _MISSING), tid):
                    return None
            counts = [len(tok.copies) for tok in row]
            unit.place(item, "repeat", counts, 1, f"{tid}_repeat")
            unit.items.append(item)
        name = _unique(_block_name(uprefix, "stage"), self.block_names | set(self.found.blocks))
        every = [n.id for inst in instances for tok in inst for seg in tok.copies
                 for n in seg.nodes]
        call = _tidy(_prefix(every), "") or _tidy(re.sub(r"\d+_?$", "", uprefix), name)
        return name, unit, call

    def emit_unit(self, tokens: list[Token], count: int, template: tuple) -> None:
        name, unit, call_name = template
        self.block_names.add(name)
        definition = {"params": unit.params} if unit.params else {}
        definition["layers"] = unit.items
        self.found.blocks[name] = definition
        item = {"id": _unique(call_name, self.taken), "block": name}
        for param, default in unit.params.items():
            put_spread(item, param, [values[param] for values in unit.values], default)
        item["repeat"] = count
        last = tokens[-1].copies[-1].nodes[-1].id
        self.add(item, tokens[0].copies[0].entry, last)


class _Unit:
    """A unit block being built: its items, parameters and each instance's values."""

    def __init__(self, count: int):
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
            self.place(first, key, [shape[1] for shape in shapes], _MISSING, f"{key}_first")
        return True

    def place(self, target: dict, key: str, values: list, default: Any,
              name: str) -> None:
        if _same(values):
            if default is _MISSING or _key(values[0]) != _key(default):
                target[key] = values[0]
            return
        vector = tuple(_key(v) for v in values)
        derived = _multiple_of(values, {p: [inst[p] for inst in self.values]
                                        for p in self.params})
        if vector not in self.vectors and derived is not None:
            target[key] = derived
            return
        if vector not in self.vectors:
            pname = _unique(name, set(self.params))
            self.vectors[vector] = pname
            self.params[pname] = _common_value(values)
            for u, value in enumerate(values):
                self.values[u][pname] = value
        target[key] = f"${self.vectors[vector]}"


def _token_id(token: Token, uprefix: str, seg_blocks: dict) -> str:
    ids = [n.id for seg in token.copies for n in seg.nodes]
    fallback = (keras_style_name(token.copies[0].nodes[0].type or "layer") if token.is_layer
                else seg_blocks[token.signature].name)
    common = _prefix(ids) if len(ids) > 1 else ids[0]
    if token.is_layer and len(ids) > 1:
        common = re.sub(r"_?\d+$", "", common) or re.sub(r"\d+$", "", ids[0])
    if common.startswith(uprefix):
        common = common[len(uprefix):]
    if token.is_layer and len(ids) > 1 and not common:
        common = re.sub(r"\d+$", "", ids[0][len(uprefix):])
    return _tidy(common, fallback)


def _renamed(node: ImportNode, rename: dict) -> ImportNode:
    inputs = [ImportRef(rename.get(r.node, r.node), r.port) for r in node.inputs]
    return ImportNode(node.id, node.type, node.args, inputs, node.call, node.trainable,
                      node.shares, node.keras_name, node.model)
