"""Compiles a checked spec's flat graphs into plain Keras functional models.

Each node of the flat graph (`modelspec.lang.expand`) becomes one Keras layer, created with
Keras's own arguments and called on `keras.Input`s — a symbolic build, without data. A
Keras error is re-raised as a `Problem` at the layer's YAML line with its input shapes and
block-expansion path. A size guard refuses absurd layers (a 10¹²-weight Dense) before
Keras allocates them.

Models take a dict of named inputs and return a dict of named outputs; the names are the
spec's. A `models:` spec gives a dict name → model, built in dependency order so that
`{model: encoder}` can use an earlier model as a layer.

Example:
>>> model = build_from_spec("specs/lenet5.yaml")
>>> model.count_params()
61706
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from modelspec.tfenv import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from modelspec.build.components import builtin_layers, objects  # noqa: E402
from modelspec.errors import Collector, SpecError  # noqa: E402
from modelspec.lang import registry  # noqa: E402
from modelspec.lang.checks import load_and_check, model_weights_file, weights_file  # noqa: E402
from modelspec.lang.flatgraph import FlatGraph, Node, Ref  # noqa: E402
from modelspec.lang.spec import CheckedSpec  # noqa: E402

MAX_LAYER_PARAMS = 2_000_000_000      # 8 GB of float32 weights in one layer
MAX_MODEL_PARAMS = 2_000_000_000      # and in one model, summed over its layers
MAX_ACTIVATION_ELEMENTS = 1 << 31     # per example, for one layer's output

Signature = tuple[tuple[int | None, ...], str]  # a tensor's (shape without batch, dtype)


def build_from_spec(spec: str | Path | CheckedSpec,
                    overrides: dict[str, Any] | None = None
                    ) -> keras.Model | dict[str, keras.Model]:
    """Builds the Keras model(s) of a spec.

    Args:
        spec: A path, YAML text or `CheckedSpec`.
        overrides: Values replacing the spec's `params`.

    Returns:
        A `keras.Model` for a `model:` spec; a dict name → `keras.Model` for `models:`.

    Raises:
        SpecError: For any problem, including Keras errors at the offending layer's line.
    """
    checked = load_and_check(spec, overrides=overrides or None) if not isinstance(
        spec, CheckedSpec) or overrides else spec
    models = build_models(checked)
    return models["model"] if not checked.is_multi_model else models


def build_models(spec: CheckedSpec, record: dict[str, list[tuple[Node, Any]]] | None = None,
                 allocate: bool = True) -> dict[str, keras.Model]:
    """Builds every model of a checked spec, in dependency order; name → keras.Model.

    Args:
        spec: The checked spec.
        record: When given, filled with model name → list of (node, output shape) for
            `modelspec show`.
        allocate: False builds under `keras.StatelessScope(initialize_variables=False)`:
            every variable has its shape and dtype but no value (nothing is allocated), so
            shapes and parameter counts cost no memory — for `modelspec show`; such models
            cannot be trained or called.
    """
    if not allocate:
        with keras.StatelessScope(initialize_variables=False):
            return build_models(spec, record)
    errs = spec.errors()
    built: dict[str, keras.Model] = {}
    pending = dict(spec.graphs)
    while pending:
        progress = False
        for name, flat in list(pending.items()):
            needs = {n.target for n in flat.nodes if n.kind == "model"}
            if needs - set(built):
                continue
            model_name = spec.name if name == "model" else name
            _resolve_weight_paths(flat, spec)
            shapes = record.setdefault(name, []) if record is not None else None
            model = build_graph(flat, model_name, built, errs, shapes)
            if model is None:
                errs.raise_if_any()
            _load_model_weights(model, flat, spec)
            built[name] = model
            del pending[name]
            progress = True
        if not progress:  # cycles are reported by the checker; never loop forever
            raise SpecError(errs.problems)
    return {name: built[name] for name in spec.graphs}


def _resolve_weight_paths(flat: FlatGraph, spec: CheckedSpec) -> None:
    """Application weight files are paths relative to the spec's folder (docs/DESIGN.md §3)."""
    for node in flat.nodes:
        path = weights_file(node, spec.base_dir)
        if path is not None:
            node.args["weights"] = str(path.resolve())


