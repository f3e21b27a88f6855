"""Predicting with an export, a run or a spec on input files (what `modelspec predict` runs).

The target may be a version directory (`exported/lenet5/3`), a base directory (its highest
version is used), a base with one directory per model (`--model` picks one), a training run
directory (its trained Keras models, in memory) or a spec file (initial weights). Inputs and
answers use TensorFlow Serving's REST formats (`modelspec.exporting.payload`), so

    modelspec predict exported/lenet5 --input request.json

prints what `POST /v1/models/lenet5:predict` with the same body would return.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelspec.errors import UsageError
from modelspec.exporting.payload import InputSpec, format_response, read_payload
from modelspec.targets import Target, open_target


class Predictor:
    """Signatures of an export (or of in-memory models) callable on NumPy batches.

    Args:
        signatures: Signature name → (input specs, function of a dict of arrays).
        origin: What was loaded, for messages.
    """

    def __init__(self, signatures: Mapping[str, tuple[dict[str, InputSpec], Callable[..., Any]]],
                 origin: str) -> None:
        self.signatures = dict(signatures)
        self.origin = origin

    def inputs(self, signature: str) -> dict[str, InputSpec]:
        self._check(signature)
        return self.signatures[signature][0]

    def __call__(self, signature: str, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._check(signature)
        outputs = self.signatures[signature][1](batch)
        return {name: np.asarray(value) for name, value in sorted(outputs.items())}

    def _check(self, signature: str) -> None:
        if signature not in self.signatures:
            from modelspec.errors import did_you_mean
            hint = did_you_mean(signature, self.signatures)
            raise UsageError(f"{self.origin} has no signature '{signature}' — expected one of "
                             f"{', '.join(sorted(self.signatures))}"
                             + (f" (did you mean '{hint}'?)" if hint else ""))


def _input_specs(specs: Mapping[str, Any]) -> dict[str, InputSpec]:
    return {name: InputSpec(tuple(spec.shape.as_list()[1:]),
                            "string" if spec.dtype.name == "string" else spec.dtype.name)
            for name, spec in specs.items()}


def _from_savedmodel(version_dir: Path) -> Predictor:
    import tensorflow as tf
    loaded = tf.saved_model.load(str(version_dir))
    signatures = {}
    for name, function in loaded.signatures.items():
        def call(batch: Mapping[str, np.ndarray],
                 function: Any = function) -> dict[str, np.ndarray]:
            return {k: v.numpy() for k, v in function(
                **{n: tf.constant(a) for n, a in batch.items()}).items()}
        signatures[name] = (_input_specs(function.structured_input_signature[1]), call)
    return Predictor(signatures, str(version_dir))


def _from_target(target: Target, model: str | None, origin: str,
                 raw: bool = False) -> Predictor:
    import tensorflow as tf

    from modelspec.build.compiler import model_io
    from modelspec.exporting.api import data_samples
    from modelspec.exporting.options import ExportOptions
    from modelspec.exporting.signatures import build_endpoints
    models, spec = target.models, target.spec
    name = _pick(list(models), model, origin)
    options = ExportOptions.from_section(spec.section("export") or {}).for_outputs(
        model_io(models[name])[1])
    # serving_raw needs the data pipeline (adapted on the training split): only on request
    prep = data_samples(spec, models, [name], required=True).preprocessing if raw else None
    endpoints = build_endpoints(models[name], classify=options.classify, labels=options.labels,
                                threshold=options.threshold, preprocessing=prep)
    signatures = {}
    for sig, function in endpoints.functions.items():
        def call(batch: Mapping[str, np.ndarray],
                 function: Callable[..., Any] = function) -> dict[str, np.ndarray]:
            return {k: np.asarray(v) for k, v in function(
                {n: tf.constant(a) for n, a in batch.items()}).items()}
        signatures[sig] = (_input_specs(endpoints.signatures[sig]), call)
    return Predictor(signatures, f"{origin} (model '{name}')")


def _pick(names: list[str], model: str | None, origin: str) -> str:
    if model is None:
        if len(names) == 1:
            return names[0]
        raise UsageError(f"{origin} holds several models ({', '.join(names)}); choose one "
                         "with --model NAME")
    if model not in names:
        from modelspec.errors import did_you_mean
        hint = did_you_mean(model, names)
        raise UsageError(f"--model: {origin} has no model '{model}' — expected one of "
                         f"{', '.join(names)}" + (f" (did you mean '{hint}'?)" if hint else ""))
    return model


def open_predictor(target: str | Path, model: str | None = None, raw: bool = False,
                   overrides: Mapping[str, Any] | None = None) -> Predictor:
    """Opens what `modelspec predict` runs: an export, a run directory or a spec file.

    Args:
        target: A version directory, a base directory of versions (highest is used), a base
            with one subdirectory per model, a run directory, or a spec file.
        model: The model to use when the target holds several.
        raw: For a run or spec: also build `serving_raw` from the spec's data pipeline.
        overrides: Values for a spec file's `params` (`-p NAME=VALUE`).

    Raises:
        UsageError: The target is none of these, or `model` is needed / unknown.
    """
    from modelspec.exporting.publish import latest_version_dir
    from modelspec.training.rundir import find_run_dir
    path = Path(target)
    if not path.exists():
        raise UsageError(f"{path}: no such export, run directory or spec file")
    if overrides and not path.is_file():
        raise UsageError(f"{path}: -p/--param applies to a spec file; an export or a run "
                         "keeps the parameters it was made with")
    if (path / "saved_model.pb").exists():
        return _from_savedmodel(path)
    if path.is_file() or find_run_dir(path) is not None:
        return _from_target(open_target(path, params=dict(overrides or {})), model, str(path),
                            raw)
    latest = latest_version_dir(path)
    if latest is None:
        per_model = sorted(p.name for p in path.iterdir()
                           if p.is_dir() and latest_version_dir(p) is not None)
        if not per_model:
            raise UsageError(f"{path}: holds no SavedModel version (no <N>/saved_model.pb), "
                             "no run and no per-model export directories")
        latest = latest_version_dir(path / _pick(per_model, model, str(path)))
        assert latest is not None  # `per_model` lists directories that have a version
    if not (latest / "saved_model.pb").exists():
        raise UsageError(f"{latest}: the latest version holds no SavedModel "
                         "(export with --format savedmodel to predict from it)")
    return _from_savedmodel(latest)


def predict_files(target: str | Path, inputs: Sequence[str | Path], *,
                  signature: str | None = None, model: str | None = None,
                  rescale: float = 1.0,
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Runs a target on input files and returns TF Serving's JSON answer (a dict).

    Args:
        target: See `open_predictor`.
        inputs: Input file paths (JSON/CSV/.npy/.npz, or several images).
        signature: The signature; default: the request's `signature_name`, else
            `serving_default`.
        model: The model when the target holds several.
        rescale: Factor applied to decoded image pixels.
        overrides: Values for a spec file's `params`.

    Example:
    >>> predict_files("exported/lenet5", ["digit.png"], rescale=1 / 255)
    {'predictions': [[0.01, ...]]}
    """
    requested = _requested_signature(inputs)
    if signature and requested and signature != requested:
        raise UsageError(f"the request names signature '{requested}' but --signature is "
                         f"'{signature}'")
    chosen = signature or requested
    if chosen is None and _all_images(inputs):
        predictor, chosen = _for_images(target, model, overrides)
    else:
        chosen = chosen or "serving_default"
        predictor = open_predictor(target, model, raw=chosen == "serving_raw",
                                   overrides=overrides)
    payload = read_payload(inputs, predictor.inputs(chosen), rescale)
    return format_response(predictor(chosen, payload.batch), payload.style)


