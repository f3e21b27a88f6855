"""Turning a network upside down: synthesising an input for a class, and DeepDream.

Both are gradient ascent on the input image with `tf.GradientTape`, the network's weights
fixed:

- **Class synthesis** (the lecture's "given label, synthesize image"; Simonyan et al. 2014):
  maximise the class score (the logit: a final softmax is bypassed while optimising, since
  a saturated probability has no gradient left) minus an L2 penalty and a total-variation
  penalty — the lecture's prior that neighbouring pixels correlate — with small random shifts
  (jitter) between steps.
- **DeepDream** (Mordvintsev et al. 2015, the lecture's "daydream": amplify what a layer
  sees): maximise the mean squared activation of one or more layers, starting from an image,
  optionally over octaves: the change is first made at a coarse resolution (upsampled to the
  model's fixed input size), then refined at finer ones.

Images stay inside the data's input range `(low, high)` after every step. Step sizes are
fractions of that range.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modelspec.errors import UsageError

if TYPE_CHECKING:
    import tensorflow as tf

    from modelspec.techniques.target import Classifier, Range

FeaturesFn = Callable[[Any], list[Any]]  # images → a list of layer outputs (tf.Tensor)


def _tf() -> Any:  # the tensorflow module, imported when first needed
    import tensorflow as tf
    return tf


def total_variation(images: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference between neighbouring pixels of a batch of images."""
    tf = _tf()
    dy = images[:, 1:, :, :] - images[:, :-1, :, :]
    dx = images[:, :, 1:, :] - images[:, :, :-1, :]
    return tf.reduce_mean(tf.abs(dy)) + tf.reduce_mean(tf.abs(dx))


@contextlib.contextmanager
def logits_view(classifier: Classifier) -> Iterator[bool]:
    """Makes the model output logits while inside, when its output layer applies softmax.

    The output layer's `activation` is swapped for the identity during the `with` block
    (Keras layers read it at call time) and restored after. Yields True when swapped.
    """
    import keras
    tensor = classifier.model.output[classifier.output]
    layer: Any = getattr(tensor, "_keras_history", (None,))[0]
    activation = getattr(layer, "activation", None)
    if getattr(activation, "__name__", "") != "softmax":
        yield False
        return
    layer.activation = keras.activations.linear
    try:
        yield True
    finally:
        layer.activation = activation


def class_score(classifier: Classifier, images: tf.Tensor, class_index: int,
                from_logits: bool) -> tf.Tensor:
    """The class's logit, or its log-probability for a model that outputs probabilities."""
    tf = _tf()
    scores = classifier.scores(images)
    if from_logits:
        return scores[:, class_index]
    return tf.math.log(scores[:, class_index] + 1e-12)


def _probability(classifier: Classifier, image: tf.Tensor, class_index: int,
                 from_logits: bool) -> float:
    tf = _tf()
    scores = classifier.scores(image[None])
    probs = tf.nn.softmax(scores) if from_logits else scores
    return float(probs[0, class_index])


