"""The image classifier a technique acts on: a trained run or a freshly built spec.

`load_classifier` turns a run directory (from `modelspec train`) or a spec file into a
`Classifier`: the Keras model, the name of its single image input `(height, width,
channels)`, the name of its class-score output `(classes,)`, the pixel range of its data
and its spec. `feature_model` gives the outputs of layers named by their spec ids
(`c3`, `stage4.conv`, `stage4_conv_2`), with did-you-mean suggestions for unknown ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelspec.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    import keras
    import numpy as np
    import tensorflow as tf

    from modelspec.data.pipeline import DataBundle
    from modelspec.lang.spec import CheckedSpec

Range = tuple[float, float]  # (low, high) of the input pixels
COMMON_RANGES: tuple[Range, ...] = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))


@dataclass
class Classifier:
    """A model seen as an image classifier.

    Attributes:
        model: The Keras model (dict of named inputs → dict of named outputs).
        image: Name of its image input.
        output: Name of its class-score output.
        spec: The `CheckedSpec` it was built from.
        origin: The run directory or spec path, for messages.
        trained: False for a freshly built spec (random weights, unless `--weights`).
        value_range: `(low, high)` of the input pixels, or None until `ensure_range`.
        run_dir: The run directory, or None for a spec.
    """

    model: keras.Model
    image: str
    output: str | None
    spec: CheckedSpec
    origin: str
    trained: bool
    value_range: Range | None = None
    run_dir: Path | None = None
    _datasets: DataBundle | None = field(default=None, repr=False)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """`(height, width, channels)` of the image input."""
        return tuple(int(d) for d in self.model.input[self.image].shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.model.output[self.output].shape[-1])

    def scores(self, images: np.ndarray | tf.Tensor, training: bool = False) -> tf.Tensor:
        """Class scores (the output as the spec defines it) for a batch of images."""
        return self.model({self.image: images}, training=training)[self.output]

    def datasets(self) -> DataBundle:
        """The spec's `DataBundle` for this model (built once)."""
        if self._datasets is None:
            from modelspec.build.compiler import model_io
            from modelspec.data.pipeline import build_datasets
            if self.spec.section("data") is None:
                raise UsageError(f"{self.origin}: the spec has no data: section; give images "
                                 "directly (--image/--content/--style) and the input range "
                                 "with --range LOW HIGH")
            inputs, outputs = model_io(self.model)
            self._datasets = build_datasets(self.spec, inputs, outputs)
        return self._datasets

    def ensure_range(self, given: Sequence[float] | None = None) -> Range:
        """Sets and returns the pixel range: `given`, else measured on the data, else (0, 1)."""
        if given:
            low, high = float(given[0]), float(given[1])
            if not low < high:
                raise UsageError(f"--range {low:g} {high:g}: LOW must be below HIGH")
            self.value_range = (low, high)
        elif self.value_range is None:
            self.value_range = (measure_range(self) if self.spec.section("data") is not None
                                else (0.0, 1.0))
        return self.value_range


def mean_image(classifier: Classifier, batches: int = 8) -> np.ndarray | None:
    """The mean training image (a prior to start synthesis from), or None without data."""
    import numpy as np
    bundle = classifier.datasets()
    data = bundle.train if bundle.train is not None else bundle.test
    images = [np.asarray(inputs[classifier.image]) for (inputs,) in _batches(data, batches)]
    return np.concatenate(images).mean(0).astype(np.float32) if images else None


def measure_range(classifier: Classifier, batches: int = 8) -> Range:
    """The input range of the data: measured min/max, snapped to [0,1], [-1,1] or [0,255]."""
    import numpy as np
    bundle = classifier.datasets()
    feature = classifier.image
    low, high = np.inf, -np.inf
    for split in ("train", "test", "validation"):
        data = getattr(bundle, split, None)
        if data is None:
            continue
        for (inputs,) in _batches(data, batches):
            values = np.asarray(inputs[feature])
            low, high = min(low, float(values.min())), max(high, float(values.max()))
        break
    if not np.isfinite(low):
        return (0.0, 1.0)
    for lo, hi in COMMON_RANGES:
        if lo <= low and high <= hi:
            return (lo, hi)
    return (low, high)


def _batches(data: tf.data.Dataset, count: int) -> Iterator[tuple[Any]]:
    """The inputs of the first `count` batches of `data` (its elements may be (x, y))."""
    for element in data.take(count):
        yield (element[0] if isinstance(element, tuple) else element,)