def _load_model_weights(model: keras.Model, flat: FlatGraph, spec: CheckedSpec) -> None:
    """Loads the model's `weights:` file (Keras's .weights.h5), e.g. from `modelspec import`."""
    graph: Any = spec.raw
    for key in flat.path:
        graph = graph[key]
    path = model_weights_file(graph, spec.base_dir)
    if path is None:
        return
    try:
        model.load_weights(str(path))
    except Exception as err:
        errs = spec.errors()
        errs.add(flat.path + ("weights",), f"weights file '{graph['weights']}' does not fit "
                 f"the model: {_keras_message(err)}", expected="weights saved from a model "
                 "with the same layers in the same order")
        errs.raise_if_any()


def build_graph(flat: FlatGraph, name: str, built: dict[str, Any], errs: Collector,
                record: list[tuple[Node, Any]] | None = None) -> keras.Model | None:
    """Builds one flat graph into a functional `keras.Model` (None after errors)."""
    inputs = {}
    for input_name, decl in flat.inputs.items():
        shape = tuple(decl["shape"]) if isinstance(decl["shape"], list) else decl["shape"]
        inputs[input_name] = keras.Input(shape=shape, dtype=decl["dtype"], name=input_name,
                                         sparse=bool(decl.get("sparse")),
                                         ragged=bool(decl.get("ragged")))
    tensors = {f"<input:{k}>": v for k, v in inputs.items()}
    layers: dict[str, Any] = {}
    total = 0  # estimated weights so far: the size guard judges the whole model too
    for node in flat.nodes:
        try:
            args = [_tensor(ref, tensors) for ref in node.inputs]
            total += _guard_size(node, args, total) if node.kind == "layer" else 0
            layer = _make_layer(node, layers, built, args)
            layers[node.name] = layer
            call = {k: _call_value(v, tensors) for k, v in node.call.items()}
            out = _call(layer, node, args, call)
            _guard_output(node, out)
        except _SizeGuard as guard:
            errs.add(node.path, guard.message, expected=guard.expected, notes=node.expansion)
            return None
        except Exception as err:  # a Keras error: show it at the layer's line
            errs.add(node.path, f"Keras cannot build layer '{node.name}' "
                     f"({node.type or node.kind}): {_keras_message(err)}",
                     notes=_shape_notes(node, tensors) + list(node.expansion))
            return None
        tensors[node.name] = out
        if record is not None:
            record.append((node, out))
    outputs = {}
    for out_name, ref in flat.outputs.items():
        outputs[out_name] = _tensor(ref, tensors)
    try:
        model = keras.Model(inputs=inputs, outputs=outputs, name=_model_name(name))
    except Exception as err:
        errs.add(flat.path, f"Keras cannot assemble the model: {_keras_message(err)}")
        return None
    return model


def _model_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


Tensors = dict[str, Any]  # node name → its output: a KerasTensor, or a list/dict of them


def _tensor(ref: Ref, tensors: Tensors) -> Any:
    value = tensors[ref.node]
    if ref.port is None:
        return value
    if isinstance(value, dict):
        return value[ref.port]
    if isinstance(value, (list, tuple)):
        return value[int(ref.port)] if ref.port.isdigit() else value[_port_index(ref, value)]
    return value  # a single-output layer read as its `out` port


def _port_index(ref: Ref, value: list[Any] | tuple[Any, ...]) -> int:
    port_names = _PORTS.get(ref.node)
    return port_names.index(str(ref.port)) if port_names else 0


_PORTS: dict[str, list[str]] = {}


def _call_value(value: Any, tensors: Tensors) -> Any:
    if isinstance(value, Ref):
        return _tensor(value, tensors)
    if isinstance(value, list) and value and all(isinstance(v, Ref) for v in value):
        return [_tensor(v, tensors) for v in value]
    return value


def _make_layer(node: Node, layers: dict[str, Any], built: dict[str, keras.Model],
                inputs: list[Any]) -> Any:
    if node.kind == "shares":
        if node.ports:
            _PORTS[node.name] = node.ports
        return layers[str(node.target)]
    if node.kind == "model":
        model = built[str(node.target)]
        if node.trainable is not None:
            model.trainable = node.trainable
        return model
    assert node.type is not None  # a "layer" node always has one
    layer = make_layer(node.type, node.args, name=node.name)
    if node.trainable is not None:
        layer.trainable = node.trainable
    if node.ports:
        _PORTS[node.name] = node.ports
    return layer


