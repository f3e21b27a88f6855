"""Augmentation of `data.augment`: Keras random preprocessing layers on training batches.

Each entry is one Keras layer (`random_flip` → `keras.layers.RandomFlip`, same argument
names). They run on whole batches after `batch()`, on the training split only, so every epoch
sees new variants while validation and test data stay untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from modelspec.data.registry import AUGMENTS

Augmenter = tuple[str, Any]  # (field, Keras random preprocessing layer)


def make_augmenters(entries: Sequence[Mapping[str, Any]], default_field: str | None,
                    seed: int) -> list[Augmenter]:
    """Builds (field, keras layer) pairs for the `data.augment` entries.

    Args:
        entries: Resolved `data.augment` entries.
        default_field: The field used by entries without `field:` (the only image input).
        seed: Base seed; entry i without its own `seed` uses `seed + i`.

    Returns:
        A list of (field name, Keras random layer).
    """
    out: list[Augmenter] = []
    for i, entry in enumerate(entries):
        cls_name = AUGMENTS[entry["type"]][0]
        args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in entry.items()
                if k not in ("type", "field", "seed")}
        layer = getattr(keras.layers, cls_name)(seed=entry.get("seed", seed + i), **args)
        out.append((entry.get("field", default_field), layer))
    return out


def augment_batch(batch: Mapping[str, Any], augmenters: Sequence[Augmenter]) -> dict[str, Any]:
    """Applies the augmenters to a batch dict of fields (training mode)."""
    batch = dict(batch)
    for field, layer in augmenters:
        x = batch[field]
        y = layer(tf.cast(x, tf.float32) if not x.dtype.is_floating else x, training=True)
        batch[field] = tf.cast(y, x.dtype) if x.dtype != y.dtype else y
    return batch
