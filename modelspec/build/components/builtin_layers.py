"""Built-in layers and activations that Keras 3 lacks but the lecture networks need.

- `LocalResponseNormalization`: AlexNet's cross-channel normalization (Krizhevsky et al. 2012).
- `GradientReversal`: domain-adversarial training's reversal layer (Ganin & Lempitsky 2015).
- `Step`: the perceptron's hard step (Rosenblatt 1958), trainable through a straight-through
  gradient.
- `step`: the same step at threshold 0 as an activation function (`activation: step`).
- `WinnerTakeAll`: the spatial and lifetime sparsity of winner-take-all convolutional
  autoencoders (Makhzani & Frey 2015).
- `Maxout`: Goodfellow et al.'s maxout units (2013), the GAN paper's discriminator units.
- LeNet-5's own parts (LeCun et al. 1998), in `lenet_layers`: `Subsampling`,
  `PartialConv2D`, `RBFOutput` and the activation `lecun_tanh`.
- `AddLoss` and `Sampling`, layers that add a loss term, in `loss_layers`.

Every object is registered with `keras.saving.register_keras_serializable(package="modelspec")`
so saved `.keras` files and configs round-trip, and works under `tf.function`, XLA
(`jit_compile=True`), mixed precision and SavedModel export. The registry imports
`BUILTIN_LAYERS` and `BUILTIN_ACTIVATIONS`; the argument tables (JSON Schema, no TensorFlow)
are in `modelspec.lang.builtin_args`.

Example:
>>> import keras
>>> from modelspec.build.components.builtin_layers import Step
>>> Step(threshold=0.4)(keras.ops.convert_to_tensor([[0.3, 0.4, 0.6]]))  # [[0., 1., 1.]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from modelspec.build.components.application_layers import APPLICATION_LAYERS
from modelspec.build.components.lenet_layers import (
    PartialConv2D,
    RBFOutput,
    Subsampling,
    lecun_tanh,
)
from modelspec.build.components.loss_layers import AddLoss, Sampling
from modelspec.build.components.shapes import Shape

_LOW_PRECISION = ("float16", "bfloat16")


def _straight_through_step(x: tf.Tensor, threshold: float) -> tf.Tensor:
    """Hard step `x >= threshold` (in x's dtype) whose gradient is the identity."""

    @tf.custom_gradient
    def _step(t: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
        out = tf.cast(t >= tf.cast(threshold, t.dtype), t.dtype)

        def grad(upstream: tf.Tensor) -> tf.Tensor:
            return upstream

        return out, grad

    return _step(x)


@keras.saving.register_keras_serializable(package="modelspec", name="step")
def step(x: tf.Tensor) -> tf.Tensor:
    """Hard step activation: 1.0 where `x >= 0`, else 0.0, with a straight-through gradient.

    The forward pass is the perceptron's step (a float tensor of 0s and 1s in x's dtype). Its
    true derivative is zero almost everywhere, which would stop gradient descent, so the
    backward pass uses the straight-through estimator: the gradient is passed unchanged, as
    if the activation were the identity. `Dense(1, activation=step)` trained with mean
    squared error and SGD then performs the perceptron learning rule. Use the `Step` layer
    for a threshold other than 0.

    Args:
        x: A float tensor.

    Returns:
        A tensor of x's shape and dtype holding 0.0 and 1.0.

    Example:
    >>> step(keras.ops.convert_to_tensor([-1.0, 0.0, 2.0]))  # [0., 1., 1.]
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, keras.config.floatx())
    return _straight_through_step(x, 0.0)


@keras.saving.register_keras_serializable(package="modelspec")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (AlexNet), channels last.

    Each activation is divided by a power of the sum of squares of its neighbours along the
    last (channel) axis:

        out[..., c] = x[..., c] / (bias + alpha * sum_{j=c-r}^{c+r} x[..., j] ** 2) ** beta

    with `r = depth_radius` and channels outside `[0, C)` counted as zero. This is exactly the
    convention of `tf.nn.local_response_normalization` (same argument names and defaults;
    alpha is NOT divided by the window size). Mapping to Krizhevsky et al. (2012), whose
    AlexNet uses n = 5, k = 2, alpha = 1e-4, beta = 0.75:

    - paper n (window size, channels in total) = `2 * depth_radius + 1`,
    - paper k = `bias`, paper alpha = `alpha`, paper beta = `beta`.

    So AlexNet's layer is `LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4,
    beta=0.75)`. Caffe's `LRN` layer divides its alpha by `local_size`; a Caffe model with
    `local_size: 5, alpha: 1e-4` corresponds to `alpha=2e-5` here.

    The layer has no weights. Unlike `tf.nn.local_response_normalization` (rank 4 only) it
    accepts any rank >= 2 (e.g. sequences `(batch, time, channels)`), and any float dtype:
    under mixed precision the sum of squares is computed in float32 (float16 overflows above
    |x| = 256) and the result is cast back to the layer's compute dtype.

    Args:
        depth_radius: Non-negative int, channels on each side of a channel in the window.
        bias: Positive float, the additive constant k.
        alpha: Non-negative float, the scale of the sum of squares.
        beta: Non-negative float, the exponent.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, ..., channels)` with a known number of channels.

    Output shape:
        Same as the input.

    Raises:
        ValueError: For an invalid argument or an input whose channel count is unknown.

    Example:
    >>> lrn = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    >>> y = lrn(keras.random.normal((2, 27, 27, 96)))
    """

    def __init__(self, depth_radius: int = 2, bias: float = 1.0, alpha: float = 1e-4,
                 beta: float = 0.75, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or int(depth_radius) != depth_radius or depth_radius < 0:
            raise ValueError(f"depth_radius must be a non-negative integer, got {depth_radius!r}")
        if not bias > 0:
            raise ValueError(f"bias must be positive, got {bias!r}")
        if not alpha >= 0 or not beta >= 0:
            raise ValueError(f"alpha and beta must be non-negative, got {alpha!r}, {beta!r}")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.supports_masking = True
        self._channels: int = 0  # set by build()

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError("LocalResponseNormalization needs inputs of rank >= 2 with a "
                             f"known channel (last) dimension, got shape {tuple(input_shape)}")
        self._channels = int(input_shape[-1])

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = ops.cast(inputs, self.compute_dtype)
        work_dtype = "float32" if self.compute_dtype in _LOW_PRECISION else self.compute_dtype
        xw = ops.cast(x, work_dtype)
        squares = ops.square(xw)
        channels = self._channels
        radius = min(self.depth_radius, channels - 1)
        if radius > 0:
            rank = len(squares.shape)
            padded = ops.pad(squares, [(0, 0)] * (rank - 1) + [(radius, radius)])
            window = padded[..., 0:channels]
            for offset in range(1, 2 * radius + 1):
                window = window + padded[..., offset:offset + channels]
        else:
            window = squares
        scale = ops.power(self.bias + self.alpha * window, self.beta)
        return ops.cast(xw / scale, self.compute_dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha,
                      beta=self.beta)
        return config


@keras.saving.register_keras_serializable(package="modelspec")
class GradientReversal(keras.layers.Layer):
    """Gradient reversal: identity forward, gradient times `-factor` backward.

    The layer of domain-adversarial neural networks (Ganin & Lempitsky 2015, "Unsupervised
    Domain Adaptation by Backpropagation"): placed between a feature extractor and a domain
    classifier, it leaves the forward pass unchanged, while during backpropagation it
    multiplies the gradient by -lambda, so the features are trained to *confuse* the domain
    classifier while the classifier itself learns to separate domains.

    The paper's lambda is called `factor` here: `lambda` is a Python keyword (so it cannot be
    a Keras constructor argument), and `lambda_` or `hp_lambda` are awkward to write in YAML;
    `factor` says what it is, like Keras's own `*_factor` arguments.

    `factor` is stored as a non-trainable scalar variable (`layer.factor`, float32, saved
    with the weights), so it can be scheduled during training without retracing, e.g. the
    paper's `2 / (1 + exp(-10 p)) - 1` ramp from a callback:
    `layer.factor.assign(value)`. `get_config()` reports the initial value; the current one
    is `float(layer.factor.numpy())`.

    Args:
        factor: Float, the initial lambda (0 disables the adversarial gradient).
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape:
        Any.

    Output shape:
        Same as the input.

    Example:
    >>> grl = GradientReversal(factor=0.5)
    >>> grl.factor.assign(1.0)  # e.g. in a callback's on_epoch_begin
    """

    def __init__(self, factor: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial_factor = float(factor)
        self.supports_masking = True
        self.factor = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_factor),
            trainable=False, name="factor", dtype="float32")
        self.built = True

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = ops.cast(inputs, self.compute_dtype)
        factor = ops.cast(ops.convert_to_tensor(self.factor), self.compute_dtype)

        @tf.custom_gradient
        def _reverse(t: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
            def grad(upstream: tf.Tensor) -> tf.Tensor:
                return -factor * upstream

            return tf.identity(t), grad

        return _reverse(x)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(factor=self.initial_factor)
        return config


@keras.saving.register_keras_serializable(package="modelspec")
class Step(keras.layers.Layer):
    """The perceptron's step: 1.0 where `x >= threshold`, else 0.0 (straight-through gradient).

    Forward: the hard threshold of Rosenblatt's perceptron, in the layer's compute dtype. The
    comparison is `>=` ("fires when the weighted sum reaches the threshold"): in the
    lecture's credit example, weights 0.3/0.3/0.3 and threshold 0.4 give 0.6 >= 0.4 (two of
    three conditions met, fires) and 0.3 < 0.4 (one met, does not); with `>=` a sum exactly at
    the threshold also fires.

    Backward: the straight-through estimator, i.e. the gradient passes unchanged, as if the
    layer were the identity (the true derivative is zero almost everywhere). With a mean
    squared error loss and SGD this is exactly the perceptron learning rule
    `w += lr * (y - y_hat) * x`, so a spec can train a perceptron by gradient descent.

    Args:
        threshold: Float, the firing threshold.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape:
        Any.

    Output shape:
        Same as the input, values 0.0 and 1.0.

    Example:
    >>> Step(threshold=0.4)(keras.ops.convert_to_tensor([[0.3, 0.6]]))  # [[0., 1.]]
    """

    def __init__(self, threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = float(threshold)
        self.supports_masking = True
        self.built = True

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = ops.cast(inputs, self.compute_dtype)
        return _straight_through_step(x, self.threshold)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(threshold=self.threshold)
        return config


@keras.saving.register_keras_serializable(package="modelspec")
class WinnerTakeAll(keras.layers.Layer):
    """Winner-take-all sparsity of feature maps (Makhzani & Frey, "Winner-Take-All
    Autoencoders", NIPS 2015; lecture V, "auto-encoders and CNNs").

    Spatial sparsity: in every feature map of every example only the largest activation is
    kept, all others become 0. Lifetime sparsity (training only): of those winners, each
    feature map keeps only the `lifetime_rate` largest across the mini-batch (at least one),
    so that a map fires for few examples. Gradients flow through the kept activations only.

    At inference the lifetime rule, which depends on the batch, is off and the spatial rule
    stays (the decoder was trained on one winner per map), as in the paper's reconstructions.

    Args:
        spatial: Keep only the largest activation of each feature map (else keep all).
        lifetime_rate: Fraction of the batch in which each map's winner survives during
            training (the paper's k%, e.g. 0.05); 1.0 turns lifetime sparsity off.
        **kwargs: Base layer arguments.

    Input shape:
        `(batch, ..., channels)`, e.g. `(batch, height, width, channels)`.

    Output shape:
        Same as the input.
    """

    def __init__(self, spatial: bool = True, lifetime_rate: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 < float(lifetime_rate) <= 1.0:
            raise ValueError(f"lifetime_rate must be in (0, 1], not {lifetime_rate}")
        self.spatial = bool(spatial)
        self.lifetime_rate = float(lifetime_rate)
        self.built = True

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x = ops.cast(inputs, self.compute_dtype)
        axes = tuple(range(1, len(x.shape) - 1))
        winners = ops.max(x, axis=axes, keepdims=True)               # (batch, 1.., channels)
        if self.spatial:
            x = ops.where(ops.equal(x, winners), x, ops.zeros_like(x))
        if training and self.lifetime_rate < 1.0:
            per_map = ops.reshape(winners, (-1, x.shape[-1]))            # (batch, channels)
            batch = ops.shape(per_map)[0]
            k = ops.maximum(1, ops.cast(ops.ceil(self.lifetime_rate
                                                 * ops.cast(batch, "float32")), "int32"))
            ranked = ops.sort(ops.transpose(per_map), axis=-1)          # ascending per map
            threshold = ops.take_along_axis(ranked, ops.reshape(
                ops.broadcast_to(batch - k, (x.shape[-1],)), (-1, 1)), axis=-1)[:, 0]
            keep = ops.reshape(ops.greater_equal(per_map, threshold), ops.shape(winners))
            x = ops.where(keep, x, ops.zeros_like(x))
        return x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(spatial=self.spatial, lifetime_rate=self.lifetime_rate)
        return config


@keras.saving.register_keras_serializable(package="modelspec")
class Maxout(keras.layers.Layer):
    """Maxout units (Goodfellow, Warde-Farley, Mirza, Courville & Bengio, ICML 2013): each of
    `units` outputs is the maximum of `pieces` affine functions of the input.

    Args:
        units: Number of maxout units.
        pieces: Affine pieces per unit (the paper's k).
        **kwargs: Base layer arguments.

    Input shape:
        `(batch, features)`.

    Output shape:
        `(batch, units)`. Weights: features·units·pieces + units·pieces.
    """

    def __init__(self, units: int = 240, pieces: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.pieces = int(units), int(pieces)
        self.dense = keras.layers.Dense(self.units * self.pieces, dtype=self.dtype_policy,
                                        name="affine")

    def build(self, input_shape: Shape) -> None:
        self.dense.build(input_shape)
        self.built = True

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        z = self.dense(inputs)
        z = ops.reshape(z, (-1, self.units, self.pieces))
        return ops.max(z, axis=-1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, pieces=self.pieces)
        return config


BUILTIN_LAYERS = {
    "LocalResponseNormalization": LocalResponseNormalization,
    "GradientReversal": GradientReversal,
    "Step": Step,
    "AddLoss": AddLoss,
    "Sampling": Sampling,
    "WinnerTakeAll": WinnerTakeAll,
    "Maxout": Maxout,
    "Subsampling": Subsampling,
    "PartialConv2D": PartialConv2D,
    "RBFOutput": RBFOutput,
}

BUILTIN_LAYERS.update(APPLICATION_LAYERS)  # Keras's own LayerScale, CustomScaleLayer

BUILTIN_ACTIVATIONS = {"step": step, "lecun_tanh": lecun_tanh}