def make_layer(layer_type: str, args: dict[str, Any], name: str | None = None) -> Any:
    # a keras.layers.Layer (or a _DeferredApplication that builds one when called)
    """Creates one Keras layer from its type and resolved spec arguments."""
    kwargs = objects.layer_arguments(args)
    for key in ("layer", "backward_layer"):
        if isinstance(kwargs.get(key), dict):
            inner = dict(kwargs[key])
            kwargs[key] = make_layer(inner.pop("type"), inner)
    origin = registry.layer_origin(layer_type)
    if origin == "application":  # its `name` argument names the application (VGG16)
        return _application(kwargs, name)
    if name is not None:
        kwargs["name"] = name
    if origin == "builtin":
        return builtin_layers.BUILTIN_LAYERS[layer_type](**kwargs)
    if origin == "python":
        python_layer = registry.python_layer(layer_type)
        assert python_layer is not None
        return python_layer.cls(**kwargs)
    if origin == "keras_hub":  # imported only by specs that use it (it takes seconds)
        import keras_hub
        return getattr(keras_hub.layers, layer_type[len(registry.KERAS_HUB_PREFIX):])(**kwargs)
    return getattr(keras.layers, layer_type)(**kwargs)


def _application(kwargs: dict[str, Any],
                 layer_name: str | None = None) -> _DeferredApplication:
    """A pretrained Keras application used as a layer (transfer learning).

    `weights` is null (random), a local weights file (relative to the spec; checked when
    the spec is checked) or "imagenet", which Keras downloads once into `~/.keras` (its
    default when `weights` is left out). The application model is named after the layer's
    id, like any other layer.
    """
    from pathlib import Path

    app_name = kwargs.pop("name")
    weights = kwargs.get("weights")
    if isinstance(weights, str) and weights != "imagenet" and not Path(weights).exists():
        raise ValueError(f"weights file '{weights}' does not exist")
    if layer_name is not None:
        kwargs["name"] = layer_name
    return _DeferredApplication(app_name, kwargs)


class _DeferredApplication:
    """Builds `keras.applications.<name>` once the input shape is known, then calls it."""

    def __init__(self, app_name: str, kwargs: dict[str, Any]) -> None:
        self.app_name, self.kwargs = app_name, kwargs
        self.trainable = True
        self.model: Any = None

    def __call__(self, x: Any) -> Any:
        kwargs = dict(self.kwargs)
        kwargs.setdefault("include_top", False)
        self.model = getattr(keras.applications, self.app_name)(
            input_shape=tuple(x.shape[1:]), **kwargs)
        self.model.trainable = self.trainable
        return self.model(x)


def _call(layer: Any, node: Node, args: list[Any], call: dict[str, Any]) -> Any:
    convention = (registry.input_convention(node.type)
                  if node.kind == "layer" and node.type is not None else "single")
    if node.kind == "model":
        names = list(layer.input) if isinstance(layer.input, dict) else None
        if names and len(names) == len(args):
            out = layer(dict(zip(names, args)), **call)
        elif len(args) == 1:
            out = layer(args[0] if not names else {names[0]: args[0]}, **call)
        else:
            raise ValueError(f"model '{node.target}' takes {len(names or [1])} input(s), "
                             f"got {len(args)}")
        if isinstance(out, dict) and len(out) == 1:
            out = next(iter(out.values()))
        return out
    if convention == "list":
        return layer(list(args), **call)
    if convention == "positional":
        return layer(*args, **call)
    if len(args) != 1:
        raise ValueError(f"{node.type} takes one input tensor, but 'in:' names {len(args)}; "
                         "merge them first (e.g. Concatenate or Add)")
    return layer(args[0], **call)


def _shape_of(tensor: Any) -> tuple[int | None, ...] | None:
    return tuple(tensor.shape) if hasattr(tensor, "shape") else None


def _shape_notes(node: Node, tensors: Tensors) -> list[str]:
    notes = []
    for ref in node.inputs:
        try:
            shape = _shape_of(_tensor(ref, tensors))
        except Exception:
            continue
        label = str(ref)
        if label.startswith("<input:"):
            label = label[len("<input:"):-1]
        notes.append(f"input '{label}' has shape {_format_shape(shape)}")
    return notes


