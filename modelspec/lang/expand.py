"""Expands a layer graph — params, blocks, repeat/first/vary, if — into a flat graph.

The result is a list of `Node`s in creation order, each reading earlier nodes through
`Ref`s, with readable unique names (`stage2_0_conv1`) and, for error messages, the document
path it came from and its block-expansion path. Everything is checked here that can be
checked without TensorFlow: unique ids, references that resolve (with did-you-mean), no
reference to a later id, block parameters supplied, `vary` lengths, output ports.

Example:
>>> flat = expand_graph(spec_data["model"], ("model",), blocks, params, errs)
>>> [n.name for n in flat.nodes]
['conv2d', 'stage1_0_conv1', ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang import registry
from modelspec.lang.expr import REF_NAME, ExpressionError
from modelspec.lang.flatgraph import FlatGraph, Node, Ref, check_connected  # noqa: F401
from modelspec.lang.flatgraph import keras_style_name as _snake
from modelspec.lang.schema.document import COMMON_KEYS
from modelspec.lang.spec import resolve_value

BLOCK_INPUT = "input"
DEFAULT_PORT = "out"  # what `in: enc` reads from a layer with several outputs
MAX_LAYERS = 10_000  # layers of one model after every repeat and nested block (ResNet-1001: 3,338)
MAX_REPEAT = 1000    # the schema's own bound on `repeat`, enforced here before expanding


class _TooLarge(Exception):
    """Stops an expansion that would exceed MAX_LAYERS (reported at the top-level item)."""


@dataclass
class _Instance:
    """A block instance in a scope: its output and its inner scope (for `stage2.conv1`)."""

    output: Ref
    scope: dict


class _Expander:
    def __init__(self, blocks: dict, params: dict, errs: Collector, models: set | dict):
        self.blocks = blocks or {}
        self.params = params
        self.errs = errs
        self.models = models
        self.nodes: list[Node] = []
        self.node_by_name: dict[str, Node] = {}
        self.names: set[str] = set()
        self.suffixes: dict[str, int] = {}
        self.depth = 0
        self.too_large = False

    # -- names and values ------------------------------------------------------------
    def unique(self, name: str) -> str:
        candidate, n = name, self.suffixes.get(name, 1)
        while candidate in self.names:
            n += 1
            candidate = f"{name}_{n}"
        self.suffixes[name] = n  # the next call resumes here: linear, not quadratic
        self.names.add(candidate)
        return candidate

    def resolve(self, value, names, path):
        try:
            return resolve_value(value, names), True
        except ExpressionError as err:
            self.errs.add(path, str(err), expected=err.expected,
                          suggestion=did_you_mean(err.name, names) if err.name else None)
            return None, False

    # -- references --------------------------------------------------------------------
    def lookup(self, text: str, scope: dict, later: dict, path, expansion) -> Ref | None:
        parts = text.split(".")
        head = parts[0]
        if head not in scope:
            if head in later:
                self.errs.add(path, f"'{head}' is defined later (line {later[head]}) — "
                              "a layer can read only inputs and earlier layers",
                              notes=expansion)
            else:
                self.errs.add(path, f"unknown layer or input '{head}'",
                              expected="the id of an earlier layer or an input name",
                              suggestion=did_you_mean(head, [k for k in scope if k]),
                              notes=expansion)
            return None
        entry = scope[head]
        if entry is _FAILED:
            return None
        for i, part in enumerate(parts[1:], start=1):
            if isinstance(entry, _Instance):
                if part not in entry.scope or part == BLOCK_INPUT:
                    self.errs.add(path, f"block instance '{'.'.join(parts[:i])}' has no layer "
                                  f"'{part}'", expected="the id of a layer inside the block",
                                  suggestion=did_you_mean(part, entry.scope), notes=expansion)
                    return None
                entry = entry.scope[part]
                continue
            if i != len(parts) - 1 or entry.port not in (None, DEFAULT_PORT):
                self.errs.add(path, f"'{text}' has too many parts", expected="id or id.port",
                              notes=expansion)
                return None
            node = self.node_by_name.get(entry.node)
            ports = node.ports if node is not None else None
            if ports is None or (part not in ports and not part.isdigit()):
                what = (f"one of its ports: {', '.join(ports)}" if ports else
                        "no port: this layer has a single output (ports exist for layers with "
                        "several outputs, e.g. an LSTM with return_state: true)")
                self.errs.add(path, f"'{entry.node}' has no output port '{part}'",
                              expected=what, suggestion=did_you_mean(part, ports or []),
                              notes=expansion)
                return None
            return Ref(entry.node, part)
        node = self.node_by_name.get(entry.node) if isinstance(entry, Ref) else None
        if node is not None and node.kind == "model" and node.ports and entry.port is None:
            self.errs.add(path, f"'{text}' calls model '{node.target}', which has several "
                          "outputs", expected="one of them: " + ", ".join(
                              f"{text}.{p}" for p in node.ports), notes=expansion)
            return None
        return entry.output if isinstance(entry, _Instance) else entry

    # -- layer lists -------------------------------------------------------------------
    def expand_list(self, items, path, scope, names, prefix, first_input, expansion):
        """Expands a list of layer items; returns (scope, last output Ref or None)."""
        later: dict[str, Any] = {}
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                line = self.errs.source.position(path + (i, "id"))[0]
                if item["id"] in later:
                    self.errs.add(path + (i, "id"), f"duplicate id '{item['id']}' "
                                  f"(first used at line {later[item['id']]})",
                                  expected="ids unique within a model or block", notes=expansion)
                else:
                    later[item["id"]] = line
                taken = scope.get(item["id"])
                if isinstance(taken, Ref) and taken.node.startswith("<input:"):
                    self.errs.add(path + (i, "id"), f"id '{item['id']}' is already an input "
                                  "name", expected="a new id", notes=expansion)
        prev = first_input
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("id"), str):
                later.pop(item["id"], None)
            ipath = path + (i,)
            try:
                out = self.expand_item(item, ipath, scope, later, names, prefix, prev, expansion)
            except _TooLarge:
                if expansion:  # reported once, at the outermost item that grew too large
                    raise
                self.errs.add(ipath, f"the model expands to more than {MAX_LAYERS:,} layers "
                              "(after every repeat and nested block)", expected="fewer "
                              "repeats or less deeply nested blocks")
                self.too_large = True
                return scope, None
            if isinstance(item.get("id"), str):  # not in scope: it failed, here or on an input
                scope.setdefault(item["id"], _FAILED)  # later uses are not errors of their own
            if out is not None:
                prev = out
        return scope, prev

    def expand_item(self, item, ipath, scope, later, names, prefix, prev, expansion):
        if "if" in item:
            cond, ok = self.resolve(item["if"], names, ipath + ("if",))
            if not ok:
                return prev
            if not isinstance(cond, bool):
                self.errs.add(ipath + ("if",), f"'if' must be true or false, got {cond!r}",
                              expected="a boolean or a comparison", notes=expansion)
                return prev
            if not cond:
                inputs = self.read_inputs(item, ipath, scope, later, prev, expansion)
                out = inputs[0] if inputs else prev
                if isinstance(item.get("id"), str) and out is not None:
                    scope[item["id"]] = out
                return out
        repeat = 1
        if "repeat" in item:
            repeat, ok = self.resolve(item["repeat"], names, ipath + ("repeat",))
            if not ok or not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
                if ok:
                    self.errs.add(ipath + ("repeat",), f"'repeat' must be a positive integer, "
                                  f"got {repeat!r}", expected="an integer ≥ 1", notes=expansion)
                return prev
            if repeat > MAX_REPEAT:
                self.errs.add(ipath + ("repeat",), f"'repeat' is {repeat}, more than "
                              f"{MAX_REPEAT}", expected=f"an integer from 1 to {MAX_REPEAT}",
                              notes=expansion)
                return prev
        vary = item.get("vary") or {}
        for key, values in vary.items():
            values, ok = self.resolve(values, names, ipath + ("vary", key))
            if not ok:
                return prev
            if not isinstance(values, list) or len(values) != repeat:
                got = len(values) if isinstance(values, list) else "not a list"
                self.errs.add(ipath + ("vary", key), f"'vary.{key}' has {got} values but "
                              f"'repeat' is {repeat}", expected=f"a list of {repeat} values, "
                              "one per copy", notes=expansion)
                return prev
        ident = item.get("id")
        base = ident if isinstance(ident, str) else None
        inputs = self.read_inputs(item, ipath, scope, later, prev, expansion)
        if inputs is None:
            return prev
        out, instance = None, None
        for copy in range(repeat):
            if base is not None:
                copy_name = f"{prefix}{base}" + (f"_{copy}" if repeat > 1 else "")
            else:
                copy_name = None
            overrides = {}
            if copy == 0 and isinstance(item.get("first"), dict):
                overrides.update({k: (v, ipath + ("first", k)) for k, v in item["first"].items()})
            for key, values in vary.items():
                values, _ = self.resolve(values, names, ipath + ("vary", key))
                overrides[key] = (values[copy], ipath + ("vary", key, copy))
            copy_expansion = expansion
            if repeat > 1:
                copy_expansion = expansion + (f"copy {copy} of {repeat} of "
                                              f"'{base or item.get('type') or item.get('block')}'"
                                              f" (line {self.errs.source.position(ipath)[0]})",)
            if "block" in item:
                out, instance = self.expand_block(item, ipath, scope, names, copy_name, inputs,
                                                  overrides, copy_expansion)
            else:
                out = self.make_node(item, ipath, scope, names, copy_name, inputs, overrides,
                                     copy_expansion, prefix)
            if out is None:
                return prev
            # the next copy reads this one's output; a block with several inputs also
            # this copy's first inputs (NASNet: each cell reads the two previous outputs)
            inputs = [out] + (inputs[:-1] if "block" in item else [])
        if isinstance(base, str):
            scope[base] = instance if instance is not None else out
        return out

    def read_inputs(self, item, ipath, scope, later, prev, expansion):
        if "in" not in item:
            if prev is None:
                self.errs.add(ipath, "this layer has no input: it is first in a graph with "
                              "several inputs", expected="'in:' naming one of the inputs",
                              notes=expansion)
                return None
            return [prev]
        refs = item["in"] if isinstance(item["in"], list) else [item["in"]]
        out = []
        for j, text in enumerate(refs):
            rpath = ipath + (("in", j) if isinstance(item["in"], list) else ("in",))
            ref = self.lookup(text, scope, later, rpath, expansion)
            if ref is None:
                return None
            out.append(ref)
        return out

    # -- blocks --------------------------------------------------------------------------
    def expand_block(self, item, ipath, scope, names, copy_name, inputs, overrides, expansion):
        name = item["block"]
        if name not in self.blocks:
            self.errs.add(ipath + ("block",), f"unknown block '{name}'",
                          expected="a block defined under 'blocks:'",
                          suggestion=did_you_mean(name, self.blocks), notes=expansion)
            return None, None
        if self.depth > 16:
            self.errs.add(ipath, f"blocks nested more than 16 deep (block '{name}' uses itself?)",
                          expected="blocks that do not call themselves", notes=expansion)
            return None, None
        block = self.blocks[name]
        bpath = ("blocks", name)
        declared = block.get("params") or {}
        values = {}
        for key, value in item.items():
            if key in COMMON_KEYS or key == "block":
                continue
            if key not in declared:
                self.errs.add(ipath + (key,), f"block '{name}' has no parameter '{key}'",
                              expected=f"one of: {', '.join(declared) or '(none)'}",
                              suggestion=did_you_mean(key, declared), key=True, notes=expansion)
                continue
            values[key] = (value, ipath + (key,))
        for key, (value, vpath) in overrides.items():
            if key not in declared:
                self.errs.add(vpath, f"block '{name}' has no parameter '{key}'",
                              expected=f"one of: {', '.join(declared) or '(none)'}",
                              suggestion=did_you_mean(key, declared), key=True, notes=expansion)
                continue
            values[key] = (value, vpath)
        local = _Names(names)
        for key, default in declared.items():
            if key in values:
                value, ok = self.resolve(values[key][0], names, values[key][1])
                if not ok:
                    return None, None
                local.paths[key] = _source_path(values[key][0], names, values[key][1])
            elif default == "required":
                self.errs.add(ipath, f"block '{name}' needs parameter '{key}'",
                              expected=f"'{key}: ...' on this line (its definition is at line "
                              f"{self.errs.source.position(bpath + ('params', key))[0]})",
                              notes=expansion)
                return None, None
            else:
                value, ok = self.resolve(default, names, bpath + ("params", key))
                if not ok:
                    return None, None
            local[key] = value
        input_names = block.get("inputs") or [BLOCK_INPUT]
        if len(inputs) != len(input_names):
            self.errs.add(ipath + ("in",) if "in" in item else ipath,
                          f"block '{name}' takes {len(input_names)} input(s) "
                          f"({', '.join(input_names)}), got {len(inputs)}",
                          expected=f"'in:' with {len(input_names)} tensor(s)", notes=expansion)
            return None, None
        inner_scope = dict(zip(input_names, inputs))
        label = copy_name or name
        prefix = f"{copy_name}_" if copy_name else self.unique(f"{_snake(name)}") + "_"
        here = expansion + (f"in block '{name}' used at line "
                            f"{self.errs.source.position(ipath)[0]} as '{label}'",)
        self.depth += 1
        inner, out = self.expand_list(block.get("layers") or [], bpath + ("layers",),
                                      inner_scope, local, prefix, inputs[0], here)
        self.depth -= 1
        if out is None:
            return None, None
        if "trainable" in item:
            flag, _ = self.resolve(item["trainable"], names, ipath + ("trainable",))
            for node in self.nodes:
                if node.name.startswith(prefix) and node.trainable is None:
                    node.trainable = flag
        return out, _Instance(out, inner)

    # -- single layers -------------------------------------------------------------------
    def make_node(self, item, ipath, scope, names, copy_name, inputs, overrides, expansion,
                  prefix=""):
        if "type" in item:
            kind, layer_type = "layer", item["type"]
        elif "model" in item:
            kind, layer_type = "model", None
        else:
            kind, layer_type = "shares", None
        args, arg_paths = {}, {}
        skip = set(COMMON_KEYS) | {"type", "model", "shares"}
        for key, value in item.items():
            if key not in skip:
                args[key], arg_paths[key] = value, ipath + (key,)
        for key, (value, vpath) in overrides.items():
            args[key], arg_paths[key] = value, vpath
        for key, value in args.items():  # `units: $width` in a block: point at the width given
            arg_paths[key] = _source_path(value, names, arg_paths[key])
        resolved = {}
        for key, value in args.items():
            value, ok = self.resolve(value, names, arg_paths[key])
            if not ok:
                return None
            resolved[key] = value
        call = {}
        for key, value in (item.get("call") or {}).items():
            cpath = ipath + ("call", key)
            value, ok = self.resolve(value, names, cpath)
            if not ok:
                return None
            call[key] = self.call_value(value, scope, cpath, expansion)
            if call[key] is _MISSING:
                return None
        trainable = None
        if "trainable" in item:
            trainable, _ = self.resolve(item["trainable"], names, ipath + ("trainable",))
        target = item.get("model") if kind == "model" else item.get("shares")
        if kind == "model" and target not in self.models:
            self.errs.add(ipath + ("model",), f"unknown model '{target}'",
                          expected="the name of a model under 'models:'",
                          suggestion=did_you_mean(target, self.models), notes=expansion)
            return None
        if kind == "shares":
            shared = scope.get(target)
            if shared is _FAILED:
                return None
            node = self.node_by_name.get(shared.node) if isinstance(shared, Ref) else None
            if node is None or node.kind != "layer":
                self.errs.add(ipath + ("shares",), f"'shares: {target}' does not name an "
                              "earlier layer", expected="the id of an earlier layer in this graph",
                              suggestion=did_you_mean(target, [k for k, v in scope.items()
                                                               if isinstance(v, Ref)]),
                              notes=expansion)
                return None
            target = node.name
        default = prefix + _snake((layer_type or target or "layer").split(".")[-1])
        name = self.unique(copy_name if copy_name else default)
        ports = None
        if kind == "layer":
            ports = registry.output_ports(layer_type, resolved, call)
        elif kind == "shares":
            ports = self.node_by_name[target].ports
        elif kind == "model":
            outputs = self.models.get(target) if isinstance(self.models, dict) else None
            ports = list(outputs) if outputs and len(outputs) > 1 else None
        if len(self.nodes) >= MAX_LAYERS:
            raise _TooLarge()
        node = Node(name, kind, layer_type, resolved, list(inputs), call, target, trainable,
                    ipath, expansion, arg_paths, ports)
        self.nodes.append(node)
        self.node_by_name[name] = node
        return Ref(name, DEFAULT_PORT if ports and kind != "model" else None)

    def call_value(self, value, scope, cpath, expansion):
        if isinstance(value, str):
            ref = self.lookup(value, scope, {}, cpath, expansion)
            return _MISSING if ref is None else ref
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            refs = [self.lookup(v, scope, {}, cpath + (i,), expansion)
                    for i, v in enumerate(value)]
            return _MISSING if any(r is None for r in refs) else refs
        return value


class _Names(dict):
    """Parameters visible in a block, with where each value was written (for errors)."""

    def __init__(self, names: dict):
        super().__init__(names)
        self.paths = dict(getattr(names, "paths", {}))


def _source_path(value, names, path):
    """The document path a plain `$name` of a block parameter stands for, else `path`."""
    match = REF_NAME.match(value) if isinstance(value, str) else None
    if match and match.group(1) in getattr(names, "paths", {}):
        return names.paths[match.group(1)]
    return path


_MISSING = object()
_FAILED = object()  # the id of a layer that could not be expanded (its error is reported)


def expand_graph(graph: dict, path: tuple, blocks: dict, params: dict, errs: Collector,
                 models: set | dict | None = None) -> FlatGraph | None:
    """Expands one model's layer graph.

    Args:
        graph: The raw `model:` (or one `models:` entry) mapping, parameters unresolved.
        path: Its document path, e.g. ("model",) or ("models", "generator").
        blocks: The raw `blocks:` mapping.
        params: Resolved spec parameters.
        errs: Where problems are collected.
        models: Names of the spec's other models (for `{model: name}` layers); a dict name →
            its output names (None when unknown) makes those outputs the call's ports.

    Returns:
        The flat graph, or None when problems were found (they are in `errs`).
    """
    count = len(errs.problems)
    exp = _Expander(blocks, params, errs, models or set())
    inputs, scope = {}, {}
    for name, decl in (graph.get("inputs") or {}).items():
        shape, ok = exp.resolve(decl.get("shape"), params, path + ("inputs", name, "shape"))
        dtype, ok2 = exp.resolve(decl.get("dtype", "float32"), params,
                                 path + ("inputs", name, "dtype"))
        if ok and ok2:
            inputs[name] = {"shape": shape, "dtype": dtype, "path": path + ("inputs", name),
                            "sparse": decl.get("sparse", False),
                            "ragged": decl.get("ragged", False)}
        exp.names.add(name)
        scope[name] = Ref(f"<input:{name}>")
    first = next(iter(scope.values())) if len(scope) == 1 else None
    scope, last = exp.expand_list(graph.get("layers") or [], path + ("layers",), scope, params,
                                  "", first, ())
    if exp.too_large:
        return None
    outputs, output_paths = {}, {}
    declared = graph.get("outputs")
    if declared is None:
        declared = {"output": None}
    elif isinstance(declared, str):
        declared = {declared.split(".")[0]: declared}
    for out_name, text in declared.items():
        opath = path + ("outputs", out_name) if isinstance(graph.get("outputs"), dict) \
            else path + ("outputs",)
        ref = last if text is None else exp.lookup(text, scope, {}, opath, ())
        if ref is not None:
            outputs[out_name], output_paths[out_name] = ref, opath
    if len(errs.problems) > count:
        return None
    flat = FlatGraph(inputs, exp.nodes, outputs, output_paths, path)
    check_connected(flat, errs)
    return None if len(errs.problems) > count else flat
