"""`train.class_weight` as per-example sample weights in the training dataset.

Keras's `fit(class_weight=...)` maps the dataset with
`keras/src/trainers/data_adapters/tf_dataset_adapter.py: make_class_weight_map_fn`, which
requires a single target tensor; modelspec's datasets yield targets as a dict keyed by
output name (even for one output), so `fit` refuses them. This module applies the same
mapping — class index from the label (rounded, or the argmax of a one-hot row), weight from
the table, 1.0 for classes not listed — to the dict, as `data.sample_weights` would, so the
supervised loop and the multi-worker loop weight classes alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from modelspec.errors import UsageError


def _class_index(y: tf.Tensor) -> tf.Tensor:
    """Keras's rule: argmax of a one-hot row, else the rounded label."""
    if y.shape.rank is not None and y.shape.rank >= 2:
        if y.shape[-1] is not None and y.shape[-1] > 1:
            return tf.argmax(y, axis=-1, output_type=tf.int32)
        return tf.cast(tf.round(tf.squeeze(y, axis=-1)), tf.int32)
    return tf.cast(tf.round(y), tf.int32)


def with_class_weights(dataset: tf.data.Dataset,
                       class_weight: Mapping[str, float]) -> tf.data.Dataset:
    """Adds `class_weight` as the sample weights of the single output of `dataset`.

    Args:
        dataset: Yields `(inputs, {output: targets})` or `(inputs, targets, weights)`.
        class_weight: Class index (int or digit string) → weight.

    Returns:
        A dataset yielding `(inputs, targets, {output: weight per example})`; weights the
        data already had (`data.sample_weights`) are multiplied by the class weights.

    Raises:
        UsageError: When the dataset has more than one target.
    """
    table = {int(k): float(v) for k, v in class_weight.items()}
    weights = tf.constant([table.get(c, 1.0) for c in range(max(table) + 1)], tf.float32)
    targets = dataset.element_spec[1]
    if isinstance(targets, dict) and len(targets) != 1:
        raise UsageError(f"train.class_weight weighs the classes of one output, the model has "
                         f"{len(targets)} ({', '.join(targets)}); weigh each output with "
                         "data.sample_weights instead")

    def weigh(x: Any, y: Any, *rest: Any) -> tuple[Any, ...]:
        (name, labels), = y.items() if isinstance(y, dict) else (("", y),)
        index, size = _class_index(labels), weights.shape[0]
        listed = tf.logical_and(index >= 0, index < size)  # classes not listed weigh 1
        w = tf.where(listed, tf.gather(weights, tf.clip_by_value(index, 0, size - 1)), 1.0)
        if rest:
            before = rest[0][name] if isinstance(rest[0], dict) else rest[0]
            w = w * tf.reshape(tf.cast(before, tf.float32), tf.shape(w))
        return x, y, ({name: w} if isinstance(y, dict) else w)
    return dataset.map(weigh, num_parallel_calls=tf.data.AUTOTUNE)
