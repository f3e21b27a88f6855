"""Epoch-indexed shuffling, so that a resumed run sees the data in the same order.

`tf.data`'s `shuffle(seed=s, reshuffle_each_iteration=True)` draws each epoch's order from
a seed generator that advances with every pass over the dataset: a run resumed at epoch 4
builds a fresh dataset whose first pass is epoch 1's order, and the resumed run diverges from
the uninterrupted one (issue 15, finding 5). Here the order of a pass is a function of
`(seed, epoch)` only: the epoch is read from a `tf.Variable` when a pass starts (and advanced
by one, so that loops which do not set it still get a new order per pass; the supervised
loop sets it in `on_epoch_begin`, see `modelspec.training.exact`), and the shuffle of that
pass is seeded with it. Same buffer semantics as `Dataset.shuffle`; nothing else changes.
"""

from __future__ import annotations

import tensorflow as tf

_SPREAD = 1_000_003  # a prime: (seed, epoch) pairs map to distinct op seeds


def epoch_counter() -> tf.Variable:
    """A fresh epoch variable (int64, 0) for `epoch_shuffle`."""
    return tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")


def epoch_shuffle(ds: tf.data.Dataset, buffer: int, seed: int,
                  epoch: tf.Variable) -> tf.data.Dataset:
    """`ds.shuffle(buffer)` with the order of each pass determined by `(seed, epoch)`.

    Args:
        ds: The dataset to shuffle (finite).
        buffer: The shuffle buffer size.
        seed: The data seed (`data.seed`).
        epoch: The variable holding the 0-based epoch the next pass belongs to.

    Returns:
        A dataset with the same elements; its cardinality is restored by the caller
        (`assert_cardinality`), as a `flat_map` hides it.
    """
    def one_pass(current: tf.Tensor) -> tf.data.Dataset:
        # The order depends on (data.seed, epoch) only, not on the global seed: TensorFlow's
        # seed logic compares a tensor seed with 0 in Python when the global seed is 0,
        # which cannot run in this traced function, so the function graph has none.
        tf.compat.v1.get_default_graph().seed = None
        op_seed = tf.constant(seed, tf.int64) * _SPREAD + current
        return ds.shuffle(buffer, seed=op_seed, reshuffle_each_iteration=False)

    start = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64))
    # each pass takes the current value and advances it: a loop that never sets the epoch
    # still gets a new order per pass, as with `reshuffle_each_iteration=True`
    return start.map(lambda _: epoch.assign_add(1) - 1).flat_map(one_pass)
