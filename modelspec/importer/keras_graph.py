"""A Keras functional or sequential config → the importer's layer graph (`ImportGraph`).

Each call of a layer becomes one `ImportNode` with the spec's layer type, its non-default
arguments (`modelspec.importer.arguments`) and the tensors it reads (`ImportRef`s naming
graph inputs or earlier nodes). A layer called more than once becomes `shares:` nodes.
What a spec cannot say is collected as `Unsupported` entries, layer by layer, instead of
failing at the first one.

Keras operations applied to tensors (`x + y`, `x * 0.5`) are not layers; the ones that have
an exact layer form become that layer: two tensors added, multiplied or subtracted →
`Add`/`Multiply`/`Subtract`; a tensor and a number → `Rescaling` (x·scale + offset, exact
for a scale of 1 or an offset of 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from modelspec.importer.arguments import layer_arguments
from modelspec.lang import catalog, registry
from modelspec.lang.application_layer_args import KERAS_MODULES

_MERGE_OPS = {"Add": "Add", "Multiply": "Multiply", "Subtract": "Subtract"}
_SEQUENTIAL = "Sequential"
_MODELS = {"Functional", "Sequential", "Model"}
_UNSUPPORTED = "<unsupported>"
_BUILTIN_MODULE = "modelspec.build.components.builtin_layers"  # LRN, GradientReversal, Step


@dataclass(frozen=True)
class ImportRef:
    """A tensor: a graph input's name, or a node's id with an output port (None: the only)."""

    node: str
    port: str | None = None

    def text(self) -> str:
        return self.node if self.port is None else f"{self.node}.{self.port}"


@dataclass
class ImportNode:
    """One layer call: what becomes one layer item of the spec."""

    id: str
    type: str | None
    args: dict
    inputs: list[ImportRef]
    call: dict = field(default_factory=dict)
    trainable: bool | None = None
    shares: str | None = None
    keras_name: str = ""
    model: str | None = None       # a nested model, called as {model: name}


@dataclass
class ImportGraph:
    """A model's layer graph in creation order, with named inputs and outputs."""

    name: str
    inputs: dict                    # name → {"shape": [...], "dtype": str}
    nodes: list[ImportNode]
    outputs: dict                   # name → ImportRef
    submodels: dict = field(default_factory=dict)   # nested models: name → ImportGraph
    output_order: list = field(default_factory=list)  # names in the order a call returns



@dataclass(frozen=True)
class Unsupported:
    """A layer a spec cannot express, with what would make it expressible."""

    index: int
    name: str
    class_name: str
    reason: str
    remedy: str

    def format(self) -> str:
        return (f"layers[{self.index}] '{self.name}' ({self.class_name}): {self.reason} — "
                f"{self.remedy}")


PLUGIN_REMEDY = ("register the layer class from Python (modelspec.register_layer('{cls}', "
                 "{cls}) in a plugin module) and run 'modelspec --plugin your_module.py "
                 "import ...'")


def read_graph(model_config: dict) -> tuple[ImportGraph, list[Unsupported]]:
    """Turns `{"class_name": "Functional" | "Sequential", "config": {...}}` into a graph.

    Returns:
        The graph (meaningful only when the list of unsupported layers is empty) and the
        unsupported layers.
    """
    config = model_config["config"]
    if model_config.get("class_name") == _SEQUENTIAL:
        config = _sequential_as_functional(config)
    builder = _Builder()
    for index, layer in enumerate(config["layers"]):
        builder.add_layer(index, layer)
    builder.finish()
    outputs = builder.outputs(config.get("output_layers"))
    order = list(outputs)
    if isinstance(config.get("output_layers"), dict):  # Keras flattens a dict by sorted key
        order = [identifier(key) for key in sorted(config["output_layers"])]
    graph = ImportGraph(identifier(config.get("name") or "model"), builder.inputs,
                        builder.nodes, outputs, builder.submodels, order)
    return graph, builder.unsupported


