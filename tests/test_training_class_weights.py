"""`train.class_weight` as per-output sample weights (Keras's class-index rule)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from modelspec.errors import UsageError
from modelspec.training.class_weights import with_class_weights


def _weights(dataset) -> np.ndarray:
    (_, _, weights), = list(dataset.as_numpy_iterator())
    return weights["digit"]


def test_labels_get_their_class_weight_and_unlisted_classes_weigh_one():
    labels = np.array([0, 1, 2, 5])
    ds = tf.data.Dataset.from_tensors(({"x": np.zeros((4, 2))}, {"digit": labels}))
    out = with_class_weights(ds, {"0": 2.0, "2": 0.5})
    np.testing.assert_allclose(_weights(out), [2.0, 1.0, 0.5, 1.0])


def test_one_hot_targets_use_the_argmax_and_sample_weights_are_multiplied():
    one_hot = np.eye(3, dtype="float32")[[2, 0, 1]]
    ds = tf.data.Dataset.from_tensors(({"x": np.zeros((3, 2))}, {"digit": one_hot},
                                       {"digit": np.array([1.0, 2.0, 3.0])}))
    out = with_class_weights(ds, {"0": 4.0, "1": 1.0, "2": 0.5})
    np.testing.assert_allclose(_weights(out), [0.5, 8.0, 3.0])


def test_two_outputs_are_refused_with_what_to_use():
    ds = tf.data.Dataset.from_tensors(({"x": np.zeros((2, 2))},
                                       {"digit": np.array([0, 1]), "parity": np.array([0, 1])}))
    with pytest.raises(UsageError, match="weigh each output with data.sample_weights"):
        with_class_weights(ds, {"0": 2.0})
