"""Keras objects from spec values: `"he_normal"` or `{type: HeNormal, seed: 1}`.

One function, `make(kind, value)`, for every component kind a spec can name: activations,
initialisers, regularisers, constraints, optimizers, learning-rate schedules, losses and
metrics. Class names are looked up in the closed catalogue (`modelspec.lang.catalog`) and then
taken from Keras's public modules by that name — never by an import path from the spec.
Strings are passed to Keras's own `get` functions (Keras's names, Keras's behaviour).

Example:
>>> make("optimizers", {"type": "SGD", "learning_rate": 0.1, "momentum": 0.9})
<keras.src.optimizers.sgd.SGD object ...>
"""

from __future__ import annotations

from typing import Any

import keras

from modelspec.build.components import builtin_layers
from modelspec.lang import catalog

_MODULES = {
    "initializers": keras.initializers, "regularizers": keras.regularizers,
    "constraints": keras.constraints, "optimizers": keras.optimizers,
    "schedules": keras.optimizers.schedules, "losses": keras.losses, "metrics": keras.metrics,
}
# Arguments of components that are themselves components.
_NESTED = {"learning_rate": "schedules"}


def make(kind: str, value: Any) -> Any:
    """Turns a spec value into the Keras object of `kind`.

    Args:
        kind: "activations", "initializers", "regularizers", "constraints", "optimizers",
            "schedules", "losses" or "metrics".
        value: A Keras name (`"relu"`, `"adam"`, `"mse"`), a mapping `{type: ClassName, ...}`
            with the class's own arguments, or None.

    Returns:
        The Keras object (or the string, where Keras accepts the string itself).

    Raises:
        ValueError: For a name outside the catalogue (the checker reports these earlier).
    """
    if value is None:
        return None
    if kind == "activations":
        if value in builtin_layers.BUILTIN_ACTIVATIONS:
            return builtin_layers.BUILTIN_ACTIVATIONS[value]
        return keras.activations.get(value)
    own = _python_component(kind, value)
    if own is not None:
        return own
    module = _MODULES[kind]
    if isinstance(value, str):
        if value in catalog.catalog()[kind]:
            return getattr(module, value)()
        if kind == "optimizers":
            return keras.optimizers.get(value)
        if kind == "schedules":
            raise ValueError(f"a learning-rate schedule needs its arguments: {value!r}")
        return module.get(value)
    if isinstance(value, (int, float)) and kind == "schedules":
        return float(value)
    if not isinstance(value, dict) or "type" not in value:
        raise ValueError(f"cannot make a {kind[:-1]} from {value!r}")
    name = value["type"]
    if kind == "regularizers" and name in builtin_regularizers():
        return builtin_regularizers()[name](**{k: v for k, v in value.items() if k != "type"})
    if name not in catalog.catalog()[kind]:
        raise ValueError(f"unknown {kind[:-1]} '{name}'")
    args = {k: v for k, v in value.items() if k != "type"}
    for arg, nested_kind in _NESTED.items():
        if arg in args and isinstance(args[arg], dict):
            args[arg] = make(nested_kind, args[arg])
    return getattr(module, name)(**args)


def _python_component(kind: str, value: Any) -> Any:
    """A loss or metric registered from Python (`modelspec.register_loss`), or None."""
    from modelspec.lang import registry
    if kind not in registry.COMPONENT_KINDS:
        return None
    name = value if isinstance(value, str) else (value or {}).get("type") \
        if isinstance(value, dict) else None
    component = registry.python_components(kind).get(name) if isinstance(name, str) else None
    if component is None:
        return None
    if not isinstance(component.obj, type):
        return component.obj  # a function (y_true, y_pred) -> values, as Keras takes it
    args = {k: v for k, v in value.items() if k != "type"} if isinstance(value, dict) else {}
    return component.obj(**args)


def builtin_regularizers() -> dict[str, Any]:
    """modelspec's own regularisers (structural multi-task learning), by class name."""
    from modelspec.build.components.regularizers import BUILTIN_REGULARIZERS
    return BUILTIN_REGULARIZERS

def layer_arguments(args: dict[str, Any]) -> dict[str, Any]:
    """Converts a layer's argument values that name components into Keras objects."""
    out = {}
    for key, value in args.items():
        if key.endswith("activation") and isinstance(value, str):
            out[key] = make("activations", value)
        elif key.endswith("_initializer") and isinstance(value, dict):
            out[key] = make("initializers", value)
        elif key.endswith("_regularizer") and isinstance(value, dict):
            out[key] = make("regularizers", value)
        elif key.endswith("_constraint") and isinstance(value, dict):
            out[key] = make("constraints", value)
        else:
            out[key] = value
    return out
