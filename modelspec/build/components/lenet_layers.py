"""LeNet-5's own parts (LeCun, Bottou, Bengio & Haffner 1998), which Keras 3 lacks.

- `Subsampling`: trainable 2×2 subsampling (S2, S4): sum × coefficient + bias per map.
- `PartialConv2D`: a convolution whose output maps see chosen input maps (C3, Table 1).
- `RBFOutput`: Euclidean RBF output units with fixed ±1 prototypes.
- `lecun_tanh`: the squashing function 1.7159·tanh(2x/3) (Appendix A).

Registered with `keras.saving.register_keras_serializable(package="modelspec")`; the
registry reaches them through `builtin_layers.BUILTIN_LAYERS`/`BUILTIN_ACTIVATIONS`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from modelspec.build.components.shapes import Shape, known_channels


@keras.saving.register_keras_serializable(package="modelspec", name="lecun_tanh")
def lecun_tanh(x: tf.Tensor) -> tf.Tensor:
    """LeNet-5's squashing function f(a) = 1.7159·tanh(2a/3) (LeCun et al. 1998, Appendix A)."""
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


@keras.saving.register_keras_serializable(package="modelspec")
class Subsampling(keras.layers.Layer):
    """LeNet-5's S2/S4: each map's non-overlapping `pool_size`² sums, times a trainable
    coefficient, plus a trainable bias (2 weights per map).

    Args:
        pool_size: Side of the subsampling window (also the stride).
        **kwargs: Base layer arguments.
    """

    def __init__(self, pool_size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[-1]
        self.coefficient = self.add_weight(shape=(channels,), initializer="ones",
                                           name="coefficient")
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        size = self.pool_size
        sums = ops.average_pool(inputs, size, strides=size, padding="valid") * (size * size)
        return sums * self.coefficient + self.bias

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        b, h, w, c = input_shape
        size = self.pool_size
        return (b, None if h is None else h // size, None if w is None else w // size, c)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(pool_size=self.pool_size)
        return config


@keras.saving.register_keras_serializable(package="modelspec")
class PartialConv2D(keras.layers.Layer):
    """A 'valid' convolution whose output map i sees only the input maps `connections[i]`
    (LeNet-5's C3, Table 1): k·k weights per connection and one bias per output map.

    The connected input maps are gathered side by side, convolved depthwise (one k×k kernel
    per connection) and summed into their output maps by a fixed 0/1 matrix.

    Args:
        filters: Output maps (ignored when `connections` is given: one per entry).
        kernel_size: Side of the square kernel.
        connections: Per output map, the indices of the input maps it sees; None connects
            every output map to every input map (a plain convolution).
        **kwargs: Base layer arguments.
    """

    def __init__(self, filters: int = 1, kernel_size: int = 5,
                 connections: list[list[int]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.connections = None if connections is None else [
            [int(c) for c in group] for group in connections]
        self.filters = len(self.connections) if self.connections else int(filters)

    def build(self, input_shape: Shape) -> None:
        channels = known_channels(type(self).__name__, input_shape)
        groups = self.connections or [list(range(channels))] * self.filters
        self._inputs = [c for group in groups for c in group]
        member = np.zeros((len(self._inputs), self.filters), np.float32)
        member[np.arange(len(self._inputs)),
               np.repeat(np.arange(self.filters), [len(g) for g in groups])] = 1.0
        self._member = member
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, len(self._inputs), 1),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        gathered = ops.take(inputs, self._inputs, axis=-1)
        per_connection = ops.depthwise_conv(gathered, self.kernel, strides=1, padding="valid")
        return ops.matmul(per_connection, ops.cast(self._member, per_connection.dtype)) \
            + self.bias

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        b, h, w, _ = input_shape
        k = self.kernel_size - 1
        return (b, None if h is None else h - k, None if w is None else w - k, self.filters)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      connections=self.connections)
        return config


@keras.saving.register_keras_serializable(package="modelspec")
class RBFOutput(keras.layers.Layer):
    """LeNet-5's output: Euclidean RBF units y_i = Σ_j (x_j − w_ij)² with fixed ±1 prototypes;
    returns −y (the nearest prototype scores highest), to be followed by a softmax.

    The paper's prototypes are stylised 7×12 bitmaps of the characters; these are random ±1
    codes drawn with `seed` (not trainable either way).

    Args:
        units: Number of classes.
        seed: Seed of the prototypes.
        **kwargs: Base layer arguments.
    """

    def __init__(self, units: int = 10, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.seed = int(units), int(seed)

    def build(self, input_shape: Shape) -> None:
        features = known_channels(type(self).__name__, input_shape)
        codes = np.random.default_rng(self.seed).choice(
            [-1.0, 1.0], size=(features, self.units)).astype(np.float32)
        self.prototypes = self.add_weight(shape=codes.shape, trainable=False,
                                          initializer=keras.initializers.Constant(codes),
                                          name="prototypes")

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = ops.expand_dims(inputs, -1)                      # (batch, features, 1)
        return -ops.sum(ops.square(x - self.prototypes), axis=1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, seed=self.seed)
        return config
