"""A Keras layer config → the arguments a person would write: only those that differ
from Keras's defaults, in the spec's own forms.

Defaults come from the static catalogue (`modelspec/components/keras_catalog.json`), so
this needs no TensorFlow. Serialised Keras objects become spec values: an initialiser
with default arguments is its Keras name (`he_normal`), otherwise `{type: HeNormal,
seed: 1}`; `activation: linear` is Keras's None; tuples of equal sizes are one number
(`kernel_size: 3`), as Keras accepts.

Example:
>>> layer_arguments("Conv2D", {"filters": 64, "kernel_size": [3, 3], "padding": "same",
...                            "strides": [1, 1], "activation": "relu", "name": "c1"})
({'filters': 64, 'kernel_size': 3, 'padding': 'same', 'activation': 'relu'}, [])
"""

from __future__ import annotations

from typing import Any

from modelspec.lang import builtin_args, catalog, registry
from modelspec.lang.flatgraph import keras_style_name

# Keys of a layer config that are not constructor arguments a spec writes.
_IDENTITY_KEYS = {"name", "trainable", "dtype", "quantization_config", "batch_input_shape",
                  "batch_shape"}
# Arguments Keras accepts as one int where the config stores a tuple of equal ints.
_COLLAPSIBLE = {"kernel_size", "strides", "pool_size", "dilation_rate", "size", "padding",
                "cropping"}
_COMPONENT_SUFFIXES = {"_initializer": "initializers", "_regularizer": "regularizers",
                       "_constraint": "constraints"}
_FLOAT_POLICIES = {None, "float32"}
# Config keys of base classes that no constructor lists, at their defaults.
_IMPLICIT = {"zero_output_for_mask": False, "rms_scaling": False}
_NONE = object()
_CLASS_ONLY = {"Constant"}  # keras.initializers.get("constant") needs a value: {type: Constant}
_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}  # Keras's short names
_IMAGE_FORMAT = "channels_last"


def layer_arguments(layer_type: str, config: dict) -> tuple[dict, list[str]]:
    """The non-default arguments of a layer, and what cannot be expressed.

    Args:
        layer_type: The spec's layer type (a Keras layer class name).
        config: The layer's Keras config (`layer.get_config()`).

    Returns:
        (arguments in the spec's form, problems: one text per argument that a spec
        cannot hold).
    """
    defaults = registry.layer_arguments(layer_type)
    args, problems = {}, []
    policy = _policy_name(config.get("dtype"))
    if policy not in _FLOAT_POLICIES:
        args["dtype"] = policy
    for key, value in config.items():
        if key in _IDENTITY_KEYS:
            continue
        if key not in defaults:
            if value not in (None, [], {}) and _IMPLICIT.get(key, _NONE) != value:
                problems.append(f"argument '{key}' ({_short(value)}) is not an argument "
                                f"of {layer_type} that a spec can set")
            continue
        if key == "axis" and isinstance(value, list) and len(value) == 1:
            value = value[0]  # Keras stores axis=3 of normalisation layers as [3]
        converted, problem = _convert(key, value)
        if problem:
            problems.append(problem)
            continue
        default = defaults[key]
        if default != catalog.REQUIRED and _same(key, converted, default):
            continue
        args[key] = compact(key, converted)
    if "Pooling" in layer_type and "strides" in args and _same(
            "strides", args["strides"], args.get("pool_size", defaults.get("pool_size"))):
        del args["strides"]  # Keras's strides=None means strides = pool_size
    return args, problems


def _policy_name(dtype: Any) -> str | None:
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name")
    return dtype


def _convert(key: str, value: Any) -> tuple[Any, str | None]:
    """A config value in the spec's form; (None, problem) when a spec cannot hold it."""
    for suffix, kind in _COMPONENT_SUFFIXES.items():
        if key.endswith(suffix):
            return component(kind, value)
    if key.endswith("activation") and isinstance(value, dict):
        return None, (f"activation '{key}' is a {value.get('class_name')} object, not a "
                      "Keras activation name")
    if isinstance(value, dict):
        return None, f"argument '{key}' is an object ({_short(value)})"
    return _plain(value), None


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def component(kind: str, value: Any) -> tuple[Any, str | None]:
    """A serialised initialiser/regulariser/constraint → `name` or `{type: Class, ...}`."""
    if value is None or isinstance(value, str):
        return value, None
    if not isinstance(value, dict) or "class_name" not in value:
        return None, f"a {kind[:-1]} that is not a Keras object ({_short(value)})"
    name = value["class_name"]
    classes = catalog.catalog()[kind]
    if kind == "regularizers" and name in builtin_args.BUILTIN_REGULARIZER_ARGS:
        # modelspec's own (structural multi-task learning): `{type: GroupSparsity, l: ...}`
        allowed = builtin_args.BUILTIN_REGULARIZER_ARGS[name]
        own = {k: _plain(v) for k, v in (value.get("config") or {}).items()
               if k in allowed and _plain(v) != allowed[k].get("default", _NONE)}
        return {"type": name, **own}, None
    if name not in classes:
        return None, (f"{kind[:-1]} '{name}' is not one of Keras's {kind} (a custom object "
                      "cannot be written in a spec)")
    own = {k: _plain(v) for k, v in (value.get("config") or {}).items()
           if k in classes[name] and _plain(v) != classes[name][k]}
    unknown = [k for k, v in (value.get("config") or {}).items()
               if k not in classes[name] and v is not None]
    if unknown:
        return None, f"{kind[:-1]} '{name}' has arguments the catalogue lacks: {unknown}"
    if not own and keras_style_name(name) in catalog.string_names(kind) \
            and name not in _CLASS_ONLY:
        return keras_style_name(name), None
    return {"type": name, **own}, None


def _same(key: str, value: Any, default: Any) -> bool:
    return _canonical(key, value) == _canonical(key, default)


def _canonical(key: str, value: Any) -> Any:
    if key.endswith("activation") and value in (None, "linear"):
        return None
    if key == "data_format" and value is None:
        return _IMAGE_FORMAT
    if key.endswith("_initializer") or key.endswith("_regularizer") or \
            key.endswith("_constraint"):
        if isinstance(value, str):
            return _ALIASES.get(keras_style_name(value), keras_style_name(value))
        if isinstance(value, dict) and len(value) == 1:
            name = keras_style_name(value["type"])
            return _ALIASES.get(name, name)
    if isinstance(value, list) and key in _COLLAPSIBLE:
        flat = _flatten(value)
        if flat and all(v == flat[0] for v in flat):
            return ("uniform", flat[0])
    if isinstance(value, int) and not isinstance(value, bool) and key in _COLLAPSIBLE:
        return ("uniform", value)
    return value


def compact(key: str, value: Any) -> Any:
    """`[3, 3]` → `3` for arguments Keras accepts as one int; otherwise unchanged."""
    if isinstance(value, list) and key in _COLLAPSIBLE:
        flat = _flatten(value)
        if flat and all(isinstance(v, int) and v == flat[0] for v in flat):
            return flat[0]
    return value


def _flatten(value: list) -> list:
    out = []
    for item in value:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
