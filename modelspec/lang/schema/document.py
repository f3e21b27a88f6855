"""The JSON Schema (Draft 2020-12) of a spec, assembled from the closed registries.

The document schema is generated, never written by hand: layer types and their arguments
come from the registries (Keras's catalogue, built-in and Python-registered layers), and the
`data`, `train` and `export` sections contribute their own fragments. Every object is
closed (`additionalProperties: false`), and each layer type's arguments are checked by an
`if type == X then ...` rule, so an error names the layer's own arguments. The same schema
is printed by `modelspec schema` for editors (`# yaml-language-server: $schema=...`).

Example:
>>> from jsonschema import Draft202012Validator
>>> Draft202012Validator.check_schema(document_schema())
"""

from __future__ import annotations

import functools
from typing import Any

from modelspec.lang import catalog, registry
from modelspec.lang.schema import argtypes
from modelspec.lang.schema.fragments import PARAM_REF, param_or
from modelspec.lang.sections import SECTIONS

SCHEMA_ID = "https://modelspec.dev/schema/v1.json"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
TENSOR_REF = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
# Keys every layer item may have besides its arguments (docs/DESIGN.md §1 "Layer graphs").
COMMON_KEYS = ("id", "in", "if", "repeat", "first", "vary", "call", "trainable")


def clear_cache() -> None:
    """Forgets the assembled schema (the registries changed: a Python layer was registered)."""
    document_schema.cache_clear()
    layer_argument_schemas.cache_clear()


registry.on_change(clear_cache)


@functools.lru_cache(maxsize=1)
def layer_argument_schemas() -> dict[str, Any]:
    """Layer type → {argument: schema} for every registered layer type."""
    from modelspec.lang import builtin_args
    out = {}
    for name in registry.layer_names():
        origin = registry.layer_origin(name)
        if origin == "builtin":
            out[name] = dict(builtin_args.BUILTIN_LAYER_ARGS[name])
            continue
        args = {}
        for arg, default in registry.layer_arguments(name).items():
            if origin == "application" and arg == "name":
                args[arg] = {"enum": sorted(catalog.catalog()["applications"])}
            elif origin == "application" and arg == "weights":
                args[arg] = {"type": ["string", "null"]}
            else:
                args[arg] = argtypes.argument_schema("layers", name, arg, default)
        out[name] = args
    return out


def _layer_rule(name: str, args: dict[str, Any]) -> dict[str, Any]:
    props = {"type": {"const": name}}
    props.update(_common_props(args, registry.layer_call_arguments(name)))
    props.update({arg: param_or(schema) for arg, schema in args.items()})
    return {"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"properties": props, "additionalProperties": False}}


def _common_props(args: dict[str, Any] | None, call_args: dict[str, Any] | None) -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string", "pattern": TENSOR_REF}, "minItems": 1}
    first = {"type": "object", "properties": {a: param_or(s) for a, s in args.items()},
             "additionalProperties": False} if args is not None else {"type": "object"}
    vary = {"type": "object",
            "properties": {a: {"anyOf": [{"type": "array"}, {"$ref": "#/$defs/param_ref"}]}
                           for a in args},
            "additionalProperties": False} if args is not None else {"type": "object"}
    call = ({"type": "object", "properties": {a: {} for a in call_args},
             "additionalProperties": False} if call_args is not None else {"type": "object"})
    return {
        "id": {"type": "string", "pattern": IDENT},
        "in": {"anyOf": [{"type": "string", "pattern": TENSOR_REF}, strings]},
        "if": param_or({"type": "boolean"}),
        "repeat": param_or({"type": "integer", "minimum": 1, "maximum": 1000}),
        "first": first,
        "vary": vary,
        "call": call,
        "trainable": param_or({"type": "boolean"}),
    }


def _graph_schema() -> dict[str, Any]:
    shape_item = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": argtypes.MAX_UNITS},
                            {"type": "null"}, {"$ref": "#/$defs/param_ref"}]}
    input_schema = {"type": "object", "additionalProperties": False, "required": ["shape"],
                    "properties": {
                        "shape": {"anyOf": [{"type": "array", "items": shape_item, "maxItems": 8},
                                            {"$ref": "#/$defs/param_ref"}]},
                        "dtype": param_or({"enum": ["float16", "bfloat16", "float32", "float64",
                                                    "int32", "int64", "uint8", "bool", "string"]}),
                        "sparse": {"type": "boolean"},
                        "ragged": {"type": "boolean"},
                    }}
    return {"type": "object", "additionalProperties": False, "required": ["inputs", "layers"],
            "properties": {
                "description": {"type": "string"},
                "weights": {"type": "string", "description": "a Keras weights file "
                            "(.weights.h5, relative to the spec) the model starts from"},
                "inputs": {"type": "object", "minProperties": 1,
                           "propertyNames": {"pattern": IDENT},
                           "additionalProperties": input_schema},
                "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer_item"}},
                "outputs": {"anyOf": [
                    {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENT},
                     "additionalProperties": {"type": "string", "pattern": TENSOR_REF}},
                    {"type": "string", "pattern": TENSOR_REF}]},
            }}