def load_classifier(target: str | Path, *, params: dict[str, Any] | None = None,
                    weights: str | Path | None = None,
                    output: str | None = None, which: str = "final",
                    need_output: bool = True) -> Classifier:
    """Loads a run directory or builds a spec, and checks that it is an image classifier.

    Args:
        target: A run directory written by `modelspec train`, or a spec file.
        params: Parameter overrides for a spec (ignored for runs: a run keeps its own).
        weights: A local Keras weights file (`.weights.h5`) loaded into the model.
        output: The class-score output's name, when the model has several outputs.
        which: For runs: "final", "best" or "latest" weights.
        need_output: False for techniques on any image model (DeepDream on a layer, style
            transfer): then a model without a class output is accepted (`output` None).

    Returns:
        A `Classifier` (its `value_range` still unset; see `Classifier.ensure_range`).

    Raises:
        UsageError: Not a run or spec, several models, no image input, no class output,
            an unreadable weights file.
        SpecError: The spec is invalid.

    Example:
    >>> clf = load_classifier("runs/lenet5")
    >>> clf.image, clf.output, clf.image_shape
    ('image', 'digit', (32, 32, 1))
    """
    from modelspec.targets import open_target
    opened = open_target(target, which=which, params=params)
    spec, trained, run_dir = opened.spec, opened.trained, opened.run_dir
    model = _single_model(opened.models, target)
    if weights is not None:
        load_weights_file(model, weights)
        trained = True
    image = _image_input(model, target)
    try:
        out = _class_output(model, target, output)
    except UsageError:
        if need_output or output is not None:
            raise
        out = None
    return Classifier(model, image, out, spec, str(target), trained, run_dir=run_dir)


def load_weights_file(model: keras.Model, weights: str | Path) -> None:
    """Loads a local Keras weights file into `model`; UsageError when it does not fit."""
    wpath = Path(weights)
    if not wpath.is_file():
        raise UsageError(f"--weights {weights}: no such file")
    try:
        model.load_weights(str(wpath))
    except Exception as err:
        raise UsageError(f"--weights {weights}: cannot load into the model — expected a Keras "
                         f"weights file (.weights.h5) of this very spec: "
                         f"{type(err).__name__}: {str(err).splitlines()[0][:300]}") from None


def _single_model(models: dict[str, keras.Model], target: str | Path) -> keras.Model:
    if len(models) == 1:
        return next(iter(models.values()))
    if "model" in models:
        return models["model"]
    raise UsageError(f"{target}: the spec has several models ({', '.join(models)}) — expected "
                     "an image classifier spec with a single model")


def _image_input(model: keras.Model, target: str | Path) -> str:
    inputs = {k: v for k, v in model.input.items()} if isinstance(model.input, dict) else {
        t.name: t for t in model.inputs}
    described = ", ".join(f"'{k}' {tuple(v.shape[1:])}" for k, v in inputs.items())
    images = [k for k, v in inputs.items() if len(v.shape) == 4 and "float" in str(v.dtype)
              and v.shape[-1] in (1, 3) and None not in tuple(v.shape[1:])]
    if len(inputs) != 1 or len(images) != 1:
        raise UsageError(f"{target}: not an image classifier: its input(s) {described} — "
                         "expected one float input of shape (height, width, 1 or 3 channels)")
    return images[0]


def _class_output(model: keras.Model, target: str | Path, wanted: str | None) -> str:
    outputs = dict(model.output) if isinstance(model.output, dict) else {
        t.name: t for t in model.outputs}
    fitting = [k for k, v in outputs.items() if len(v.shape) == 2 and (v.shape[-1] or 0) >= 2]
    if wanted is not None:
        if wanted not in outputs:
            raise UsageError(f"--model-output '{wanted}': the model has no such output — "
                             f"expected one of {sorted(outputs)}"
                             + _suggest(wanted, outputs))
        if wanted not in fitting:
            shape = tuple(outputs[wanted].shape[1:])
            raise UsageError(f"--model-output '{wanted}' has shape {shape} — expected class "
                             "scores of shape (classes,), classes ≥ 2")
        return wanted
    if len(fitting) == 1:
        return fitting[0]
    described = ", ".join(f"'{k}' {tuple(v.shape[1:])}" for k, v in outputs.items())
    if not fitting:
        raise UsageError(f"{target}: not an image classifier: its output(s) {described} — "
                         "expected class scores of shape (classes,), classes ≥ 2")
    raise UsageError(f"{target}: several class outputs ({described}) — name one with "
                     "--model-output NAME")


