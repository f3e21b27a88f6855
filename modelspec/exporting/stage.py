"""Writes one model's export into a staging directory and checks it (nothing published).

The SavedModel is reloaded with `tf.saved_model.load` and every signature is called on a
batch and compared with the in-memory functions it was traced from; `.keras` and TFLite
files are checked the same way (`modelspec.exporting.formats`). The facts travel with the
export in `assets/modelspec.json` (beside the SavedModel's `assets/`, which TF Serving
ignores): spec name and fingerprint, training metrics, modelspec / TensorFlow / Keras
versions, signatures with shapes and dtypes, classifier labels, measured differences.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelspec.exporting.options import ExportOptions

if TYPE_CHECKING:
    import keras
    import numpy as np
    import tensorflow as tf

    from modelspec.exporting.signatures import Endpoints

METADATA_FILE = "modelspec.json"


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    from modelspec.version import __version__
    return {"modelspec": __version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def _describe(signature_fn: Any) -> dict[str, Any]:
    """The inputs and outputs (shape, dtype) of a reloaded SavedModel signature."""
    def spec(s: tf.TensorSpec) -> dict[str, Any]:
        return {"shape": [None if d is None else int(d) for d in s.shape.as_list()],
                "dtype": s.dtype.name}
    inputs = signature_fn.structured_input_signature[1]
    return {"inputs": {k: spec(v) for k, v in sorted(inputs.items())},
            "outputs": {k: spec(v) for k, v in sorted(signature_fn.structured_outputs.items())}}


def _check_savedmodel(path: Path, endpoints: Endpoints, batches: Mapping[str, Mapping[str, Any]],
                      tolerance: float) -> tuple[dict[str, float], dict[str, Any],
                                                 dict[str, dict[str, np.ndarray]]]:
    """Reloads a SavedModel and compares every signature with the in-memory functions."""
    import tensorflow as tf

    from modelspec.exporting.formats import ExportCheckError, to_numpy
    from modelspec.exporting.signatures import max_difference, relative_tolerance
    loaded = tf.saved_model.load(str(path))
    diffs, described, references = {}, {}, {}
    for name, function in endpoints.functions.items():
        if name not in loaded.signatures:
            raise ExportCheckError(f"signature '{name}' is missing from the reloaded SavedModel")
        signature = loaded.signatures[name]
        wanted = set(endpoints.signatures[name])
        got = set(signature.structured_input_signature[1])
        if got != wanted:
            raise ExportCheckError(f"signature '{name}' has inputs {sorted(got)}, expected "
                                   f"{sorted(wanted)}")
        batch = batches[name]
        references[name] = to_numpy(function({k: tf.constant(v) for k, v in batch.items()}))
        actual = to_numpy(signature(**{k: tf.constant(v) for k, v in batch.items()}))
        diffs[name] = max_difference(references[name], actual)
        allowed = relative_tolerance(references[name], tolerance)
        if not diffs[name] <= allowed:
            raise ExportCheckError(f"the reloaded SavedModel's '{name}' differs from the "
                                   f"in-memory model by {diffs[name]:g} (tolerance "
                                   f"{tolerance:g} × the largest output, {allowed:g})")
        described[name] = _describe(signature)
    return diffs, described, references


UNKNOWN_SIZES = (8, 32, 64, 128, 256, 512)


def _runs(function: Any, batch: Mapping[str, Any]) -> Exception | None:
    """Calls `function` on `batch`; returns the error it raised, or None."""
    import tensorflow as tf
    try:
        function({k: tf.constant(v) for k, v in batch.items()})
    except Exception as err:  # any failure means: this batch does not fit the model
        return err
    return None


def accepted_batch(name: str, function: Any, signature: Mapping[str, Any],
                   given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A batch for checking signature `name` that `function` accepts.

    `given` (real examples from the data pipeline) is used when it holds every input;
    otherwise random inputs with every unknown dimension set to 8, 32, 64, ... 512 in turn
    until the model accepts them (strided convolutions and poolings need a minimum size).

    Raises:
        ExportCheckError: No batch was accepted (its error is quoted).
    """
    from modelspec.exporting.formats import ExportCheckError
    from modelspec.exporting.signatures import sample_batch
    error: Exception | None = None
    if given is not None and set(signature) <= set(given):
        batch = {k: given[k] for k in signature}
        error = _runs(function, batch)
        if error is None:
            return batch
    open_dims = any(None in s.shape.as_list()[1:] for s in signature.values())
    for size in UNKNOWN_SIZES if open_dims else UNKNOWN_SIZES[:1]:
        batch = sample_batch(signature, unknown_dim=size)
        error = _runs(function, batch)
        if error is None:
            return batch
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    tried = "random inputs"
    if open_dims:
        tried += ", unknown sizes " + ", ".join(map(str, UNKNOWN_SIZES))
    if given is not None:
        tried += "; examples from the data"
    raise ExportCheckError(f"cannot check the '{name}' signature: the model rejects every "
                           f"sample batch tried ({tried}): {first}")