def _format_shape(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("batch" if i == 0 and d is None else str(d)
                           for i, d in enumerate(shape)) + ")"


def _keras_message(err: Exception) -> str:
    text = str(err).strip()
    text = re.sub(r"^Exception encountered when calling [^\n]*\.\n*", "", text)
    text = text.split("\n\nArguments received by")[0]
    text = re.sub(r"\s+", " ", text)
    return text[:400] + ("..." if len(text) > 400 else "")


def estimate_parameters(layer_type: str, args: dict[str, Any],
                        input_shape: tuple[Any, ...] | None) -> int:
    """A cheap upper estimate of a layer's weights before Keras allocates them (0: unknown)."""
    if input_shape is None:
        return 0
    last = input_shape[-1] or 1
    units = args.get("units") or args.get("filters") or 0
    if layer_type in ("Dense", "EinsumDense") and units:
        return (last + 1) * units
    if "Conv" in layer_type and units:
        kernel = args.get("kernel_size", 1)
        kernel = math.prod(kernel) if isinstance(kernel, (list, tuple)) else kernel ** max(
            1, len(input_shape) - 2)
        groups = args.get("groups") or 1  # grouped (ConvNeXt's depthwise: groups = filters)
        return kernel * max(1, last // groups) * units + units
    if layer_type == "Embedding":
        return (args.get("input_dim") or 0) * (args.get("output_dim") or 0)
    if layer_type in ("LSTM", "GRU", "SimpleRNN") and units:
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[layer_type]
        return gates * units * (last + units + 1)
    return 0


class _SizeGuard(Exception):
    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.message, self.expected = message, expected


def _guard_size(node: Node, inputs: list[Any], before: int = 0) -> int:
    """The layer's estimated weights; raises `_SizeGuard` when the layer alone, or the model
    with it (`before` weights already), would exceed the limits — before Keras allocates."""
    shape = _shape_of(inputs[0]) if inputs else None
    count = estimate_parameters(str(node.type), node.args, shape)
    if count > MAX_LAYER_PARAMS:
        raise _SizeGuard(f"layer '{node.name}' ({node.type}) would have about {count:,} "
                         "weights", f"at most {MAX_LAYER_PARAMS:,} per layer (a size guard "
                         "against exhausting memory)")
    if before + count > MAX_MODEL_PARAMS:
        raise _SizeGuard(f"with layer '{node.name}' ({node.type}) the model would have about "
                         f"{before + count:,} weights", f"at most {MAX_MODEL_PARAMS:,} in a "
                         "model (a size guard against exhausting memory)")
    return count


def _guard_output(node: Node, out: Any) -> None:
    outs = out if isinstance(out, (list, tuple)) else [out]
    for tensor in outs:
        shape = _shape_of(tensor)
        dims = [d for d in shape[1:] if d is not None] if shape else []
        if shape and len(dims) == len(shape) - 1:
            size = math.prod(dims)
            if size > MAX_ACTIVATION_ELEMENTS:
                raise _SizeGuard(f"layer '{node.name}' outputs {size:,} values per example",
                                 f"at most {MAX_ACTIVATION_ELEMENTS:,} (a size guard against "
                                 "exhausting memory)")


def call_model(model: keras.Model, features: Mapping[str, Any]) -> dict[str, Any]:
    """Calls `model` in inference mode on a dict of named inputs; returns a dict of outputs."""
    structure = model.input
    if isinstance(structure, Mapping):
        outputs = model(dict(features), training=False)
    elif isinstance(structure, (list, tuple)):
        outputs = model([features[t.name] for t in structure], training=False)
    else:
        outputs = model(features[structure.name], training=False)
    if isinstance(outputs, Mapping):
        return dict(outputs)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return dict(zip(model.output_names, outputs))


def model_io(model: keras.Model) -> tuple[dict[str, Signature], dict[str, Signature]]:
    """Returns `({input: (shape, dtype)}, {output: (shape, dtype)})`, shapes without batch.

    Works for dict-in/dict-out functional models (what the compiler builds) and for models
    with list or single inputs/outputs (names are then the Keras tensor / output names).
    Dtypes are Keras's standard names (`float32`, `int32`, ...).
    """
    def describe(struct: Any, names: list[str]) -> dict[str, Signature]:
        items: Iterable[tuple[Any, Any]]
        if isinstance(struct, Mapping):
            items = struct.items()
        else:
            items = zip(names, struct if isinstance(struct, (list, tuple)) else [struct])
        return {name: (tuple(t.shape[1:]), keras.backend.standardize_dtype(t.dtype))
                for name, t in items}

    inputs = model.input
    input_names = [t.name for t in (inputs if isinstance(inputs, (list, tuple)) else [inputs])] \
        if not isinstance(inputs, Mapping) else list(inputs)
    return describe(inputs, input_names), describe(model.output, list(model.output_names))
