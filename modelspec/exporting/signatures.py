"""Serving signatures of an exported model: named inputs/outputs, classification, raw input.

A compiled modelspec model takes a dict of named inputs and returns a dict of named outputs;
its SavedModel gets these signatures (`saved_model_cli show --all` lists them):

- `serving_default`: the spec's inputs → the spec's outputs, same names, shapes and dtypes.
- `classify` (classifiers only): the spec's inputs → `probabilities`, `classes` (int64) and,
  when labels are given, `labels` (string). With several classifier outputs the keys are
  prefixed: `<output>_probabilities`, ... An output is a classifier when its last activation
  is softmax or sigmoid, or when `export.classify` names it (its logits then go through
  softmax, or sigmoid for one unit).
- `generate` (when the spec's `export.generate` is set): the model's inputs other than the
  fed one → `tokens` and `lengths`, decoded greedily with each step's output fed back
  (`modelspec.decoding`; a `tf.while_loop` inside the SavedModel).
- `serving_raw` (when the data pipeline recorded preprocessing): raw features (strings,
  unnormalised numbers, images of any size) → the `serving_default` outputs plus the
  classification outputs, with the preprocessing layers (Normalization, StringLookup,
  TextVectorization, Resizing, ...) inside the graph, so a client sends raw data.

The signatures are written with `keras.export.ExportArchive`, Keras 3's tool for SavedModels
with custom endpoints: it tracks exactly the variables the endpoints use and the lookup tables
of preprocessing layers (which a bare `tf.Module` + `tf.saved_model.save` would have to find by
hand), and it needs no private API.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import keras
import numpy as np
import tensorflow as tf

from modelspec.build.compiler import call_model, model_io
from modelspec.exporting.io import tensor_specs
from modelspec.exporting.options import Classify, ExportOptionError

if TYPE_CHECKING:
    from modelspec.decoding import GenerateConfig

# Class names: one list (the single classifier output) or output name → list.
Labels = Sequence[str] | Mapping[str, Sequence[str]] | None

SERVING_DEFAULT = "serving_default"
CLASSIFY = "classify"
SERVING_RAW = "serving_raw"


@dataclass
class ClassifierOutput:
    """One output treated as a classifier: how probabilities and classes are computed."""

    output: str
    activation: str  # "softmax" or "sigmoid": what the model applies already
    apply: str | None = None  # activation to apply to logits (classify: true on a linear output)
    labels: list[str] | None = None
    threshold: float = 0.5


@dataclass
class Endpoints:
    """The signatures of one model: name → python function and input signature."""

    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    signatures: dict[str, dict[str, tf.TensorSpec]] = field(default_factory=dict)
    tracked: list[Any] = field(default_factory=list)
    classifiers: list[ClassifierOutput] = field(default_factory=list)


def _last_activation(tensor: keras.KerasTensor) -> str | None:
    """`softmax` / `sigmoid` when that is the last activation producing `tensor`, else None.

    Pass-through layers after it (a linear `Activation`, e.g. a float32 cast added for mixed
    precision, or `Identity`) are looked through.
    """
    for _ in range(8):
        history = getattr(tensor, "_keras_history", None)
        layer: Any = getattr(history, "operation", None)
        if isinstance(layer, keras.layers.Softmax):
            return "softmax"
        name = getattr(getattr(layer, "activation", None), "__name__", None)
        if name in ("softmax", "sigmoid"):
            return name
        passthrough = isinstance(layer, keras.layers.Identity) or (
            isinstance(layer, keras.layers.Activation) and name == "linear")
        if not passthrough:
            return None
        tensor = layer.input
    return None


def _is_picture(activation: str, shape: tuple[int | None, ...],
                input_shapes: set[tuple[int | None, ...]]) -> bool:
    """A sigmoid output that is an image or a reconstruction, not class probabilities.

    Sigmoid maps of rank > 1 (an image, a decoder's pixels) and sigmoid outputs shaped like
    one of the model's inputs (an autoencoder's reconstruction) are not classifiers.
    """
    return activation == "sigmoid" and (len(shape) > 1 or shape in input_shapes)


def find_classifiers(model: keras.Model, classify: Classify = None,
                     labels: Labels = None,
                     threshold: float = 0.5) -> list[ClassifierOutput]:
    """Finds the outputs to expose as classifiers.

    Args:
        model: The model.
        classify: None (automatic: outputs whose last activation is softmax, or sigmoid
            over class units: not an image or a reconstruction of an input),
            False (none), True (every output) or a list of output names.
        labels: None, a list of class names (for the single classifier output) or a dict
            output name → list of class names.
        threshold: The probability above which a sigmoid unit counts as class 1.

    Returns:
        One `ClassifierOutput` per classifier output.

    Raises:
        ExportOptionError: A named output does not exist or labels do not fit the output.
    """
    outputs = model.output if isinstance(model.output, Mapping) else \
        dict(zip(model.output_names, model.outputs))
    if classify is False:
        return []
    if classify is None or classify is True:
        chosen = list(outputs)
    else:
        chosen = list(classify)
        unknown = [n for n in chosen if n not in outputs]
        if unknown:
            raise ExportOptionError("classify", f"unknown output(s) {unknown}; the model's "
                                    f"outputs are {list(outputs)}")
    found = []
    input_shapes = {tuple(shape) for shape, _ in model_io(model)[0].values()}
    for name in chosen:
        activation = _last_activation(outputs[name])
        units = outputs[name].shape[-1]
        if classify is None and (activation is None or _is_picture(
                activation, tuple(outputs[name].shape[1:]), input_shapes)):
            continue
        apply = None
        if activation is None:
            apply = "sigmoid" if units == 1 else "softmax"
        found.append(ClassifierOutput(name, cast(str, activation or apply), apply, None,
                                      threshold))
    if labels:
        _attach_labels(found, labels, outputs)
    return found


def _attach_labels(found: list[ClassifierOutput], labels: Labels,
                   outputs: Mapping[str, Any]) -> None:
    by_output = labels if isinstance(labels, Mapping) else (
        {found[0].output: labels} if len(found) == 1 else None)
    if by_output is None:
        raise ExportOptionError("labels", f"labels given as one list but the model has "
                                f"{len(found)} classifier outputs; give a mapping output "
                                "name → labels")
    for entry in found:
        names = by_output.get(entry.output)
        if names is None:
            continue
        units = outputs[entry.output].shape[-1]
        if entry.activation == "sigmoid" and units != 1:
            raise ExportOptionError("labels", f"labels for the multi-label output "
                                    f"'{entry.output}' are not supported; use classes")
        wanted = 2 if entry.activation == "sigmoid" else units
        if len(names) != wanted:
            raise ExportOptionError("labels", f"output '{entry.output}' has {wanted} classes "
                                    f"but {len(names)} labels were given")
        entry.labels = [str(n) for n in names]
    missing = set(by_output) - {e.output for e in found}
    if missing:
        raise ExportOptionError("labels", f"labels given for {sorted(missing)}, which are not "
                                f"classifier outputs (classifiers: "
                                f"{[e.output for e in found]})")


def classification_outputs(outputs: Mapping[str, Any],
                           classifiers: Sequence[ClassifierOutput]) -> dict[str, Any]:
    """Computes `probabilities`, `classes` (and `labels`) from a model's outputs."""
    result = {}
    prefix = len(classifiers) > 1
    for entry in classifiers:
        value = tf.convert_to_tensor(outputs[entry.output])
        probs = tf.cast(value, tf.float32)
        if entry.apply == "softmax":
            probs = tf.nn.softmax(probs, axis=-1)
        elif entry.apply == "sigmoid":
            probs = tf.sigmoid(probs)
        if entry.activation == "softmax":
            classes = tf.argmax(probs, axis=-1, output_type=tf.int64)
        else:
            classes = tf.cast(probs > entry.threshold, tf.int64)
        key = (lambda k, out=entry.output: f"{out}_{k}") if prefix else (lambda k: k)
        result[key("probabilities")] = probs
        result[key("classes")] = classes
        if entry.labels:
            table = tf.constant(entry.labels)
            index = classes if entry.activation == "softmax" else classes[..., 0]
            result[key("labels")] = tf.gather(table, index)
    return result


