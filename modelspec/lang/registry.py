"""Closed registries: the only component names a spec may use.

Layers come from three places, all closed: Keras's own layers (from the static catalogue),
modelspec's built-in layers for what Keras lacks (local response normalisation, gradient
reversal, step activation), and layers a Python user registers with
`modelspec.register_layer` (the extension point; specs can never import code themselves).

The registry also knows how a layer takes several inputs (`in: [a, b]`) and what its named
output ports are (`enc.h` for an LSTM with `return_state: true`). Nothing here imports
TensorFlow.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelspec.lang import builtin_args, catalog

# How `in: [a, b, ...]` reaches the layer's call, following Keras's own call signatures:
# merge layers and Attention take one list; MultiHeadAttention takes (query, value, key).
LIST_INPUT_LAYERS = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                     "Concatenate", "Dot", "Attention", "AdditiveAttention", "HashedCrossing",
                     "AddLoss", "Sampling", "CustomScaleLayer"}
POSITIONAL_INPUT_LAYERS = {"MultiHeadAttention", "GroupQueryAttention",
                           "keras_hub.TransformerDecoder"}
KERAS_HUB_PREFIX = "keras_hub."  # keras_hub's layers, by name: `type: keras_hub.TransformerEncoder`
RECURRENT_STATES = {"LSTM": ["h", "c"], "GRU": ["h"], "SimpleRNN": ["h"],
                    "ConvLSTM1D": ["h", "c"], "ConvLSTM2D": ["h", "c"], "ConvLSTM3D": ["h", "c"]}
APPLICATION = "Application"


@dataclass
class PythonLayer:
    """A layer class registered from Python (`modelspec.register_layer`)."""

    cls: type
    inputs: str = "single"
    ports: list[str] | None = None
    args: dict[str, Any] = field(default_factory=dict)
    call: dict[str, Any] = field(default_factory=dict)


@dataclass
class PythonComponent:
    """A loss, metric or callback registered from Python (`modelspec.register_loss`, ...)."""

    obj: Any  # a class (built with the spec's arguments) or a function (losses, metrics)
    args: dict[str, Any] = field(default_factory=dict)  # a class's constructor arguments → default


COMPONENT_KINDS = ("losses", "metrics", "callbacks")
_PYTHON_LAYERS: dict[str, PythonLayer] = {}
_PYTHON_COMPONENTS: dict[str, dict[str, PythonComponent]] = {k: {} for k in COMPONENT_KINDS}


def _constructor_args(cls: type) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for pname, param in inspect.signature(cls.__init__).parameters.items():  # type: ignore[misc]
        if pname in ("self", "name") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = param.default
        args[pname] = catalog.REQUIRED if default is inspect.Parameter.empty else (
            default if isinstance(default, (bool, int, float, str, type(None))) else None)
    return args


def register_python_component(kind: str, name: str, obj: Any) -> None:
    """Registers a Python loss, metric or callback under `name` (see `modelspec.register_loss`).

    Raises:
        ValueError: An unknown kind, a name Keras already uses, or a callback that is not a
            class.
    """
    if kind not in COMPONENT_KINDS:
        raise ValueError(f"kind must be one of {COMPONENT_KINDS}")
    if kind != "callbacks" and name in catalog.catalog()[kind]:
        raise ValueError(f"'{name}' is already a Keras {kind[:-1]}")
    if kind == "callbacks" and not inspect.isclass(obj):
        raise ValueError("a callback is registered as a keras.callbacks.Callback subclass")
    args = _constructor_args(obj) if inspect.isclass(obj) else {}
    _PYTHON_COMPONENTS[kind][name] = PythonComponent(obj, args)
    changed()


def unregister_python_component(kind: str, name: str) -> None:
    """Removes a loss, metric or callback registered from Python."""
    if _PYTHON_COMPONENTS[kind].pop(name, None) is not None:
        changed()


def python_components(kind: str) -> dict[str, PythonComponent]:
    """The losses / metrics / callbacks registered from Python: name → component."""
    return dict(_PYTHON_COMPONENTS.get(kind, {}))
_LISTENERS: list[Callable[[], None]] = []


def register_python_layer(name: str, cls: type, *, inputs: str = "single",
                          ports: list[str] | None = None) -> None:
    """Registers a Python layer class under `name` (see `modelspec.register_layer`).

    Raises:
        ValueError: If the name is taken or `inputs` is not single/list/positional.
    """
    if name in layer_names() and name not in _PYTHON_LAYERS:
        raise ValueError(f"layer type '{name}' is already registered")
    if inputs not in ("single", "list", "positional"):
        raise ValueError("inputs must be 'single', 'list' or 'positional'")
    _PYTHON_LAYERS[name] = PythonLayer(cls, inputs, ports, _constructor_args(cls))
    changed()


def on_change(listener: Callable[[], None]) -> None:
    """Calls `listener` whenever a layer is registered or removed (caches built from the
    registries subscribe: the assembled schema, memoised argument checks)."""
    _LISTENERS.append(listener)


def changed() -> None:
    """Tells every subscriber that the registries changed."""
    for listener in _LISTENERS:
        listener()


def unregister_python_layer(name: str) -> None:
    """Removes a layer registered from Python (tests, plugins unloading)."""
    if _PYTHON_LAYERS.pop(name, None) is not None:
        changed()


def python_layer(name: str) -> PythonLayer | None:
    return _PYTHON_LAYERS.get(name)


def layer_names() -> list[str]:
    """Every `type:` a spec may name."""
    return sorted(set(catalog.names("layers")) | set(builtin_args.BUILTIN_LAYER_ARGS)
                  | set(_PYTHON_LAYERS) | {APPLICATION})


def layer_origin(name: str) -> str:
    """Where a layer type comes from: "keras", "keras_hub", "builtin", "python" or
    "application"."""
    if name == APPLICATION:
        return "application"
    if name in builtin_args.BUILTIN_LAYER_ARGS:
        return "builtin"
    if name in _PYTHON_LAYERS:
        return "python"
    return "keras_hub" if name.startswith(KERAS_HUB_PREFIX) else "keras"


def layer_arguments(name: str) -> dict[str, Any]:
    """Constructor arguments of a layer type: name → default (`catalog.REQUIRED` if none)."""
    origin = layer_origin(name)
    if origin == "builtin":
        return {k: v.get("default", catalog.REQUIRED)
                for k, v in builtin_args.BUILTIN_LAYER_ARGS[name].items()}
    if origin == "python":
        return dict(_PYTHON_LAYERS[name].args)
    if origin == "application":
        return {"name": catalog.REQUIRED, "weights": None, "include_top": False,
                "pooling": None, "classes": 1000, "classifier_activation": "softmax"}
    return catalog.arguments("layers", name)


def layer_call_arguments(name: str) -> dict[str, Any]:
    """Arguments of the layer's call (besides its input tensors): name → default."""
    if layer_origin(name) in ("keras", "keras_hub"):
        call = dict(catalog.call_arguments(name))
    else:
        call = {"training": None}
    for tensor_arg in ("inputs", "sequences", "query", "value", "x", "decoder_sequence",
                       "encoder_sequence"):
        call.pop(tensor_arg, None)
    return call


