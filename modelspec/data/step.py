"""`Step`: the base of every `data.transforms` entry (see `modelspec.data.transforms`)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

Tensors = dict[str, tf.Tensor]  # field → tensor (one example, or a batch)
# what cannot work: (path below the transform's entry, message, expected, at the mapping key)
Problem = tuple[tuple[str | int, ...], str, str, bool]


class Step:
    """One field-wise transform.

    Attributes:
        kind: The transform's `type:`.
        inputs: Fields it reads.
        output: Field it writes.
        layer: The Keras preprocessing layer doing the work (None for plain tensor ops).
        config: Its resolved spec entry.
        random: True when it draws random numbers (runs after `cache`, per epoch).
    """

    random = False
    restructuring = False
    filtering = False

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.kind = cfg["type"]
        self.config = dict(cfg)
        self.inputs = list(cfg.get("fields") or [cfg["field"]])
        self.output = cfg.get("output") or self.inputs[0]
        self.layer: Any = None

    def adapt(self, dataset: tf.data.Dataset) -> None:
        """Learns statistics from the training split (a dataset of dict examples)."""

    def problem(self, spec: dict[str, tf.TensorSpec]) -> Problem | None:
        """`(path below the entry, message, expected, at_key)` when the fields cannot work.

        None when they can; `at_key` points the problem at the mapping key of the path.

        Args:
            spec: Field → `tf.TensorSpec` of one example, as this step receives it.
        """
        return None

    def batched(self, tensors: Tensors, training: bool = False) -> tf.Tensor:
        """Returns the output for batched `tensors` (field → tensor with a batch dim)."""
        raise NotImplementedError

    def restructure(self, dataset: tf.data.Dataset, training: bool = False,
                    counting: bool = False) -> tf.data.Dataset:
        """The dataset a `restructuring` step makes of `dataset` (windows, pairs, ...)."""
        raise NotImplementedError

    def keep(self, example: Tensors) -> tf.Tensor:
        """Whether a `filtering` step keeps `example` (a boolean scalar tensor)."""
        raise NotImplementedError

    def __call__(self, example: Tensors, training: bool = False) -> Tensors:
        batch = {f: tf.expand_dims(example[f], 0) for f in self.inputs}
        return {**example, self.output: self.batched(batch, training)[0]}

    def _column(self, dataset: tf.data.Dataset, dtype: Any = None) -> tf.data.Dataset:
        x = dataset.map(lambda e: e[self.inputs[0]], num_parallel_calls=tf.data.AUTOTUNE)
        if dtype is not None:
            x = x.map(lambda v: tf.cast(v, dtype))
        return x.batch(1024)
