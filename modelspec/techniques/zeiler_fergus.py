"""What a unit responds to, after Zeiler & Fergus, "Visualizing and Understanding Convolutional
Networks", ECCV 2014 (lecture S, "Convolutional Neural Networks: Interpretation").

For each chosen unit (channel) of a convolutional layer:

1. the examples of a data split where the unit's strongest activation is largest (its top-N
   activations over the split, one per image, with the position where it fired);
2. each activation projected back to pixel space by a *deconvnet*: all other activations of the
   layer set to zero, then the network run backwards — through transposed convolutions (the
   gradient of a convolution), max-unpooling with the switches recorded in the forward pass
   (the gradient of max pooling routes exactly there) and ReLUs applied to the backward signal
   itself (the paper's rule; the plain gradient would instead use the forward pass's mask);
3. the input patch under that projection (the bounding box of its support: the part of the
   image the unit saw).

The deconvnet is the classifier's model cloned with every ReLU replaced by one whose
gradient is `relu(upstream)` (`tf.custom_gradient`); the projection is then the gradient of
the one chosen activation with respect to the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelspec.errors import UsageError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf
    from matplotlib.figure import Figure

    from modelspec.techniques.target import Classifier, Range

ImagesFn = Callable[[Any], Any]  # a batch of images → a layer's activations (tf.Tensor)


@dataclass
class UnitView:
    """One unit's strongest activations: values, images, positions, projections, patches."""

    unit: int
    values: list[float] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    positions: list[tuple[int, int]] = field(default_factory=list)
    projections: list[np.ndarray] = field(default_factory=list)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