def input_convention(name: str) -> str:
    """How several inputs reach the layer: "single", "list" or "positional"."""
    if name in _PYTHON_LAYERS:
        return _PYTHON_LAYERS[name].inputs
    if name in LIST_INPUT_LAYERS:
        return "list"
    if name in POSITIONAL_INPUT_LAYERS:
        return "positional"
    return "single"


def output_ports(name: str, args: dict[str, Any],
                 call: dict[str, Any] | None = None) -> list[str] | None:
    """Names of a layer's outputs when it returns several, else None.

    Args:
        name: The layer type.
        args: Its (resolved) constructor arguments.
        call: Its (resolved) call arguments.

    Example:
    >>> output_ports("LSTM", {"units": 8, "return_state": True})
    ['out', 'h', 'c']
    """
    call = call or {}
    if name in _PYTHON_LAYERS:
        return _PYTHON_LAYERS[name].ports
    if name in RECURRENT_STATES and args.get("return_state"):
        return ["out"] + RECURRENT_STATES[name]
    layer = args.get("layer")
    inner: dict[str, Any] = layer if isinstance(layer, dict) else {}
    if name == "Bidirectional" and inner.get("return_state"):
        states = RECURRENT_STATES.get(str(inner.get("type")), ["h"])
        return (["out"] + [f"forward_{s}" for s in states]
                + [f"backward_{s}" for s in states])
    if name in ("MultiHeadAttention", "Attention", "GroupQueryAttention") \
            and call.get("return_attention_scores"):
        return ["out", "scores"]
    return None