def _layer_item_schema() -> dict[str, Any]:
    common_free = _common_props(None, None)
    block_call = {"type": "object", "required": ["block"],
                  "properties": {"block": {"type": "string", "pattern": IDENT}, **common_free},
                  "propertyNames": {"pattern": IDENT},
                  "description": "a block invocation: other keys are the block's params"}
    model_call = {"type": "object", "required": ["model"], "additionalProperties": False,
                  "properties": {"model": {"type": "string", "pattern": IDENT},
                                 **{k: common_free[k] for k in ("id", "in", "if", "call",
                                                                "trainable")}}}
    shared_call = {"type": "object", "required": ["shares"], "additionalProperties": False,
                   "properties": {"shares": {"type": "string", "pattern": IDENT},
                                  **{k: common_free[k] for k in ("id", "in", "if", "call")}}}
    return {
        "type": "object",
        "description": "a layer: exactly one of type, block, model or shares",
        "allOf": [
            {"if": {"required": ["type"]}, "then": {"$ref": "#/$defs/typed_layer"}},
            {"if": {"required": ["block"]}, "then": block_call},
            {"if": {"required": ["model"]}, "then": model_call},
            {"if": {"required": ["shares"]}, "then": shared_call},
        ],
        "anyOf": [{"required": [k]} for k in ("type", "block", "model", "shares")],
    }


@functools.lru_cache(maxsize=1)
def document_schema() -> dict[str, Any]:
    """The whole-document schema; passes `Draft202012Validator.check_schema`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "modelspec spec, language version 1",
        "type": "object",
        "additionalProperties": False,
        "required": ["modelspec"],
        "properties": _document_properties(),
        "$defs": _definitions(),
    }


def _document_properties() -> dict[str, Any]:
    """The top-level keys: metadata, params, blocks, the model(s) and each stage's section."""
    scalar = {"type": ["number", "integer", "string", "boolean", "null", "array"]}
    properties: dict[str, Any] = {
        "modelspec": {"const": 1, "description": "language version"},
        "name": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.-]*$"},
        "description": {"type": "string"},
        "references": {"type": "array", "items": {"anyOf": [
            {"type": "string"},
            {"type": "object", "additionalProperties": False,
             "properties": {k: {"type": ["string", "integer"]} for k in (
                 "title", "authors", "year", "venue", "url", "lecture", "slides", "note")}}]}},
        "params": {"type": "object", "propertyNames": {"pattern": IDENT},
                   "additionalProperties": scalar},
        "blocks": {"type": "object", "propertyNames": {"pattern": IDENT},
                   "additionalProperties": {"$ref": "#/$defs/block"}},
        "model": {"$ref": "#/$defs/graph"},
        "models": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENT},
                   "additionalProperties": {"$ref": "#/$defs/graph"}},
    }
    for section in SECTIONS:
        properties[section.key] = section.schema()
    return properties


def _definitions() -> dict[str, Any]:
    """The `$defs`: graphs, blocks, layer items (one rule per layer type), argument types."""
    arg_schemas = layer_argument_schemas()
    names = registry.layer_names()
    wrapped = {"type": "object", "required": ["type"],
               "properties": {"type": {"enum": names}},
               "allOf": [{"if": r["if"], "then": {
                   "properties": {k: v for k, v in r["then"]["properties"].items()
                                  if k not in COMMON_KEYS},
                   "additionalProperties": False}}
                   for r in (_layer_rule(n, arg_schemas[n]) for n in names)]}
    return {
        "param_ref": PARAM_REF,
        "graph": _graph_schema(),
        "block": _block_schema(),
        "layer_item": _layer_item_schema(),
        "typed_layer": {"type": "object", "properties": {"type": {"enum": names}},
                        "allOf": [_layer_rule(n, arg_schemas[n]) for n in names]},
        "wrapped_layer": wrapped,
        "activation": {"anyOf": [
            {"enum": sorted(set(catalog.string_names("activations"))
                            | set(_builtin_activations())) + [None]},
            {"$ref": "#/$defs/param_ref"}]},
        "initializer": argtypes.component_schema("initializers",
                                                 catalog.string_names("initializers")),
        "regularizer": argtypes.component_schema("regularizers",
                                                 catalog.string_names("regularizers"),
                                                 _builtin_regularizers()),
        "constraint": argtypes.component_schema("constraints", catalog.string_names("constraints")),
        "schedule": argtypes.component_schema("schedules", []),
    }


def _block_schema() -> dict[str, Any]:
    """A `blocks:` entry: its parameters, inputs and layers."""
    return {"type": "object", "additionalProperties": False, "required": ["layers"],
            "properties": {
                "description": {"type": "string"},
                "params": {"type": "object", "propertyNames": {"pattern": IDENT}},
                "inputs": {"type": "array", "items": {"type": "string", "pattern": IDENT},
                           "minItems": 1},
                "layers": {"type": "array", "minItems": 1,
                           "items": {"$ref": "#/$defs/layer_item"}},
            }}


def _builtin_regularizers() -> dict[str, dict[str, dict[str, Any]]]:
    from modelspec.lang import builtin_args
    return builtin_args.BUILTIN_REGULARIZER_ARGS


def _builtin_activations() -> list[str]:
    from modelspec.lang import builtin_args
    return list(getattr(builtin_args, "BUILTIN_ACTIVATION_NAMES", []))