def _suggest(word: str, options: Iterable[str]) -> str:
    close = did_you_mean(word, list(options))
    return f" (did you mean '{close}'?)" if close else ""


def layer_names(classifier: Classifier) -> list[str]:
    """The model's layer names (the spec's ids; repeated copies as `id_0`, `id_1`, ...)."""
    return [layer.name for layer in classifier.model.layers
            if layer.name not in (classifier.image,)]


def resolve_layer(classifier: Classifier, text: str, option: str = "--layer") -> str:
    """Resolves a layer id as written in the spec to the model's layer name.

    Accepts the flat name (`stage4_conv_2`), an id (`c3`), a dotted block reference
    (`stage4.conv`: that layer of the block; a repeated id means its last copy) and a block
    id (`stage4`: its last layer, the block's output).

    Raises:
        UsageError: No such layer, with a did-you-mean suggestion and the known ids.
    """
    names = layer_names(classifier)
    if text in names:
        return text
    base = text.replace(".", "_")
    if base in names:
        return base
    copies = [(int(m.group(1)), n) for n in names
              if (m := re.fullmatch(re.escape(base) + r"_(\d+)", n))]
    if copies:
        return max(copies)[1]
    inside = [n for n in names if n.startswith(base + "_")]
    if inside:
        return inside[-1]
    shown = _short_list(names)
    raise UsageError(f"{option} '{text}': no layer with that id in {classifier.origin} — "
                     f"expected one of {shown}" + _suggest(text, names + _dotted(names)))


def _dotted(names: Sequence[str]) -> list[str]:
    return [n.replace("_", ".") for n in names]


def _short_list(names: list[str], limit: int = 24) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names)} layers)"


@dataclass
class FeatureModel:
    """Called on a batch of images: the outputs of the layers `names` (Keras names), a list."""

    model: keras.Model  # from the classifier's input to those layers' outputs
    image: str
    names: list[str]

    def __call__(self, images: np.ndarray | tf.Tensor) -> list[tf.Tensor]:
        result = self.model({self.image: images}, training=False)
        return list(result) if isinstance(result, (list, tuple)) else [result]


def feature_model(classifier: Classifier, layers: list[str],
                  option: str = "--layer") -> FeatureModel:
    """A Keras model from the image input to the outputs of `layers` (spec ids), as a list.

    Raises:
        UsageError: Unknown ids, or a layer used at several places of the graph.
    """
    import keras
    resolved = [resolve_layer(classifier, name, option) for name in layers]
    outputs = []
    for name, text in zip(resolved, layers):
        layer = classifier.model.get_layer(name)
        try:
            outputs.append(layer.output)
        except Exception:
            raise UsageError(f"{option} '{text}': layer '{name}' is used at several places "
                             "of the graph — expected a layer with one output") from None
    inner = keras.Model(inputs=classifier.model.input, outputs=outputs)
    return FeatureModel(inner, classifier.image, resolved)


def feature_map_layers(classifier: Classifier) -> list[str]:
    """Names of the convolution layers whose output is a feature map `(h, w, channels)`."""
    found = []
    for layer in classifier.model.layers:
        if "Conv" not in type(layer).__name__:
            continue
        try:
            shape = layer.output.shape
        except Exception:  # a layer used at several places
            continue
        if len(shape) == 4:
            found.append(layer.name)
    return found


def default_style_layers(classifier: Classifier, count: int = 5) -> tuple[list[str], list[str]]:
    """Gatys-like defaults: content at ~3/4 depth, style on `count` convs spread over depth.

    Raises:
        UsageError: The model has no convolution layers.
    """
    convs = feature_map_layers(classifier)
    if not convs:
        raise UsageError(f"{classifier.origin}: no convolution layers — style transfer needs "
                         "a convolutional spec (e.g. specs/vgg16.yaml -p small=true)")
    content = [convs[min(len(convs) - 1, (3 * len(convs)) // 4)]]
    picks = sorted({round(i * (len(convs) - 1) / max(1, count - 1)) for i in range(count)})
    return content, [convs[i] for i in picks]