def _deconv_relu() -> Callable[[tf.Tensor], tf.Tensor]:
    import tensorflow as tf

    @tf.custom_gradient
    def deconv_relu(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
        def grad(upstream: tf.Tensor) -> tf.Tensor:
            return tf.nn.relu(upstream)  # the deconvnet rule: rectify the backward signal

        return tf.nn.relu(x), grad

    return deconv_relu


def _swap_relu(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A copy of `layer` whose ReLU (as activation or as the layer itself) is the deconvnet's."""
    import keras
    relu = _deconv_relu()
    config = layer.get_config()
    if isinstance(layer, keras.layers.ReLU) and not config.get("negative_slope") and \
            config.get("max_value") is None and not config.get("threshold"):
        return keras.layers.Activation(relu, name=layer.name)
    clone = layer.__class__.from_config(config)
    if getattr(getattr(layer, "activation", None), "__name__", None) == "relu":
        clone.activation = relu
    return clone


def deconvnet(classifier: Classifier, layer_name: str) -> ImagesFn:
    """`images → activations of layer_name`, differentiated by the deconvnet rules."""
    import keras
    clone = keras.models.clone_model(classifier.model, clone_function=_swap_relu)
    clone.set_weights(classifier.model.get_weights())
    inner = keras.Model(clone.input, clone.get_layer(layer_name).output)
    return lambda images: inner({classifier.image: images}, training=False)


def top_activations(features: ImagesFn, data: tf.data.Dataset, image: str, units: list[int],
                    top: int, limit: int) -> tuple[list[UnitView], int]:
    """The `top` largest activations of each unit over at most `limit` examples of `data`.

    Args:
        features: The feature model of one layer (`target.feature_model`).
        data: A batched dataset yielding `(inputs, ...)` or inputs dicts.
        image: The name of the image input.
        units: Channel indices of the layer.
        top: How many examples per unit (one activation per example: its maximum).
        limit: How many examples to scan.

    Returns:
        The views (values, images and positions filled) and the number of examples seen.
    """
    best: dict[int, list[tuple[float, np.ndarray, tuple[int, int]]]] = {u: [] for u in units}
    seen = 0
    for element in data:
        inputs = element[0] if isinstance(element, tuple) else element
        images = np.asarray(inputs[image], np.float32)[:limit - seen]
        maps = np.asarray(features(images)[0])
        if maps.ndim != 4:
            raise UsageError(f"--layer: output of shape {list(maps.shape[1:])} — expected "
                             "feature maps (height, width, channels) of a convolutional layer")
        for unit in units:
            flat = maps[..., unit].reshape(len(images), -1)
            where = flat.argmax(1)
            for i, position in enumerate(where):
                y, x = divmod(int(position), maps.shape[2])
                best[unit].append((float(flat[i, position]), images[i], (y, x)))
            best[unit] = sorted(best[unit], key=lambda t: -t[0])[:top]
        seen += len(images)
        if seen >= limit:
            break
    views = []
    for unit in units:
        view = UnitView(unit)
        for value, picture, position in best[unit]:
            view.values.append(value)
            view.images.append(picture)
            view.positions.append(position)
        views.append(view)
    return views, seen


def project(deconv: ImagesFn, view: UnitView) -> None:
    """Fills `view.projections` and `view.boxes` (the patch each activation saw)."""
    import tensorflow as tf
    for picture, (y, x) in zip(view.images, view.positions, strict=True):
        batch = tf.convert_to_tensor(picture[None])
        with tf.GradientTape() as tape:
            tape.watch(batch)
            chosen = deconv(batch)[0, y, x, view.unit]
        projection = tape.gradient(chosen, batch).numpy()[0]
        view.projections.append(projection)
        view.boxes.append(support_box(projection))


def support_box(projection: np.ndarray, fraction: float = 1e-6) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pixels whose |projection| exceeds `fraction`·max."""
    magnitude = np.abs(projection).max(-1)
    peak = magnitude.max()
    if peak <= 0:
        return 0, 0, magnitude.shape[0], magnitude.shape[1]
    rows = np.flatnonzero((magnitude > fraction * peak).any(1))
    cols = np.flatnonzero((magnitude > fraction * peak).any(0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def visualize_layer(classifier: Classifier, layer: str, units: list[int] | None = None,
                    top: int = 6, split: str = "test",
                    limit: int = 1000) -> tuple[list[UnitView], int]:
    """Zeiler–Fergus views of `units` of `layer` (default: its first 8 channels).

    Raises:
        UsageError: An unknown layer or split, a layer without feature maps, unit indices out
            of range.
    """
    from modelspec.techniques.target import feature_model, resolve_layer
    name = resolve_layer(classifier, layer)
    features = feature_model(classifier, [layer])
    channels = int(classifier.model.get_layer(name).output.shape[-1])
    units = list(range(min(8, channels))) if units is None else units
    wrong = [u for u in units if not 0 <= u < channels]
    if wrong:
        raise UsageError(f"--units {wrong}: layer '{layer}' has {channels} units (channels "
                         f"0 to {channels - 1})")
    bundle = classifier.datasets()
    data = getattr(bundle, split, None)
    if data is None:
        raise UsageError(f"--split {split}: the spec's data has no {split} split")
    views, seen = top_activations(features, data, classifier.image, units, top, limit)
    deconv = deconvnet(classifier, name)
    for view in views:
        project(deconv, view)
    return views, seen


def views_figure(views: list[UnitView], value_range: Range, layer: str) -> Figure:
    """Rows: units. Left half: the input patches; right half: their deconvnet projections."""
    from matplotlib.figure import Figure

    from modelspec.techniques.images import show
    top = max(len(v.values) for v in views)
    figure = Figure(figsize=(1.3 * 2 * top, 1.45 * len(views)), layout="constrained")
    figure.suptitle(f"layer {layer}: top {top} activations per unit — input patches (left), "
                    "deconvnet projections (right)", fontsize=9)
    axes = figure.subplots(len(views), 2 * top, squeeze=False)
    for row, view in zip(axes, views, strict=True):
        for axis in row:
            axis.set_axis_off()
        for k, (picture, projection, box, value) in enumerate(zip(
                view.images, view.projections, view.boxes, view.values, strict=True)):
            top_, left, bottom, right = box
            show(row[k], picture[top_:bottom, left:right], value_range,
                 f"unit {view.unit}: {value:.2g}" if k == 0 else f"{value:.2g}")
            scale = np.abs(projection).max() or 1.0
            show(row[top + k], 0.5 + 0.5 * projection[top_:bottom, left:right] / scale,
                 (0.0, 1.0))
    return figure
