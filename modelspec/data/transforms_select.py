"""Transforms that select or relabel examples: `filter` and `map_values`.

`filter` keeps the examples whose field is one of a list of values (`tf.data.Dataset.filter`,
so the number of examples changes: the pipeline counts them again). `map_values` maps an
integer or string field through a `tf.lookup.StaticHashTable`, e.g. digit labels 1 and 5 to
classes 0 and 1, a digit to its parity, or a domain id to a sample weight.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from modelspec.data.step import Problem, Step, Tensors


class TableHolder(keras.layers.Layer):
    """Holds a `map_values` lookup table so that a SavedModel tracks (and saves) it.

    The serving-time preprocessing model (`modelspec.data.preprocessing`) lists the layers
    of its steps; a table reachable from a layer is exported with the model.
    """

    def __init__(self, table: Any, **kwargs: Any) -> None:
        super().__init__(trainable=False, **kwargs)
        self.table = table
        self.built = True  # no weights: nothing to build

    def call(self, keys: tf.Tensor) -> tf.Tensor:
        return self.table.lookup(keys)


def _one_value(step: Step, spec: dict[str, tf.TensorSpec]) -> Problem | None:
    """A problem when the step's field holds more than one value per example."""
    f = step.inputs[0]
    if spec[f].shape.num_elements() != 1:
        return ((), f"{step.kind} needs one value per example but '{f}' has shape "
                f"{tuple(spec[f].shape)}", "a field of shape () or (1,)", False)
    return None


class Filter(Step):
    """Keeps the examples whose `field` is one of `values`: a `tf.data.Dataset.filter`.

    It writes no field (`output` is None), so the serving-time preprocessing skips it; the
    pipeline counts the examples that remain (the dataset's cardinality becomes unknown and
    is set again with `assert_cardinality`).
    """

    filtering = True

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.output = None

    def problem(self, spec: dict[str, tf.TensorSpec]) -> Problem | None:
        f = self.inputs[0]
        is_string = spec[f].dtype == tf.string
        for i, v in enumerate(self.config["values"]):
            if isinstance(v, str) != is_string:
                kind = "strings" if is_string else spec[f].dtype.name
                return (("values", i), f"value {v!r} cannot equal field '{f}', which holds "
                        f"{kind}", "strings" if is_string else "integers", False)
        return _one_value(self, spec)

    def keep(self, example: Tensors) -> tf.Tensor:
        """The `tf.data.Dataset.filter` predicate: a scalar bool tensor."""
        x = tf.reshape(example[self.inputs[0]], [])
        return tf.reduce_any(tf.equal(x, tf.constant(self.config["values"], dtype=x.dtype)))


class MapValues(Step):
    """Maps an integer or string field through a `tf.lookup.StaticHashTable`.

    The outputs are int64 when every value (and `default`) is an integer, else float32. A
    value missing from the table takes `default`. Without one the pipeline checks every split
    when it is built (`unknown_values`: a positioned error names the missing values); at
    serving time (the `serving_raw` signature) a missing value then gives -1, as a served
    graph has no error path; give `default` to choose the value.
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        values = list(cfg["mapping"].values()) + ([cfg["default"]] if "default" in cfg else [])
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        self.out_dtype = tf.int64 if ints else tf.float32
        self.missing = -1  # at serving time only: the pipeline rejects unknown values
        self.table: Any = None
        self.keys: Any = None

    def problem(self, spec: dict[str, tf.TensorSpec]) -> Problem | None:
        f = self.inputs[0]
        dtype = spec[f].dtype
        if dtype.is_floating or dtype == tf.bool:
            return ((), f"map_values needs an integer or string field but '{f}' is "
                    f"{dtype.name}", "an integer or string field (cast with dtype: int64 first)",
                    False)
        if dtype != tf.string:
            for key in self.config["mapping"]:
                try:
                    int(key)
                except ValueError:
                    return (("mapping", key), f"key '{key}' is not an integer but field '{f}' "
                            f"is {dtype.name}", "integer keys, quoted: {'1': 0, '5': 1}", True)
        return None

    def adapt(self, dataset: tf.data.Dataset) -> None:
        is_string = dataset.element_spec[self.inputs[0]].dtype == tf.string
        mapping = self.config["mapping"]
        keys = [str(k) if is_string else int(k) for k in mapping]
        self.keys = tf.constant(keys, dtype=tf.string if is_string else tf.int64)
        values = tf.constant(list(mapping.values()), dtype=self.out_dtype)
        default = tf.constant(self.config.get("default", self.missing), dtype=self.out_dtype)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(self.keys, values), default_value=default)
        self.layer = TableHolder(self.table)

    def _keys(self, x: tf.Tensor) -> tf.Tensor:
        return x if x.dtype == tf.string else tf.cast(x, tf.int64)

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        return self.table.lookup(self._keys(t[self.inputs[0]]))

    def unknown_values(self, dataset: tf.data.Dataset, limit: int = 5) -> list[Any]:
        """Up to `limit` values of the field in `dataset` that the mapping lacks (sorted)."""
        known = set(self.keys.numpy().tolist())
        column = dataset.map(lambda e: tf.reshape(self._keys(e[self.inputs[0]]), [-1]),
                             num_parallel_calls=tf.data.AUTOTUNE)
        seen: set[Any] = set()
        for chunk in column.unbatch().batch(1 << 14):
            seen.update(tf.unique(chunk)[0].numpy().tolist())
        missing = sorted(seen - known)
        return [v.decode() if isinstance(v, bytes) else v for v in missing[:limit]]
