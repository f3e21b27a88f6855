"""The serving-time preprocessing record: raw source fields → model inputs, as a Keras model.

`DataBundle.preprocessing` is a `keras.Model` (or None when no input is transformed):

- its inputs: a dict raw field name → `keras.Input` (shape and dtype as the source yields
  one example, e.g. `images: (8, 8, 1) float32`, `education: () string`);
- its outputs: a dict model input name → the tensor the model receives, computed by the same
  `Step`s the pipeline ran (Rescaling, Normalization adapted on the training split,
  StringLookup / IntegerLookup, Hashing, HashedCrossing, TextVectorization, Resizing, casts,
  padding, stacking), in spec order;
- `model.steps`: dict model input name → list of `(type, inputs, output)` records, and
  `model.raw_fields`: dict raw field → (shape, dtype), for documentation and `modelspec data`.

Only inputs whose chain back to the raw fields holds field-wise transforms are covered;
inputs made by restructuring transforms (sequences, skipgrams, cbow) and inputs used as they
are do not appear. Noise steps are the identity at serving time. Export
(`modelspec.exporting.signatures.preprocessing_model`) puts this model in the `serving_raw`
signature, so a client sends raw features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from modelspec.data.step import Step, Tensors


class RawPreprocessing(keras.layers.Layer):
    """Applies recorded `Step`s (batched) to a dict of raw fields; returns a dict of inputs.

    Args:
        steps: The field-wise `Step`s needed, in pipeline order.
        features: Model input name → the field it reads after the steps.
    """

    def __init__(self, steps: Sequence[Step], features: Mapping[str, str],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps = list(steps)
        self.features = dict(features)
        self.step_layers = [s.layer for s in self.steps if s.layer is not None]

    def call(self, raw: Tensors) -> Tensors:
        tensors = dict(raw)
        for step in self.steps:
            tensors[step.output] = step.batched(tensors, training=False)
        return {name: tensors[field] for name, field in self.features.items()}


def chain(steps: Sequence[Step], field: str) -> tuple[list[Step], set[str]] | tuple[None, None]:
    """The field-wise steps (in order) that produce `field`, and the raw fields they read;
    (None, None) when a restructuring step makes it."""
    needed, used = {field}, []
    for step in reversed(steps):
        if step.restructuring:  # a `Restructure`: its new fields are `outputs`
            produced = set(getattr(step, "outputs", ())) & needed
            if produced:
                return None, None
            continue
        if step.output in needed:
            used.append(step)
            needed.discard(step.output)
            needed.update(step.inputs)
    return list(reversed(used)), needed


def build_preprocessing(steps: Sequence[Step], features: Mapping[str, str],
                        raw_spec: Mapping[str, Any], input_dtypes: Mapping[str, Any]) -> Any:
    """Builds the preprocessing model for the model inputs that are transformed.

    Args:
        steps: All `Step`s of the pipeline (adapted).
        features: Model input name → field.
        raw_spec: Raw field → `tf.TensorSpec` of one example (before any transform).
        input_dtypes: Model input name → dtype the model expects.

    Returns:
        A `keras.Model` raw dict → input dict, or None when no input is transformed.
    """
    covered: dict[str, str] = {}
    raw_fields: dict[str, Any] = {}
    used: list[Step] = []
    for name, field in features.items():
        found, needed = chain(steps, field)
        if not found or needed is None or any(f not in raw_spec for f in needed):
            continue
        covered[name] = field
        for f in needed:
            raw_fields[f] = raw_spec[f]
        used += [s for s in found if s not in used]
    if not covered:
        return None
    used = [s for s in steps if s in used]
    inputs = {f: keras.Input(shape=tuple(spec.shape), dtype=spec.dtype.name, name=f)
              for f, spec in raw_fields.items()}
    layer = RawPreprocessing(used, covered, name="preprocess")
    outputs = layer(inputs)
    outputs = {n: (keras.ops.cast(t, input_dtypes[n])
                   if input_dtypes.get(n, t.dtype) not in (t.dtype, "string")
                   and t.dtype != "string" else t) for n, t in outputs.items()}
    model = keras.Model(inputs, outputs, name="raw_preprocessing")
    model.steps = {n: [(s.kind, list(s.inputs), s.output) for s in chain(steps, f)[0] or ()]
                   for n, f in covered.items()}
    model.raw_fields = {f: (tuple(s.shape), s.dtype.name) for f, s in raw_fields.items()}
    return model