def _sequential_as_functional(config: dict) -> dict:
    """A Sequential config as a chain of functional layer calls."""
    layers = list(config["layers"])
    if not layers or layers[0].get("class_name") != "InputLayer":
        shape = config.get("build_input_shape")
        if shape is None:
            shape = (layers[0].get("build_config") or {}).get("input_shape") if layers else None
        layers.insert(0, {"class_name": "InputLayer", "module": "keras.layers",
                          "config": {"batch_shape": shape, "dtype": "float32",
                                     "name": "input_layer"}})
    chained, previous = [], None
    for layer in layers:
        layer = dict(layer)
        name = layer.get("name") or layer["config"].get("name")
        layer["name"] = name
        layer["inbound_nodes"] = [] if previous is None else [
            {"args": [{"class_name": "__keras_tensor__",
                       "config": {"keras_history": [previous, 0, 0]}}], "kwargs": {}}]
        chained.append(layer)
        previous = name
    return {"name": config.get("name"), "layers": chained,
            "input_layers": [chained[0]["name"], 0, 0],
            "output_layers": [previous, 0, 0]}


def identifier(name: str) -> str:
    """A Keras name as a spec id: letters, digits and `_`, not starting with a digit."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    return text if re.match(r"^[A-Za-z_]", text) else f"_{text}"


def _tensors_only(args: list) -> list:
    """A nested model's call arguments: its input tensors (a dict of them, or a list)."""
    if len(args) == 1 and isinstance(args[0], dict) and not _is_tensor(args[0]):
        return list(args[0].values())
    return args


def _history(value: Any) -> list[tuple[str, int]]:
    """(layer, call) of every tensor in a serialised call's arguments."""
    if _is_tensor(value):
        layer, node_index, _ = value["config"]["keras_history"]
        return [(layer, node_index)]
    if isinstance(value, dict):
        return [key for item in value.values() for key in _history(item)]
    if isinstance(value, list):
        return [key for item in value for key in _history(item)]
    return []


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


