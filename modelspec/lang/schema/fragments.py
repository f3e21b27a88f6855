"""Small helpers for writing JSON Schema (Draft 2020-12) fragments.

Every section of a spec may use parameter references (`$name`, `$(expression)`) in place of a
value; `param_or` accepts them so that the schema can be checked before parameters are
substituted. After substitution, values are checked again against the plain schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PARAM_REF = {"type": "string", "pattern": r"^\$(\(.*\)|[A-Za-z_][A-Za-z0-9_]*)$",
             "description": "a parameter reference: $name or $(expression)"}


_REF_TO_PARAM = {"$ref": "#/$defs/param_ref"}


def _items_take_params(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every list item (at any depth) also accepting a parameter reference."""
    out = dict(schema)
    if isinstance(out.get("items"), dict):
        out["items"] = param_or(out["items"])
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = [_items_take_params(b) if isinstance(b, dict) else b
                        for b in out["anyOf"]]
    return out


def param_or(schema: dict[str, Any]) -> dict[str, Any]:
    """Returns a schema accepting `schema` or a `$name` / `$(expr)` parameter reference.

    Inside lists too: `image_size: [$size, $size]` is as valid as `image_size: $sizes`.
    """
    branches = schema.get("anyOf") if isinstance(schema, dict) else None
    if isinstance(branches, list) and _REF_TO_PARAM in branches:
        return schema  # already takes one
    return {"anyOf": [_items_take_params(schema), _REF_TO_PARAM]}

def obj(properties: dict[str, Any], required: Sequence[str] = (),
        description: str | None = None, **extra: Any) -> dict[str, Any]:
    """A closed object schema (`additionalProperties: false`)."""
    out = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    out.update(extra)
    return out


INT = {"type": "integer"}
POS_INT = {"type": "integer", "minimum": 1}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
STR = {"type": "string"}