def _all_images(inputs: Sequence[str | Path]) -> bool:
    from modelspec.exporting.payload import IMAGE_SUFFIXES
    return bool(inputs) and all(Path(p).suffix.lower() in IMAGE_SUFFIXES for p in inputs)


def _for_images(target: str | Path, model: str | None,
                overrides: Mapping[str, Any] | None = None) -> tuple[Predictor, str]:
    """Images go through `serving_raw` when there is one: the spec's own preprocessing
    (padding, resizing, rescaling), not a resize to the model's input size."""
    from modelspec.errors import ModelspecError
    try:
        predictor = open_predictor(target, model, raw=True, overrides=overrides)
    except ModelspecError:  # a run or spec whose data pipeline records no preprocessing
        predictor = open_predictor(target, model, raw=False, overrides=overrides)
    chosen = "serving_raw" if "serving_raw" in predictor.signatures else "serving_default"
    return predictor, chosen


def _requested_signature(inputs: Sequence[str | Path]) -> str | None:
    """The `signature_name` of a JSON request, if any (read before parsing the values)."""
    if len(inputs) != 1 or Path(inputs[0]).suffix.lower() != ".json":
        return None
    try:
        document = json.loads(Path(inputs[0]).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # read_payload reports it with its position
    return document.get("signature_name") if isinstance(document, dict) else None