class _Builder:
    """Walks the config's layers in order (Keras writes them topologically)."""

    def __init__(self) -> None:
        self.inputs: dict = {}
        self.nodes: list[ImportNode] = []
        self.unsupported: list[Unsupported] = []
        self.ids: set[str] = set()
        self.calls: dict[tuple[str, int], ImportNode | str] = {}  # (layer, node) → node/input
        self.submodels: dict[str, ImportGraph] = {}
        self.frozen: set[str] = set()
        self.pending: list[tuple] = []

    def unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{name}_{n}"
        self.ids.add(candidate)
        return candidate

    def add_layer(self, index: int, layer: dict) -> None:
        cls, config = layer.get("class_name"), layer.get("config") or {}
        name = layer.get("name") or config.get("name") or f"layer_{index}"
        if cls == "InputLayer":
            ident = self.unique(identifier(name))
            shape = config.get("batch_shape") or config.get("batch_input_shape") or [None]
            self.inputs[ident] = {"shape": list(shape[1:]), "dtype": config.get("dtype",
                                                                               "float32")}
            self.calls[(name, 0)] = ident
            return
        kind, problem = self.layer_kind(index, name, layer)
        if problem is not None:
            self.unsupported.append(problem)
            for k in range(max(1, len(layer.get("inbound_nodes") or []))):
                self.calls[(name, k)] = _UNSUPPORTED
            return
        for k, inbound in enumerate(layer.get("inbound_nodes") or []):
            self.pending.append((index, name, kind, cls, config, k, inbound))
        self.drain()

    def drain(self) -> None:
        """Makes every pending call whose inputs exist (a shared layer's later calls may
        read layers that come after it in the config)."""
        progress = True
        while progress:
            progress = False
            for call in list(self.pending):
                index, name, kind, cls, config, k, inbound = call
                if (k > 0 and (name, k - 1) not in self.calls) or not all(
                        key in self.calls for key in _history(inbound)):
                    continue
                self.pending.remove(call)
                self.add_call(index, name, kind, cls, config, k, inbound)
                progress = True

    def finish(self) -> None:
        """Reports calls that never became ready (they read tensors no layer makes)."""
        for index, name, _, cls, _, _, _ in self.pending:
            self.fail(index, name, cls, "reads a tensor that no layer of the model makes",
                      "a model whose config lists every layer it uses")

    def layer_kind(self, index: int, name: str,
                   layer: dict) -> tuple[str | None, Unsupported | None]:
        """("keras" | "python" | "op", None) or (None, Unsupported)."""
        cls, module = str(layer.get("class_name")), layer.get("module") or ""
        if cls == "Lambda":
            return None, Unsupported(index, name, cls, "a Lambda holds Python code, which a "
                                     "spec never contains", PLUGIN_REMEDY.format(
                                         cls="MyLayer") + " with the computation as a layer")
        if cls in _MODELS:
            return self.nested_model(index, name, layer)
        if module.startswith("keras.src.ops"):
            if cls in _MERGE_OPS:
                return "op", None
            return None, Unsupported(index, name, f"keras.ops {cls}", "an operation on "
                                     "tensors, not a layer", "use the layer with the same "
                                     "effect (Add, Multiply, Rescaling, Reshape, ...) or "
                                     + PLUGIN_REMEDY.format(cls=cls))
        if registry.python_layer(cls) is not None:
            return "python", None
        if module == _BUILTIN_MODULE and registry.layer_origin(cls) == "builtin":
            return "builtin", None
        if KERAS_MODULES.get(cls) == module:  # Keras's own application layers (LayerScale)
            return "builtin", None
        if module in ("keras.layers", "keras") and cls in catalog.catalog()["layers"]:
            return "keras", None
        remedy = PLUGIN_REMEDY.format(cls=cls)
        if any(len(node.get("args") or []) == 1 and isinstance(node["args"][0], list)
               for node in layer.get("inbound_nodes") or []):
            remedy = remedy.replace(f"{cls}, {cls})", f"{cls}, {cls}, inputs='list')")
        return None, Unsupported(index, name, cls, f"a custom layer (module '{module}')",
                                 remedy)

    def nested_model(self, index: int, name: str,
                     layer: dict) -> tuple[str | None, Unsupported | None]:
        """A model used as a layer becomes one of the spec's `models:`, called by name."""
        graph, unsupported = read_graph(layer)
        for item in unsupported:
            self.unsupported.append(Unsupported(item.index, f"{name}/{item.name}",
                                                item.class_name, item.reason, item.remedy))
        if unsupported:
            return "model", None
        graph.name = identifier(name)
        if (layer.get("config") or {}).get("trainable") is False:  # frozen as a whole
            self.frozen.add(graph.name)
            for node in graph.nodes:
                node.trainable = None
        self.submodels.update(graph.submodels)
        graph.submodels = {}
        self.submodels[graph.name] = graph
        return "model", None

    def ref(self, tensor: dict) -> ImportRef | None:
        layer, node_index, tensor_index = tensor["config"]["keras_history"]
        target = self.calls.get((layer, node_index))
        if target is None or target == _UNSUPPORTED:
            return None
        if isinstance(target, str):
            return ImportRef(target)
        if target.model is not None:
            return self.model_output(target, tensor_index)
        ports = registry.output_ports(target.type or "", target.args, target.call) \
            if target.shares is None else None
        if tensor_index == 0 and not ports:
            return ImportRef(target.id)
        port = ports[tensor_index] if ports and tensor_index < len(ports) else str(tensor_index)
        return ImportRef(target.id, port)

    def model_output(self, target: ImportNode, tensor_index: int) -> ImportRef:
        """A nested model's output, by name when it has several (`base.features`)."""
        names = self.submodels[target.model or ""].output_order
        if len(names) <= 1:
            return ImportRef(target.id)
        return ImportRef(target.id, names[tensor_index])

    def add_call(self, index: int, name: str, kind: str, cls: str, config: dict, k: int,
                 inbound: dict) -> None:
        args, kwargs = inbound.get("args") or [], inbound.get("kwargs") or {}
        if any(self.calls.get(key) == _UNSUPPORTED for key in _history(inbound)):
            self.calls[(name, k)] = _UNSUPPORTED  # after an unsupported layer: not reported
            return
        if kind == "op":
            node = self.op_node(index, name, cls, args)
        elif kind == "model":
            node = self.model_node(name, args, k)
        else:
            node = self.layer_node(index, name, cls, config, k, args, kwargs)
        if node is None:
            self.calls[(name, k)] = _UNSUPPORTED
            return
        self.calls[(name, k)] = node
        self.nodes.append(node)

    def tensors_of(self, args: list) -> list | None:
        """The positional tensors of a call, following the layer's input convention."""
        flat = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        refs = []
        for value in flat:
            if not _is_tensor(value):
                return None
            ref = self.ref(value)
            if ref is None:
                return None
            refs.append(ref)
        return refs

    def layer_node(self, index: int, name: str, layer_type: str, config: dict, k: int,
                   args: list, kwargs: dict) -> ImportNode | None:
        refs = self.tensors_of(args)
        if refs is None:
            self.fail(index, name, layer_type, "a call with non-tensor or unknown inputs",
                      "call the layer on tensors of the model only")
            return None
        call: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key == "training" and value is False:
                continue  # recorded by a symbolic build; a call's own `training` overrides it
            if _is_tensor(value):
                ref = self.ref(value)
                call[key] = ref.text() if ref else None
            elif isinstance(value, list) and value and all(_is_tensor(v) for v in value):
                call[key] = [r.text() for r in (self.ref(v) for v in value) if r]
            elif value is not None:
                call[key] = value
        if k > 0:
            first = self.calls.get((name, 0))
            if not isinstance(first, ImportNode):
                return None
            return ImportNode(self.unique(f"{first.id}_call{k}"), None, {}, refs, call,
                              shares=first.id, keras_name=name)
        spec_args, problems = layer_arguments(layer_type, config)
        for problem in problems:
            self.fail(index, name, layer_type, problem, "leave the argument at Keras's "
                      "default, or register a layer subclass from Python that sets it")
        if problems:
            return None
        trainable = False if config.get("trainable") is False else None
        return ImportNode(self.unique(identifier(name)), layer_type, spec_args, refs, call,
                          trainable, keras_name=name)

    def model_node(self, name: str, args: list, k: int) -> ImportNode | None:
        refs = self.tensors_of(_tensors_only(args))
        if refs is None or identifier(name) not in self.submodels:
            return None
        ident = identifier(name) if k == 0 else f"{identifier(name)}_call{k}"
        frozen = False if identifier(name) in self.frozen else None
        return ImportNode(self.unique(ident), None, {}, refs, trainable=frozen,
                          keras_name=name, model=identifier(name))

    def op_node(self, index: int, name: str, cls: str, args: list) -> ImportNode | None:
        tensors = [a for a in args if _is_tensor(a)]
        numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if len(tensors) == 2 and len(args) == 2:
            refs = self.tensors_of(args)
            if refs is None:
                return None
            return ImportNode(self.unique(identifier(name)), _MERGE_OPS[cls], {}, refs,
                              keras_name=name)
        if len(tensors) == 1 and len(numbers) == 1 and len(args) == 2:
            ref = self.ref(tensors[0])
            if ref is None:
                return None
            value, tensor_first = float(numbers[0]), _is_tensor(args[0])
            rescale = {"Add": {"scale": 1.0, "offset": value},
                       "Multiply": {"scale": value},
                       "Subtract": ({"scale": 1.0, "offset": -value} if tensor_first
                                    else {"scale": -1.0, "offset": value})}[cls]
            return ImportNode(self.unique(identifier(name)), "Rescaling", rescale, [ref],
                              keras_name=name)
        self.fail(index, name, f"keras.ops {cls}", "an operation whose operands are "
                  "neither two tensors nor a tensor and a number", "use a layer instead")
        return None

    def fail(self, index: int, name: str, cls: str, reason: str, remedy: str) -> None:
        self.unsupported.append(Unsupported(index, name, cls, reason, remedy))

    def outputs(self, output_layers: list | dict | None) -> dict:
        def ref(entry: Any) -> ImportRef | None:
            return self.ref({"config": {"keras_history": entry}})

        if isinstance(output_layers, dict):
            return {identifier(k): ref(v) for k, v in output_layers.items()}
        entries = output_layers if output_layers and isinstance(output_layers[0], list) \
            else [output_layers]
        out = {}
        for entry in entries:
            found = ref(entry)
            if found is not None:
                out[found.node if found.port is None else identifier(found.text())] = found
        return out
