"""JSON Schemas for the arguments of Keras components, inferred from names and defaults.

Keras's signatures carry no types, so each argument's schema comes from (in order): a table
of well-known argument names (`units` is a positive integer, `padding` of a convolution is
`valid`/`same`/`causal`, `*_initializer` is an initialiser, ...) and, failing that, the
type of its default value. Size-like arguments have a maximum: a spec asking for
`units: 1000000000000` is refused by the schema instead of exhausting memory.
"""

from __future__ import annotations

from typing import Any

from modelspec.lang import catalog
from modelspec.lang.schema.fragments import param_or

MAX_UNITS = 1 << 24          # 16,777,216: larger than any lecture network's widest layer
MAX_DIM = 1 << 16            # kernel sizes, strides, pool sizes, target shapes

_POSITIVE_SIZE = {"units", "filters", "num_heads", "key_dim", "value_dim", "output_dim",
                  "input_dim", "depth_multiplier", "groups", "num_bins", "num_tokens",
                  "max_tokens", "output_sequence_length", "n", "num_classes", "classes"}
_SIZE_TUPLE = {"kernel_size", "strides", "pool_size", "dilation_rate", "size", "output_size"}
# Real-valued arguments whose Keras default happens to be written as an int (MaxNorm's
# `max_value=2`): a spec may give them floats.
_REAL_WITH_INT_DEFAULT = {"max_value", "min_value", "label_smoothing", "adam_lr_ratio",
                          "fill_value", "rate", "factor", "threshold", "negative_slope"}
_PADDING_ENUM = ["valid", "same", "causal", "full"]
_DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
           "uint8", "bool", "string", "mixed_float16", "mixed_bfloat16"]


def ref(kind: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{kind}"}


def int_or_tuple(maximum: int = MAX_DIM, minimum: int = 1, length: int | None = None,
                 nullable: bool = False) -> dict[str, Any]:
    """An int, or a list of `length` ints (1 to 3 when the layer's rank is unknown)."""
    item = {"type": "integer", "minimum": minimum, "maximum": maximum}
    array = {"type": "array", "items": item, "minItems": length or 1, "maxItems": length or 3}
    return {"anyOf": [item, array] + ([{"type": "null"}] if nullable else []),
            "description": f"an integer or a list of {length or '1 to 3'} integers"
                           + (" (e.g. 3 or [3, 3])" if length == 2 else "")}


def _spatial_rank(owner: str) -> int | None:
    """1, 2 or 3 for a layer named ...1D / ...2D / ...3D (Conv2D, MaxPooling1D), else None."""
    for rank in (1, 2, 3):
        if owner.endswith(f"{rank}D"):
            return rank
    return None


def _nested_ints() -> dict[str, Any]:
    item = {"type": "integer", "minimum": 0, "maximum": MAX_DIM}
    pair = {"type": "array", "items": item, "minItems": 1, "maxItems": 2}
    return {"anyOf": [item, {"type": "array", "items": {"anyOf": [item, pair]},
                             "minItems": 1, "maxItems": 3}]}


def argument_schema(kind: str, owner: str, name: str, default: Any) -> dict[str, Any]:
    """The schema of one constructor argument.

    Args:
        kind: "layers", "optimizers", ... (the catalogue section).
        owner: The component's name (e.g. "Conv2D").
        name: The argument's name (e.g. "padding").
        default: Its default value from the catalogue (`catalog.REQUIRED` if none).

    Returns:
        A JSON Schema (Draft 2020-12) dict.
    """
    if name.endswith("activation"):
        return ref("activation")
    if name.endswith("_initializer"):
        return ref("initializer")
    if name.endswith("_regularizer"):
        return ref("regularizer")
    if name.endswith("_constraint"):
        return ref("constraint")
    if name in ("layer", "backward_layer") and kind == "layers":
        return ref("wrapped_layer")
    if name == "dtype":
        return {"enum": _DTYPES}
    if name in _POSITIVE_SIZE:
        return {"type": "integer", "minimum": 1, "maximum": MAX_UNITS}
    if name in _SIZE_TUPLE and (not isinstance(default, str) or default == catalog.REQUIRED):
        return int_or_tuple(length=_spatial_rank(owner) if kind == "layers" else None,
                            nullable=default is None)
    if name == "padding":
        if isinstance(default, str):
            return {"enum": _PADDING_ENUM}
        return _nested_ints()
    if name == "cropping":
        return _nested_ints()
    if name in ("target_shape", "dims"):
        return {"type": "array", "items": {"type": "integer", "minimum": -1, "maximum": MAX_UNITS},
                "maxItems": 8}
    if name == "data_format":
        return {"enum": ["channels_last", "channels_first", None]}
    if name in ("rate", "dropout", "recurrent_dropout", "momentum") and kind == "layers":
        return {"type": "number", "minimum": 0, "maximum": 1}
    if name == "seed":
        return {"type": ["integer", "null"]}
    if name == "learning_rate" and kind == "optimizers":
        return {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, ref("schedule")]}
    if name in _REAL_WITH_INT_DEFAULT:
        return {"type": "number"}
    return _from_default(default)


def _from_default(default: Any) -> dict[str, Any]:
    if default is None or default == catalog.REQUIRED:
        return {}
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int):
        return {"type": "integer"}
    if isinstance(default, float):
        return {"type": "number"}
    if isinstance(default, str):
        return {"type": "string"}
    if isinstance(default, list):
        return {"anyOf": [{"type": "array"}, {"type": "number"}]}
    if isinstance(default, dict) and "__object__" in default:
        return {}
    return {}


def component_schema(kind: str, string_names: list[str],
                     builtin: dict[str, dict[str, dict[str, Any]]] | None = None,
                     ) -> dict[str, Any]:
    """`"he_normal"` or `{type: HeNormal, seed: 1}`: a Keras name, or a class with its arguments.

    One `if/then` rule per class closes the object over that class's own arguments, so a
    misspelt argument is reported against the class (with a suggestion). Any value may also
    be a parameter reference. `builtin` adds modelspec's own classes of that kind (class →
    argument → JSON Schema), e.g. the multi-task regularisers.
    """
    from modelspec.lang import registry
    builtin = builtin or {}
    own = registry.python_components(kind) if kind in registry.COMPONENT_KINDS else {}
    arguments = {cls: catalog.arguments(kind, cls) for cls in catalog.names(kind)}
    arguments.update({name: c.args for name, c in own.items() if isinstance(c.obj, type)})
    string_names = list(string_names) + list(own)
    classes = sorted(set(arguments) | set(builtin))
    rules = []
    for cls in classes:
        props = {"type": {"const": cls}}
        if cls in builtin:
            props.update({arg: param_or(schema) for arg, schema in builtin[cls].items()})
        else:
            props.update({arg: param_or(argument_schema(kind, cls, arg, default))
                          for arg, default in arguments[cls].items()})
        rules.append({"if": {"properties": {"type": {"const": cls}}, "required": ["type"]},
                      "then": {"properties": props, "additionalProperties": False}})
    return {"anyOf": [
        {"type": "string", "enum": sorted(set(string_names) | set(classes))},
        {"type": "object", "required": ["type"],
         "properties": {"type": {"enum": classes}}, "allOf": rules},
        {"$ref": "#/$defs/param_ref"},
    ]}