def stage_model(model: keras.Model, staging: Path, options: ExportOptions, *,
                metadata: Mapping[str, Any], preprocessing: Any = None,
                sample: Mapping[str, Any] | None = None,
                raw_sample: Mapping[str, Any] | None = None,
                assets: Mapping[str, str] | None = None) -> Path:
    """Writes and checks one model's export in `staging/version` (not yet published).

    Args:
        model: The `keras.Model`.
        staging: A fresh staging directory.
        options: The export options for this model (`ExportOptions.for_outputs`).
        metadata, preprocessing, assets: See `export_models`; `sample`, `raw_sample`: its
            `samples` and `raw_samples` entries.

    Returns:
        The complete, checked version directory inside `staging`.

    Raises:
        ExportCheckError: A written format does not reproduce the model.
    """
    from modelspec.exporting import signatures as sigs
    version_dir = staging / "version"
    version_dir.mkdir()
    endpoints = sigs.build_endpoints(model, preprocessing=preprocessing,
                                     classify=options.classify, labels=options.labels,
                                     threshold=options.threshold,
                                     raw_signature=options.raw_signature,
                                     generate=options.generate)
    batches = _check_batches(endpoints, sample, raw_sample)
    savedmodel = "savedmodel" in options.formats
    savedmodel_dir = version_dir if savedmodel else staging / "savedmodel"
    savedmodel_dir.mkdir(exist_ok=True)
    sigs.write_savedmodel(endpoints, savedmodel_dir)
    diffs, described, references = _check_savedmodel(savedmodel_dir, endpoints, batches,
                                                     options.tolerance)
    files = {"savedmodel": "."} if savedmodel else {}
    default_batch = batches[sigs.SERVING_DEFAULT]
    files.update(_write_other_formats(model, options, version_dir, savedmodel_dir,
                                      references[sigs.SERVING_DEFAULT], default_batch, diffs))
    record = dict(metadata)
    record.update({
        "format": "modelspec-export/1",
        "exported_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "signatures": described,
        "classifiers": [{"output": c.output, "activation": c.activation,
                         "labels": c.labels} for c in endpoints.classifiers],
        "files": files,
        "check": {"batch_size": len(next(iter(default_batch.values()))),
                  "tolerance": options.tolerance, "max_abs_diff": diffs},
    })
    meta_dir = version_dir / "assets" if savedmodel else version_dir
    meta_dir.mkdir(exist_ok=True)
    (meta_dir / METADATA_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n",
                                          encoding="utf-8")
    for filename, text in (assets or {}).items():
        (meta_dir / filename).write_text(text, encoding="utf-8")
    return version_dir


def _check_batches(endpoints: Endpoints, sample: Mapping[str, Any] | None,
                   raw_sample: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Signature name → the batch its checks call it on (data examples where given)."""
    from modelspec.exporting import signatures as sigs
    batches: dict[str, dict[str, Any]] = {}
    for name, signature in endpoints.signatures.items():
        if name == sigs.CLASSIFY:  # the same inputs as serving_default
            batches[name] = batches[sigs.SERVING_DEFAULT]
            continue
        given = raw_sample if name == sigs.SERVING_RAW else sample
        batches[name] = accepted_batch(name, endpoints.functions[name], signature, given)
    return batches


def _write_other_formats(model: keras.Model, options: ExportOptions, version_dir: Path,
                         savedmodel_dir: Path, reference: Mapping[str, np.ndarray],
                         batch: Mapping[str, np.ndarray], diffs: dict[str, float]
                         ) -> dict[str, str]:
    """Writes and checks the `.keras` and TFLite files asked for; their measured differences
    go into `diffs`. Returns format → file name."""
    from modelspec.exporting import formats as export_formats
    files = {}
    if "keras" in options.formats:
        diffs["keras"] = export_formats.write_keras(
            model, version_dir / export_formats.KERAS_FILE, batch, options.tolerance)
        files["keras"] = export_formats.KERAS_FILE
    if "tflite" in options.formats:
        diffs["tflite"] = export_formats.write_tflite(
            savedmodel_dir, version_dir / export_formats.TFLITE_FILE, reference, batch,
            options.tflite_tolerance, options.tflite_optimize)
        files["tflite"] = export_formats.TFLITE_FILE
    return files
