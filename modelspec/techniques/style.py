"""Neural style transfer (Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style", 2015).

An image is optimised (with `tf.GradientTape` and Adam) so that

- its features at the *content layers* match those of the content image (content loss),
- the Gram matrices `G = FᵀF / (height·width)` of its features at the *style layers* match
  those of the style image (style loss: correlations between channels, position-free),
- plus a small total-variation term for smoothness.

Each layer's loss is divided by the squared norm of its target, so the weights
`content_weight` / `style_weight` are comparable whatever the scale of a network's features.
Gatys et al. used an ImageNet-trained VGG-19 (content `conv4_2`, style `conv1_1` ...
`conv5_1`); in a spec such as `specs/vgg16.yaml` those are ids like `stage4.conv`,
`stage1_conv_0`. There are no ImageNet weights offline: with random or locally trained
(e.g. CIFAR-10) weights the results are only illustrative. Load your own weights of the
same architecture with `--weights FILE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from modelspec.errors import UsageError
from modelspec.techniques.synthesis import FeaturesFn, total_variation

if TYPE_CHECKING:
    import tensorflow as tf

    from modelspec.techniques.target import Classifier, Range


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Gram matrices `(batch, channels, channels)` of feature maps `(batch, h, w, channels)`."""
    import tensorflow as tf
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], features.dtype)
    return tf.einsum("bijc,bijd->bcd", features, features) / positions


def _relative(difference: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf
    return tf.reduce_sum(tf.square(difference)) / (tf.reduce_sum(tf.square(target)) + 1e-12)


def check_style_layers(features: FeaturesFn, names: Sequence[str],
                       shapes_of: Sequence[tuple[int | None, ...]]) -> None:
    """Raises UsageError for style layers whose outputs are not feature maps."""
    for name, shape in zip(names, shapes_of):
        if len(shape) != 4:
            raise UsageError(f"--style-layers '{name}' outputs shape {tuple(shape[1:])} — "
                             "expected a convolutional feature map (height, width, channels)")


def style_transfer(classifier: Classifier, content_features: FeaturesFn,
                   style_features: FeaturesFn, content: np.ndarray, style: np.ndarray, *,
                   steps: int = 100, content_weight: float = 1.0, style_weight: float = 10.0,
                   tv_weight: float = 0.01, learning_rate: float = 0.02, init: str = "content",
                   value_range: Sequence[float] | None = None,
                   seed: int = 0) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Optimises an image with the content of `content` and the style of `style`.

    Args:
        classifier: A `Classifier` (supplies the input range and image shape).
        content_features: images → list of content-layer outputs (`target.feature_model`).
        style_features: images → list of style-layer outputs (feature maps).
        content: Content image `(height, width, channels)` in the input range.
        style: Style image, same shape.
        steps: Adam steps.
        content_weight: α, weight of the content loss.
        style_weight: β, weight of the style loss.
        tv_weight: Weight of the total-variation penalty.
        learning_rate: Adam's step, as a fraction of the input range.
        init: "content" (start from the content image) or "noise" (white noise, as Gatys).
        value_range: `(low, high)`; the classifier's range when None.
        seed: Seed of the noise start.

    Returns:
        `(image, history)`: the image, and per step lists `loss`, `content_loss`,
        `style_loss` (the weighted total and the two unweighted parts).

    Raises:
        UsageError: Fewer than one step, an unknown `init`, or non-feature-map style layers.

    Example:
    >>> image, history = style_transfer(clf, feature_model(clf, ["stage4.conv"]),
    ...                                 feature_model(clf, ["stage1.conv", "stage2.conv"]),
    ...                                 content, style, steps=200)
    """
    import keras
    import tensorflow as tf
    if steps < 1:
        raise UsageError(f"--steps {steps}: expected at least 1")
    if init not in ("content", "noise"):
        raise UsageError(f"--init {init}: expected 'content' or 'noise'")
    low, high = value_range or classifier.ensure_range()
    span = high - low
    content_targets = content_features(tf.constant(content[None], tf.float32))
    style_maps = style_features(tf.constant(style[None], tf.float32))
    check_style_layers(style_features, getattr(style_features, "names", []),
                       [m.shape for m in style_maps])
    style_targets = [gram_matrix(m) for m in style_maps]
    image = tf.Variable(_start(content, init, seed, (low, high))[None])
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate * span)
    history: dict[str, list[float]] = {"loss": [], "content_loss": [], "style_loss": []}
    for _ in range(int(steps)):
        with tf.GradientTape() as tape:
            c_loss, s_loss = _losses(image, content_features, content_targets, style_features,
                                     style_targets)
            loss = (content_weight * c_loss + style_weight * s_loss
                    + tv_weight * total_variation(image / span))
        gradient = tape.gradient(loss, image)
        optimizer.apply_gradients([(gradient, image)])
        image.assign(tf.clip_by_value(image, low, high))
        history["loss"].append(float(loss))
        history["content_loss"].append(float(c_loss))
        history["style_loss"].append(float(s_loss))
    return image.numpy()[0], history


def _start(content: np.ndarray, init: str, seed: int, value_range: Range) -> np.ndarray:
    """The image optimisation starts from: the content image, or white noise (as Gatys)."""
    if init == "content":
        return np.asarray(content, np.float32)
    low, high = value_range
    return np.random.default_rng(seed).uniform(low, high, content.shape).astype(np.float32)


def _losses(image: tf.Variable, content_features: FeaturesFn, content_targets: list[tf.Tensor],
            style_features: FeaturesFn, style_targets: list[tf.Tensor]
            ) -> tuple[tf.Tensor, tf.Tensor]:
    """(content loss, style loss) of `image`: relative squared errors of the content layers'
    features and of the style layers' Gram matrices, each averaged over its layers."""
    import tensorflow as tf
    c_loss = tf.add_n([_relative(f - t, t) for f, t in
                       zip(content_features(image), content_targets)]) / len(content_targets)
    s_loss = tf.add_n([_relative(gram_matrix(f) - t, t) for f, t in
                       zip(style_features(image), style_targets)]) / len(style_targets)
    return c_loss, s_loss
