"""Raw-input preprocessing for the `serving_raw` signature.

The data pipeline turns raw features into model inputs with Keras preprocessing layers
(Normalization, StringLookup / IntegerLookup, TextVectorization, Resizing, Rescaling, ...),
adapted on the training split. Export replays the same layers inside the SavedModel, so a
client can send raw features. Three forms are accepted:

- `{model input: RawFeature(layers, shape, dtype)}`: a chain of layers per input;
- a `keras.Model` mapping a dict of raw features to a dict keyed by model input names;
- a `RawPreprocessing(function, raw_inputs, layers)`: any traceable function of batched
  raw tensors (what `modelspec.data` records), with the layers it uses.

Example:
>>> norm = keras.layers.Normalization(); norm.adapt(x_train)
>>> prep = {"x": RawFeature([norm], shape=(4,), dtype="float32")}
>>> export_models({"model": model}, "exports/m", preprocessing=prep)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import keras
import tensorflow as tf

from modelspec.build.compiler import model_io
from modelspec.exporting.io import tensor_specs
from modelspec.exporting.options import ExportOptionError


@dataclass
class RawFeature:
    """How one raw feature becomes one model input (recorded by the data pipeline).

    Args:
        layers: Keras preprocessing layers applied in order (adapted / with vocabularies).
        shape: The raw feature's shape without the batch dimension (`()` for a scalar string).
        dtype: The raw feature's dtype (`"string"`, `"float32"`, `"uint8"`, ...).
        name: The raw input's name in `serving_raw` (defaults to the model input's name).

    Example:
    >>> RawFeature([keras.layers.StringLookup(vocabulary=["a", "b"])], shape=(1,), dtype="string")
    """

    layers: Sequence[keras.layers.Layer]
    shape: tuple[int | None, ...] = ()
    dtype: str = "float32"
    name: str | None = None


@dataclass
class RawPreprocessing:
    """Raw-input preprocessing as a function (what the data pipeline records).

    Args:
        function: Maps a dict of batched raw tensors to a dict holding the model's inputs
            (TensorFlow ops / Keras layers only: it is traced into the SavedModel).
        raw_inputs: `{raw name: (shape without batch, dtype)}` of the raw features.
        layers: The Keras layers it uses (tracked so lookup tables are saved).
    """

    function: Callable[[dict[str, Any]], dict[str, Any]]
    raw_inputs: Mapping[str, tuple[Any, ...]]
    layers: Sequence[Any] = ()


def _fail(message: str) -> NoReturn:
    raise ExportOptionError("preprocessing", message)


def _from_features(features: Mapping[str, RawFeature],
                   model_inputs: Mapping[str, tuple[Any, ...]]) -> RawPreprocessing:
    raw, produced = {}, {}
    for name, feature in features.items():
        if name not in model_inputs:
            _fail(f"preprocessing for '{name}', which is not a model input "
                  f"(inputs: {list(model_inputs)})")
        raw_name = feature.name or name
        tensor = raw[raw_name] = keras.Input(shape=tuple(feature.shape), dtype=feature.dtype,
                                             name=raw_name)
        for layer in feature.layers:
            tensor = layer(tensor)
        produced[name] = tensor
    prep = keras.Model(raw, produced, name="raw_preprocessing")
    return RawPreprocessing(lambda f: prep(f, training=False), model_io(prep)[0], [prep])


def raw_preprocessing(preprocessing: Any,
                      model_inputs: Mapping[str, tuple[Any, ...]]) -> RawPreprocessing | None:
    """Normalises recorded preprocessing: raw features → every model input.

    Args:
        preprocessing: None; a `RawPreprocessing`; a `keras.Model` taking a dict of raw
            features and returning a dict keyed by model input names; or a dict model input
            name → `RawFeature`. Model inputs the preprocessing does not produce are taken
            from a raw feature of the same name (and added to the raw signature).
        model_inputs: `{input name: (shape, dtype)}` of the model.

    Returns:
        A `RawPreprocessing` whose function returns exactly the model's inputs, cast to the
        model's dtypes, or None.

    Raises:
        ExportOptionError: The preprocessing does not fit the model's inputs.
    """
    if preprocessing is None:
        return None
    if isinstance(preprocessing, keras.Model):
        if not isinstance(preprocessing.input, Mapping) or \
                not isinstance(preprocessing.output, Mapping):
            _fail("a preprocessing model must map a dict of named raw features to a dict "
                  "keyed by model input names")
        model = preprocessing
        base = RawPreprocessing(lambda f: model(f, training=False), model_io(model)[0], [model])
    elif isinstance(preprocessing, RawPreprocessing):
        base = preprocessing
    elif isinstance(preprocessing, Mapping) and all(
            isinstance(v, RawFeature) for v in preprocessing.values()):
        base = _from_features(preprocessing, model_inputs)
    else:
        _fail(f"unsupported preprocessing {type(preprocessing).__name__}: expected a Keras "
              "model, a RawPreprocessing or a dict of RawFeature")
    produced = tf.function(base.function).get_concrete_function(
        tensor_specs(base.raw_inputs)).structured_outputs
    if not isinstance(produced, Mapping):
        _fail("preprocessing must return a dict keyed by model input names")
    unknown = set(produced) - set(model_inputs)
    if unknown:
        _fail(f"preprocessing produces {sorted(unknown)}, which are not model inputs "
              f"(inputs: {list(model_inputs)})")
    raw_inputs = dict(base.raw_inputs)
    for name in model_inputs:
        if name not in produced and name not in raw_inputs:
            raw_inputs[name] = model_inputs[name]  # passed through unchanged

    def function(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        out = dict(base.function({k: features[k] for k in base.raw_inputs}))
        result = {}
        for name, (_, dtype) in model_inputs.items():
            value = out[name] if name in out else features[name]
            result[name] = tf.cast(value, dtype) if value.dtype != tf.as_dtype(dtype) else value
        return result

    return RawPreprocessing(function, raw_inputs, list(base.layers))
