"""Checks of a data pipeline that need the data (TensorFlow), and facts derived from it.

Used by `modelspec.data.pipeline.build_datasets`: which transforms fit a field's dtype, which
fields can weight examples (`data.sample_weights`), and the class names after transforms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from modelspec.data.step import Step
from modelspec.data.transforms_select import MapValues
from modelspec.errors import Collector, did_you_mean

NUMERIC_ONLY = ("rescale", "normalize", "resize", "stack", "one_hot", "noise")
STRING_ONLY = ("replace", "tokenize")


def dtype_problem(step: Step, spec: Mapping[str, tf.TensorSpec]) -> tuple[str, str] | None:
    """(message, expected) when a transform reads a field of the wrong kind, else None."""
    for f in step.inputs:
        is_string = spec[f].dtype == tf.string
        if is_string and step.kind in NUMERIC_ONLY:
            return (f"{step.kind} needs a numeric field but '{f}' holds strings",
                    "a numeric field (strings: lookup, hashing or tokenize first)")
        if not is_string and step.kind in STRING_ONLY:
            return (f"{step.kind} needs a string field but '{f}' is {spec[f].dtype.name}",
                    "a string field (cast with dtype: string first)")
    return None


def weight_fields(given: Mapping[str, str], outputs: Mapping[str, Any],
                  fields: Mapping[str, tf.TensorSpec], errs: Collector) -> Mapping[str, str]:
    """Checks `data.sample_weights` (model output → field, `given`); returns it."""
    for name, fld in given.items():
        where = ("data", "sample_weights", name)
        if name not in outputs:
            errs.add(where, f"the model has no output '{name}'",
                     expected=f"one of {sorted(outputs)}" if outputs else
                     "a model with outputs (trained with targets)",
                     suggestion=did_you_mean(name, sorted(outputs)), key=True)
        elif fld not in fields:
            errs.add(where, f"unknown field '{fld}'", expected=f"one of {sorted(fields)}",
                     suggestion=did_you_mean(fld, sorted(fields)))
        elif fields[fld].dtype == tf.string or fields[fld].shape.num_elements() != 1:
            errs.add(where, f"field '{fld}' ({fields[fld].dtype.name}, shape "
                     f"{tuple(fields[fld].shape)}) cannot weight examples",
                     expected="a numeric field with one value per example (a map_values "
                     "transform can make one)")
    return given


def class_names_after(names: list[str] | None, steps: Sequence[Step]) -> list[str] | None:
    """The source's `class_names` (of field `label`) after the steps that rewrite `label`.

    A `map_values` table relabels them (new class j is named after the old classes mapped to
    it, e.g. '1', '5' or '0/2/4/6/8'); other rewrites of `label` but casts drop them.
    """
    for step in steps:
        if names is None or step.output != "label" or step.kind in ("cast", "one_hot"):
            continue
        table = step.config.get("mapping") if isinstance(step, MapValues) else None
        if not table or not isinstance(step, MapValues) or step.out_dtype != tf.int64 \
                or "default" in step.config or min(table.values()) < 0:
            return None
        new: dict[Any, list[str]] = {}
        for key, value in table.items():
            if 0 <= int(key) < len(names):
                new.setdefault(value, []).append(names[int(key)])
        names = ["/".join(new.get(j, ["?"])) for j in range(max(table.values()) + 1)]
    return names
