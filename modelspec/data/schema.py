"""JSON Schema of the `data:` section, and its semantic checks (no TensorFlow).

A `data:` section names a source, maps its fields to the model's inputs and outputs, and
says how examples become batches:

```yaml
data:
  source: {type: sklearn, name: digits}
  features: {image: images}          # model input  <- source field
  targets: {digit: label}            # model output <- source field
  sample_weights: {digit: weight}    # optional: model output <- field of example weights
  splits: {train: "all[:80%]", validation: "all[80%:]"}
  transforms: [{type: rescale, field: images, scale: 0.0625}]
  augment: [{type: random_rotation, factor: 0.05, field: images}]
  batch_size: 32
  shuffle: 1024
  cache: true
  seed: 0
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modelspec.data.registry import (
    AUGMENTS,
    GENERATED,
    SOURCES,
    SPLIT_NAMES,
    TRANSFORMS,
    Args,
    Schema,
)
from modelspec.errors import Collector
from modelspec.lang.schema.fragments import BOOL, INT, POS_INT, STR, obj, param_or
from modelspec.lang.spec import CheckedSpec


def _wrap(args: Args) -> Args:
    return {name: param_or(schema) for name, schema in args.items()}


def _typed_union(table: Mapping[str, Any], description: str, args_of: Callable[[str], Args],
                 required_of: Callable[[str], Sequence[str]]) -> Schema:
    """An object with a `type:` picking one entry of `table`, arguments checked per type."""
    union: Args = {}
    branches: list[Schema] = []
    for name in table:
        args = _wrap(args_of(name))
        for key, schema in args.items():  # a key of several types (`download`): its type's
            known = union.get(key)       # branch below checks it (one error, not two)
            union[key] = schema if known in (None, schema) else {}
        then = obj({"type": {"const": name}, **args}, required=("type", *required_of(name)))
        branches.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                         "then": then})
    out = obj({"type": {"enum": list(table), "description": description}, **union},
              required=("type",))
    out["allOf"] = branches
    return out


def _generated_branches() -> list[Schema]:
    """`source.name` of a generated source picks which extra arguments are allowed."""
    branches: list[Schema] = []
    allowed_common = ("type", "name", "seed")
    for name, (args, _fields, _desc) in GENERATED.items():
        allowed = set(allowed_common) | set(args)
        branches.append({
            "if": {"properties": {"type": {"const": "generated"}, "name": {"const": name}},
                   "required": ["type", "name"]},
            "then": {"propertyNames": {"enum": sorted(allowed)}},
        })
    branches.append({"if": {"properties": {"type": {"const": "generated"}},
                            "required": ["type"]},
                     # a parameter may choose it (mlp_surface's `surface`): the resolved
                     # name is checked by `data.checks.source_info`
                     "then": {"properties": {"name": param_or({"enum": list(GENERATED)})}}})
    return branches


def source_schema() -> Schema:
    """Schema of `data.source`: one object per source type, arguments checked per type."""
    src_args = {name: {**args, **({"seed": INT} if name == "generated" else {})}
                for name, (args, _req, _d) in SOURCES.items()}
    out = _typed_union(SOURCES, "where examples come from: " + ", ".join(SOURCES),
                       lambda n: src_args[n], lambda n: SOURCES[n][1])
    out["allOf"] += _generated_branches()
    return out


def transform_schema() -> Schema:
    """Schema of one entry of `data.transforms`."""
    return _typed_union(TRANSFORMS, "a transform: " + ", ".join(TRANSFORMS),
                        lambda n: TRANSFORMS[n][0], lambda n: TRANSFORMS[n][1])


def augment_schema() -> Schema:
    """Schema of one entry of `data.augment` (Keras random preprocessing layers)."""
    return _typed_union(AUGMENTS, "an augmentation (training split only): " + ", ".join(AUGMENTS),
                        lambda n: AUGMENTS[n][1], lambda n: AUGMENTS[n][2])


def data_schema() -> Schema:
    """Returns the JSON Schema (Draft 2020-12) fragment of the whole `data:` section.

    Every object is closed (`additionalProperties: false`); every leaf value may also be a
    `$name` / `$(expression)` parameter reference (`#/$defs/param_ref` of the whole schema).

    Returns:
        A dict usable as `properties.data` of the document schema.

    Example:
    >>> data_schema()["properties"]["source"]["properties"]["type"]["enum"][:2]
    ['sklearn', 'tfds']
    """
    mapping = {"type": "object", "additionalProperties": param_or(STR),
               "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}}
    return obj({
        "source": source_schema(),
        "features": {**mapping, "description": "model input name → source field"},
        "targets": {**mapping, "description": "model output name → source field"},
        "sample_weights": {**mapping, "description": "model output name → field of per-example "
                           "weights for that output's loss and weighted_metrics"},
        "splits": {**obj({name: param_or(STR) for name in SPLIT_NAMES}),
                   "description": "split name → expression such as 'train[:80%]' "
                                  "or 'all[8000:]'"},
        "split_shuffle": param_or(BOOL),
        "transforms": {"type": "array", "items": transform_schema()},
        "augment": {"type": "array", "items": augment_schema()},
        "batch_size": param_or(POS_INT),
        "shuffle": param_or({"anyOf": [BOOL, POS_INT]}),
        "cache": param_or(BOOL),
        "prefetch": param_or(BOOL),
        "drop_remainder": param_or(BOOL),
        "seed": param_or(INT),
    }, required=("source",), description="where examples come from and how they become batches")


def check_data(spec: CheckedSpec, errs: Collector) -> None:
    """Semantic checks of `data:` (files exist, fields and splits known); no TensorFlow.

    Args:
        spec: A `CheckedSpec` (uses `.section("data")` and `.base_dir`).
        errs: The `Collector` problems are added to.
    """
    from modelspec.data.checks import check_section
    from modelspec.lang.expr import ExpressionError
    try:
        section = spec.section("data")
    except ExpressionError:  # an unknown $parameter: reported by the parameter checks
        return
    if section is not None:
        check_section(section, spec.base_dir, errs, outputs=_model_outputs(spec))


def _model_outputs(spec: CheckedSpec) -> list[str] | None:
    """The output names of a single-model spec (`model.outputs` keys), else None."""
    model = spec.raw.get("model")  # output names are plain keys: nothing to substitute
    outs = model.get("outputs") if isinstance(model, dict) else None
    return sorted(outs) if isinstance(outs, dict) else None