def build_endpoints(model: keras.Model, *, preprocessing: Any = None,
                    classify: Classify = None, labels: Labels = None,
                    threshold: float = 0.5, raw_signature: bool = True,
                    generate: GenerateConfig | None = None) -> Endpoints:
    """Builds the serving functions of `model` (see the module docstring for what they are).

    Args:
        model: The Keras model to serve.
        preprocessing: Recorded preprocessing (see `raw_preprocessing`) or None.
        classify: None (automatic), True, False or a list of output names.
        labels: Class names (list, or dict output → list) for the `labels` output.
        threshold: Decision threshold for sigmoid outputs.
        raw_signature: Add `serving_raw` when preprocessing is given.
        generate: A `modelspec.decoding.GenerateConfig` for a `generate` signature, or None.

    Returns:
        `Endpoints` with python functions (used both for tracing and as the in-memory
        reference the reloaded SavedModel is compared with) and their input signatures.
    """
    inputs, _ = model_io(model)
    endpoints = Endpoints(tracked=[model])
    endpoints.classifiers = find_classifiers(model, classify, labels, threshold)
    classifiers = endpoints.classifiers

    def serve(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return call_model(model, features)

    endpoints.functions[SERVING_DEFAULT] = serve
    endpoints.signatures[SERVING_DEFAULT] = tensor_specs(inputs)
    if classifiers:
        def classify_fn(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            return classification_outputs(call_model(model, features), classifiers)

        endpoints.functions[CLASSIFY] = classify_fn
        endpoints.signatures[CLASSIFY] = tensor_specs(inputs)
    if generate is not None:
        from modelspec.decoding import GENERATE, buffer_length, greedy_decode
        try:
            buffer_length(model, generate)
        except ValueError as err:
            raise ExportOptionError("generate", str(err)) from err

        def generate_fn(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            return greedy_decode(model, features, generate)

        endpoints.functions[GENERATE] = generate_fn
        endpoints.signatures[GENERATE] = tensor_specs(
            {k: v for k, v in inputs.items() if k != generate.feed})
    from modelspec.exporting.preprocessing import raw_preprocessing
    prep = raw_preprocessing(preprocessing, inputs) if raw_signature else None
    if prep is not None:
        endpoints.tracked.extend(prep.layers)

        def serve_raw(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            outputs = call_model(model, prep.function(dict(features)))
            outputs.update(classification_outputs(outputs, classifiers))
            return outputs

        endpoints.functions[SERVING_RAW] = serve_raw
        endpoints.signatures[SERVING_RAW] = tensor_specs(prep.raw_inputs)
    return endpoints


def write_savedmodel(endpoints: Endpoints, path: str | os.PathLike[str]) -> None:
    """Writes the endpoints as a SavedModel at `path` with `keras.export.ExportArchive`."""
    archive = keras.export.ExportArchive()
    for resource in endpoints.tracked:
        archive.track(resource)
    for name, function in endpoints.functions.items():
        archive.add_endpoint(name, function, input_signature=[endpoints.signatures[name]])
    archive.write_out(str(path), verbose=False)


def sample_batch(signature: Mapping[str, tf.TensorSpec], batch_size: int = 4,
                 seed: int = 0, unknown_dim: int = 8) -> dict[str, np.ndarray]:
    """Makes a random batch matching a signature (used to check a reloaded export).

    Floats are standard normal; integers are 0 or 1 (valid indices for any embedding);
    strings are short words; unknown dimensions become `unknown_dim`.
    """
    rng = np.random.default_rng(seed)
    batch = {}
    for name, spec in signature.items():
        shape = [batch_size] + [d if d is not None else unknown_dim
                                for d in spec.shape.as_list()[1:]]
        dtype = spec.dtype
        if dtype == tf.string:
            words = np.array([b"the", b"a", b"cat", b"zebra", b"7"], dtype=object)
            batch[name] = words[rng.integers(0, len(words), size=shape)]
        elif dtype == tf.bool:
            batch[name] = rng.integers(0, 2, size=shape).astype(bool)
        elif dtype == tf.uint8:
            batch[name] = rng.integers(0, 256, size=shape).astype(np.uint8)
        elif dtype.is_integer:
            batch[name] = rng.integers(0, 2, size=shape).astype(dtype.as_numpy_dtype)
        else:
            batch[name] = rng.standard_normal(size=shape).astype(dtype.as_numpy_dtype)
    return batch


def max_difference(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> float:
    """Largest absolute difference between two dicts of outputs (inf on any mismatch).

    Numeric outputs are compared as float64; string / integer outputs must be equal.
    """
    if set(expected) != set(actual):
        return float("inf")
    worst = 0.0
    for name, value in expected.items():
        a, b = np.asarray(value), np.asarray(actual[name])
        if a.shape != b.shape:
            return float("inf")
        if a.dtype.kind in "OSUb" or a.dtype.kind in "iu":
            if not np.array_equal(a, b):
                return float("inf")
            continue
        if a.size:
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            if not np.all(np.isfinite(diff)):
                return float("inf")
            worst = max(worst, float(diff.max()))
    return worst


def relative_tolerance(reference: Mapping[str, Any], tolerance: float) -> float:
    """`tolerance` scaled by the outputs' magnitude: `tolerance × max(1, largest |output|)`.

    float32 keeps about 7 significant digits, so a model whose outputs reach 4e6 differs
    after a reload by rounding alone by ~0.5; an absolute bound would call that a failure.
    """
    scale = 1.0
    for value in reference.values():
        array = np.asarray(value)
        if array.size and array.dtype.kind == "f":
            finite = np.abs(array[np.isfinite(array)])
            if finite.size:
                scale = max(scale, float(finite.max()))
    return tolerance * scale
