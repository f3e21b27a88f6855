"""Expands a layer graph — params, blocks, repeat/first/vary, if — into a flat graph.

The result is a list of `Node`s in creation order, each reading earlier nodes through
`Ref`s, with readable unique names (`stage2_0_conv1`) and, for error messages, the document
path it came from and its block-expansion path. Everything is checked here that can be
checked without TensorFlow: unique ids, references that resolve (with did-you-mean, in
`modelspec.lang.references`), no reference to a later id, block parameters supplied, `vary`
lengths, output ports.

Example:
>>> flat = expand_graph(spec_data["model"], ("model",), blocks, params, errs)
>>> [n.name for n in flat.nodes]
['conv2d', 'stage1_0_conv1', ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang import registry
from modelspec.lang.controls import Expansion, Overrides, Values
from modelspec.lang.flatgraph import FlatGraph, Node, Ref, check_connected  # noqa: F401
from modelspec.lang.flatgraph import keras_style_name as _snake
from modelspec.lang.references import (
    BLOCK_INPUT,
    DEFAULT_PORT,
    FAILED,
    Instance,
    Names,
    Scope,
    lookup,
    source_path,
)
from modelspec.lang.schema.document import COMMON_KEYS
from modelspec.source import PathT, YamlMap

MAX_LAYERS = 10_000  # layers of one model after every repeat and nested block (ResNet-1001: 3,338)

Models = set[str] | dict[str, Any]  # the spec's model names (→ their output names)


class _TooLarge(Exception):
    """Stops an expansion that would exceed MAX_LAYERS (reported at the top-level item)."""


class _Missing:
    """A `call:` reference that did not resolve (its error is reported)."""


_MISSING = _Missing()


class _Expander(Values):
    def __init__(self, blocks: YamlMap, params: Mapping[str, Any], errs: Collector,
                 models: Models) -> None:
        super().__init__(errs)
        self.blocks = blocks or {}
        self.params = params
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

    def lookup(self, text: str, scope: Scope, later: Mapping[str, int], path: PathT,
               expansion: Expansion) -> Ref | None:
        return lookup(text, scope, later, self.node_by_name, self.errs, path, expansion)

    # -- layer lists -------------------------------------------------------------------
    def expand_list(self, items: list[Any], path: PathT, scope: Scope, names: Mapping[str, Any],
                    prefix: str, first_input: Ref | None,
                    expansion: Expansion) -> tuple[Scope, Ref | None]:
        """Expands a list of layer items; returns (scope, last output Ref or None)."""
        later = self.declared_ids(items, path, scope, expansion)
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
                scope.setdefault(item["id"], FAILED)  # later uses are not errors of their own
            if out is not None:
                prev = out
        return scope, prev

    def declared_ids(self, items: list[Any], path: PathT, scope: Scope,
                     expansion: Expansion) -> dict[str, int]:
        """The ids of a list → their line; reports duplicates and ids taken by inputs."""
        later: dict[str, int] = {}
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
        return later

    def expand_item(self, item: YamlMap, ipath: PathT, scope: Scope, later: Mapping[str, int],
                    names: Mapping[str, Any], prefix: str, prev: Ref | None,
                    expansion: Expansion) -> Ref | None:
        """Expands one item (`if:`, `repeat:`, `vary:`, then each copy); returns its output."""
        if "if" in item:
            cond = self.condition(item, ipath, names, expansion)
            if cond is None:
                return prev
            if not cond:  # skipped: the item passes its (first) input through
                inputs = self.read_inputs(item, ipath, scope, later, prev, expansion)
                passed = inputs[0] if inputs else prev
                if isinstance(item.get("id"), str) and passed is not None:
                    scope[item["id"]] = passed
                return passed
        repeat = self.repeat_count(item, ipath, names, expansion)
        vary = item.get("vary") or {}
        if repeat is None or not self.check_vary(vary, repeat, ipath, names, expansion):
            return prev
        ident = item.get("id")
        base = ident if isinstance(ident, str) else None
        inputs = self.read_inputs(item, ipath, scope, later, prev, expansion)
        if inputs is None:
            return prev
        out: Ref | None = None
        instance: Instance | None = None
        for copy in range(repeat):
            copy_name = (None if base is None else
                         f"{prefix}{base}" + (f"_{copy}" if repeat > 1 else ""))
            overrides = self.copy_overrides(item, ipath, names, vary, copy)
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
        if base is not None and out is not None:
            scope[base] = instance if instance is not None else out
        return out

    def read_inputs(self, item: YamlMap, ipath: PathT, scope: Scope, later: Mapping[str, int],
                    prev: Ref | None, expansion: Expansion) -> list[Ref] | None:
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
    def expand_block(self, item: YamlMap, ipath: PathT, scope: Scope, names: Mapping[str, Any],
                     copy_name: str | None, inputs: list[Ref], overrides: Overrides,
                     expansion: Expansion) -> tuple[Ref | None, Instance | None]:
        """Expands one copy of a `block:` item; returns (its output, the instance)."""
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
        local = self.block_params(item, ipath, names, overrides, expansion)
        if local is None:
            return None, None
        input_names = block.get("inputs") or [BLOCK_INPUT]
        if len(inputs) != len(input_names):
            self.errs.add(ipath + ("in",) if "in" in item else ipath,
                          f"block '{name}' takes {len(input_names)} input(s) "
                          f"({', '.join(input_names)}), got {len(inputs)}",
                          expected=f"'in:' with {len(input_names)} tensor(s)", notes=expansion)
            return None, None
        inner_scope: Scope = dict(zip(input_names, inputs))
        label = copy_name or name
        prefix = f"{copy_name}_" if copy_name else self.unique(f"{_snake(name)}") + "_"
        here = expansion + (f"in block '{name}' used at line "
                            f"{self.errs.source.position(ipath)[0]} as '{label}'",)
        self.depth += 1
        inner, out = self.expand_list(block.get("layers") or [], ("blocks", name, "layers"),
                                      inner_scope, local, prefix, inputs[0], here)
        self.depth -= 1
        if out is None:
            return None, None
        if "trainable" in item:
            flag, _ = self.resolve(item["trainable"], names, ipath + ("trainable",))
            for node in self.nodes:
                if node.name.startswith(prefix) and node.trainable is None:
                    node.trainable = flag
        return out, Instance(out, inner)

    def block_params(self, item: YamlMap, ipath: PathT, names: Mapping[str, Any],
                     overrides: Overrides, expansion: Expansion) -> Names | None:
        """The parameters a block instance sees (given, else defaults), or None (reported)."""
        name = item["block"]
        bpath: PathT = ("blocks", name)
        declared = self.blocks[name].get("params") or {}
        given = [(key, value, ipath + (key,)) for key, value in item.items()
                 if key not in COMMON_KEYS and key != "block"]
        given += [(key, value, vpath) for key, (value, vpath) in overrides.items()]
        values: Overrides = {}
        for key, value, vpath in given:
            if key not in declared:
                self.errs.add(vpath, f"block '{name}' has no parameter '{key}'",
                              expected=f"one of: {', '.join(declared) or '(none)'}",
                              suggestion=did_you_mean(key, declared), key=True, notes=expansion)
                continue
            values[key] = (value, vpath)
        local = Names(names)
        for key, default in declared.items():
            if key in values:
                value, ok = self.resolve(values[key][0], names, values[key][1])
                if not ok:
                    return None
                local.paths[key] = source_path(values[key][0], names, values[key][1])
            elif default == "required":
                self.errs.add(ipath, f"block '{name}' needs parameter '{key}'",
                              expected=f"'{key}: ...' on this line (its definition is at line "
                              f"{self.errs.source.position(bpath + ('params', key))[0]})",
                              notes=expansion)
                return None
            else:
                value, ok = self.resolve(default, names, bpath + ("params", key))
                if not ok:
                    return None
            local[key] = value
        return local

    # -- single layers -------------------------------------------------------------------
    def make_node(self, item: YamlMap, ipath: PathT, scope: Scope, names: Mapping[str, Any],
                  copy_name: str | None, inputs: list[Ref], overrides: Overrides,
                  expansion: Expansion, prefix: str = "") -> Ref | None:
        """Makes the node of one copy of a `type:`, `model:` or `shares:` item."""
        if "type" in item:
            kind, layer_type = "layer", item["type"]
        elif "model" in item:
            kind, layer_type = "model", None
        else:
            kind, layer_type = "shares", None
        skip = set(COMMON_KEYS) | {"type", "model", "shares"}
        arg_paths = {key: ipath + (key,) for key in item if key not in skip}
        args = {key: item[key] for key in arg_paths}
        for key, (value, vpath) in overrides.items():
            args[key], arg_paths[key] = value, vpath
        for key, value in args.items():  # `units: $width` in a block: point at the width given
            arg_paths[key] = source_path(value, names, arg_paths[key])
        resolved = {}
        for key, value in args.items():
            value, ok = self.resolve(value, names, arg_paths[key])
            if not ok:
                return None
            resolved[key] = value
        call = self.call_arguments(item, ipath, scope, names, expansion)
        if call is None:
            return None
        trainable = None
        if "trainable" in item:
            trainable, _ = self.resolve(item["trainable"], names, ipath + ("trainable",))
        found, target = self.target(kind, item, ipath, scope, expansion)
        if not found:
            return None
        default = prefix + _snake((layer_type or target or "layer").split(".")[-1])
        name = self.unique(copy_name if copy_name else default)
        ports = self.ports(kind, layer_type, target, resolved, call)
        if len(self.nodes) >= MAX_LAYERS:
            raise _TooLarge()
        node = Node(name, kind, layer_type, resolved, list(inputs), call, target, trainable,
                    ipath, expansion, arg_paths, ports)
        self.nodes.append(node)
        self.node_by_name[name] = node
        return Ref(name, DEFAULT_PORT if ports and kind != "model" else None)

    def call_arguments(self, item: YamlMap, ipath: PathT, scope: Scope,
                       names: Mapping[str, Any], expansion: Expansion) -> dict[str, Any] | None:
        """The item's `call:` values, references resolved; None when one fails (reported)."""
        call = {}
        for key, value in (item.get("call") or {}).items():
            cpath = ipath + ("call", key)
            value, ok = self.resolve(value, names, cpath)
            if not ok:
                return None
            call[key] = self.call_value(value, scope, cpath, expansion)
            if call[key] is _MISSING:
                return None
        return call

    def call_value(self, value: Any, scope: Scope, cpath: PathT, expansion: Expansion) -> Any:
        if isinstance(value, str):
            ref = self.lookup(value, scope, {}, cpath, expansion)
            return _MISSING if ref is None else ref
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            refs = [self.lookup(v, scope, {}, cpath + (i,), expansion)
                    for i, v in enumerate(value)]
            return _MISSING if any(r is None for r in refs) else refs
        return value

    def target(self, kind: str, item: YamlMap, ipath: PathT, scope: Scope,
               expansion: Expansion) -> tuple[bool, str | None]:
        """(found, the called model or the shared node's name); False when reported."""
        target = item.get("model") if kind == "model" else item.get("shares")
        if kind == "model" and target not in self.models:
            self.errs.add(ipath + ("model",), f"unknown model '{target}'",
                          expected="the name of a model under 'models:'",
                          suggestion=did_you_mean(target, self.models), notes=expansion)
            return False, None
        if kind != "shares":
            return True, target
        shared = scope.get(target) if isinstance(target, str) else None
        if shared is FAILED:
            return False, None
        node = self.node_by_name.get(shared.node) if isinstance(shared, Ref) else None
        if node is None or node.kind != "layer":
            self.errs.add(ipath + ("shares",), f"'shares: {target}' does not name an "
                          "earlier layer", expected="the id of an earlier layer in this graph",
                          suggestion=did_you_mean(target, [k for k, v in scope.items()
                                                           if isinstance(v, Ref)]),
                          notes=expansion)
            return False, None
        return True, node.name

    def ports(self, kind: str, layer_type: str | None, target: str | None,
              resolved: dict[str, Any], call: dict[str, Any]) -> list[str] | None:
        """The named outputs of a node (None for a single output)."""
        if kind == "layer":
            assert layer_type is not None
            return registry.output_ports(layer_type, resolved, call)
        if kind == "shares":
            assert target is not None
            return self.node_by_name[target].ports
        outputs = self.models.get(target) if isinstance(self.models, dict) and target else None
        return list(outputs) if outputs and len(outputs) > 1 else None


def expand_graph(graph: YamlMap, path: PathT, blocks: YamlMap, params: dict[str, Any],
                 errs: Collector, models: Models | None = None) -> FlatGraph | None:
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
    inputs: dict[str, dict[str, Any]] = {}
    refs: dict[str, Ref] = {}
    for name, decl in (graph.get("inputs") or {}).items():
        shape, ok = exp.resolve(decl.get("shape"), params, path + ("inputs", name, "shape"))
        dtype, ok2 = exp.resolve(decl.get("dtype", "float32"), params,
                                 path + ("inputs", name, "dtype"))
        if ok and ok2:
            inputs[name] = {"shape": shape, "dtype": dtype, "path": path + ("inputs", name),
                            "sparse": decl.get("sparse", False),
                            "ragged": decl.get("ragged", False)}
        exp.names.add(name)
        refs[name] = Ref(f"<input:{name}>")
    scope: Scope = dict(refs)
    first = next(iter(refs.values())) if len(refs) == 1 else None
    scope, last = exp.expand_list(graph.get("layers") or [], path + ("layers",), scope, params,
                                  "", first, ())
    if exp.too_large:
        return None
    outputs: dict[str, Ref] = {}
    output_paths: dict[str, PathT] = {}
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