def synthesize_class(classifier: Classifier, class_index: int, *, steps: int = 200,
                     step_size: float = 0.01, l2: float = 0.001, tv: float = 0.05,
                     jitter: int = 1, start: np.ndarray | None = None,
                     value_range: Sequence[float] | None = None,
                     seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Synthesises an input the classifier scores highly for `class_index`.

    Args:
        classifier: A `Classifier`.
        class_index: The class to synthesise (0 ≤ class < classes).
        steps: Gradient ascent steps.
        step_size: Step length as a fraction of the input range (gradient normalised).
        l2: Weight of the L2 penalty (pixels pulled towards the middle of the range).
        tv: Weight of the total-variation penalty (neighbouring pixels correlate).
        jitter: Random shift of up to this many pixels before each step (0: none).
        start: Initial image `(height, width, channels)`; mid-range grey plus noise if None.
        value_range: `(low, high)`; the classifier's range when None.
        seed: Seed of the initial noise and the jitter.

    Returns:
        `(image, info)`: the image and a dict with `score_before`, `score_after`,
        `probability_before`, `probability_after`.

    Raises:
        UsageError: A class index out of range.

    Example:
    >>> image, info = synthesize_class(clf, 3, steps=100)
    >>> info["probability_after"]
    """
    tf = _tf()
    classes = classifier.num_classes
    if not 0 <= int(class_index) < classes:
        raise UsageError(f"--class {class_index}: the model has {classes} classes — expected "
                         f"0 ≤ class ≤ {classes - 1}")
    low, high = value_range or classifier.ensure_range()
    span, middle = high - low, (low + high) / 2
    rng = np.random.default_rng(seed)
    if start is None:
        start = middle + 0.05 * span * rng.standard_normal(classifier.image_shape)
    image = tf.Variable(np.clip(start, low, high).astype(np.float32)[None])
    with logits_view(classifier) as swapped:
        from_logits = swapped or not _probabilities(classifier, image)
        return _ascend(classifier, image, int(class_index), from_logits, steps, step_size,
                       l2, tv, jitter, (low, high), rng)


def _ascend(classifier: Classifier, image: tf.Variable, class_index: int, from_logits: bool,
            steps: int, step_size: float, l2: float, tv: float, jitter: int,
            value_range: Range, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    tf = _tf()
    low, high = value_range
    span, middle = high - low, (low + high) / 2
    before = float(class_score(classifier, image, class_index, from_logits)[0])
    p_before = _probability(classifier, image[0], class_index, from_logits)
    for _ in range(int(steps)):
        shift = rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0)
        with tf.GradientTape() as tape:
            shifted = tf.roll(image, shift=[int(shift[0]), int(shift[1])], axis=[1, 2])
            objective = (tf.reduce_sum(class_score(classifier, shifted, class_index,
                                                   from_logits))
                         - l2 * tf.reduce_mean(tf.square((image - middle) / span))
                         - tv * total_variation(image / span))
        gradient = tape.gradient(objective, image)
        gradient /= tf.reduce_mean(tf.abs(gradient)) + 1e-8
        image.assign(tf.clip_by_value(image + step_size * span * gradient, low, high))
    after = float(class_score(classifier, image, class_index, from_logits)[0])
    result = image.numpy()[0]
    return result, {"class": int(class_index), "score_before": before, "score_after": after,
                    "probability_before": p_before,
                    "probability_after": _probability(classifier, result, class_index,
                                                      from_logits)}


def _probabilities(classifier: Classifier, image: tf.Tensor) -> bool:
    from modelspec.techniques.fgsm import is_probability
    return is_probability(classifier.scores(image))


def activation_norm(features: FeaturesFn, images: tf.Tensor) -> float:
    """Root mean square of the activations of the layers `features` returns for `images`."""
    tf = _tf()
    outputs = features(tf.convert_to_tensor(images, tf.float32))
    return float(tf.sqrt(tf.add_n([tf.reduce_mean(tf.square(o)) for o in outputs])
                         / len(outputs)))


def deep_dream(classifier: Classifier, features: FeaturesFn, image: np.ndarray, *,
               steps: int = 50, step_size: float = 0.01, octaves: int = 1,
               octave_scale: float = 1.4, value_range: Sequence[float] | None = None
               ) -> tuple[np.ndarray, dict[str, Any]]:
    """Amplifies what layers respond to: gradient ascent on their mean squared activation.

    Args:
        classifier: A `Classifier`.
        features: A callable images → list of layer outputs (`target.feature_model`).
        image: The starting image `(height, width, channels)` in the input range.
        steps: Gradient ascent steps per octave.
        step_size: Step length as a fraction of the input range (gradient normalised).
        octaves: Number of scales, coarsest first; 1 works at the model's size only.
        octave_scale: Size ratio between successive octaves.
        value_range: `(low, high)`; the classifier's range when None.

    Returns:
        `(image, info)` with `norm_before` and `norm_after` (RMS activation of the layers).

    Raises:
        UsageError: Fewer than one octave or step, or an octave scale ≤ 1.

    Example:
    >>> dreamed, info = deep_dream(clf, feature_model(clf, ["c3"]), image, octaves=3)
    """
    tf = _tf()
    if octaves < 1 or steps < 1:
        raise UsageError("--octaves and --steps: expected at least 1")
    if octave_scale <= 1:
        raise UsageError(f"--octave-scale {octave_scale:g}: expected a ratio above 1")
    low, high = value_range or classifier.ensure_range()
    span = high - low
    height, width, _ = classifier.image_shape
    base = tf.constant(np.asarray(image, np.float32)[None])
    norm_before = activation_norm(features, base)
    detail = None
    for k in reversed(range(int(octaves))):
        size = (max(4, round(height / octave_scale ** k)), max(4, round(width / octave_scale ** k)))
        start = (tf.zeros((1, *size, base.shape[-1])) if detail is None
                 else tf.image.resize(detail, size))
        detail = tf.Variable(start)
        for _ in range(int(steps)):
            with tf.GradientTape() as tape:
                dreamed = tf.clip_by_value(base + tf.image.resize(detail, (height, width)),
                                           low, high)
                outputs = features(dreamed)
                objective = tf.add_n([tf.reduce_mean(tf.square(o)) for o in outputs])
            gradient = tape.gradient(objective, detail)
            gradient /= tf.reduce_mean(tf.abs(gradient)) + 1e-8
            detail.assign_add(step_size * span * gradient)
        detail = tf.convert_to_tensor(detail)
    result = tf.clip_by_value(base + tf.image.resize(detail, (height, width)), low, high)
    return result.numpy()[0], {"norm_before": norm_before,
                               "norm_after": activation_norm(features, result)}
