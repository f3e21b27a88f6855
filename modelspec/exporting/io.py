"""A model's named inputs as the `tf.TensorSpec`s of a SavedModel signature."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf


def tensor_specs(described: Mapping[str, tuple[Any, ...]]) -> dict[str, tf.TensorSpec]:
    """`{name: (shape, dtype)}` (as `model_io` gives) → `{name: TensorSpec}` with a batch axis."""
    return {name: tf.TensorSpec((None,) + tuple(shape), tf.as_dtype(dtype), name=name)
            for name, (shape, dtype) in described.items()}
