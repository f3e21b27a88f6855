"""Writes one model's export into a staging directory and checks it (nothing published).

The SavedModel is reloaded with `tf.saved_model.load` and every signature is called on a
batch and compared with the in-memory functions it was traced from; `.keras` and TFLite
files are checked the same way (`modelspec.export_formats`). The facts travel with the
export in `assets/modelspec.json` (beside the SavedModel's `assets/`, which TF Serving
ignores): spec name and fingerprint, training metrics, modelspec / TensorFlow / Keras
versions, signatures with shapes and dtypes, classifier labels, measured differences.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Mapping, Sequence

DEFAULT_TOLERANCE = 1e-5
TFLITE_TOLERANCE = 1e-4
METADATA_FILE = "modelspec.json"


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    import modelspec
    return {"modelspec": modelspec.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def _describe(signature_fn) -> dict:
    def spec(s):
        return {"shape": [None if d is None else int(d) for d in s.shape.as_list()],
                "dtype": s.dtype.name}
    inputs = signature_fn.structured_input_signature[1]
    return {"inputs": {k: spec(v) for k, v in sorted(inputs.items())},
            "outputs": {k: spec(v) for k, v in sorted(signature_fn.structured_outputs.items())}}


def _check_savedmodel(path: Path, endpoints, batches, tolerance) -> tuple[dict, dict, dict]:
    """Reloads a SavedModel and compares every signature with the in-memory functions."""
    import tensorflow as tf

    from modelspec.export_formats import ExportCheckError, to_numpy
    from modelspec.export_signatures import max_difference
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
        if not diffs[name] <= tolerance:
            raise ExportCheckError(f"the reloaded SavedModel's '{name}' differs from the "
                                   f"in-memory model by {diffs[name]:g} (tolerance "
                                   f"{tolerance:g})")
        described[name] = _describe(signature)
    return diffs, described, references


def stage_model(model, staging: Path, *, metadata: Mapping, preprocessing=None,
                formats: Sequence[str] = ("savedmodel",), classify=None, labels=None,
                threshold: float = 0.5, raw_signature: bool = True, sample=None,
                tolerance: float = DEFAULT_TOLERANCE, tflite_tolerance: float = TFLITE_TOLERANCE,
                tflite_optimize: str = "none", assets: Mapping[str, str] | None = None,
                generate=None) -> Path:
    """Writes and checks one model's export in `staging/version` (not yet published).

    Args: see `export_models`.

    Returns:
        The complete, checked version directory inside `staging`.

    Raises:
        ExportCheckError: A written format does not reproduce the model.
    """
    from modelspec import export_formats, export_signatures as sigs
    version_dir = staging / "version"
    version_dir.mkdir()
    endpoints = sigs.build_endpoints(model, preprocessing=preprocessing, classify=classify,
                                     labels=labels, threshold=threshold,
                                     raw_signature=raw_signature, generate=generate)
    batches = {name: sigs.sample_batch(spec) for name, spec in endpoints.signatures.items()}
    if sample is not None:
        batches[sigs.SERVING_DEFAULT] = {k: sample[k] for k in endpoints.signatures[
            sigs.SERVING_DEFAULT]}
        if sigs.CLASSIFY in batches:
            batches[sigs.CLASSIFY] = batches[sigs.SERVING_DEFAULT]
    savedmodel_dir = version_dir if "savedmodel" in formats else staging / "savedmodel"
    savedmodel_dir.mkdir(exist_ok=True)
    sigs.write_savedmodel(endpoints, savedmodel_dir)
    diffs, described, references = _check_savedmodel(savedmodel_dir, endpoints, batches,
                                                     tolerance)
    files = {"savedmodel": "."} if "savedmodel" in formats else {}
    default_batch = batches[sigs.SERVING_DEFAULT]
    if "keras" in formats:
        diffs["keras"] = export_formats.write_keras(
            model, version_dir / export_formats.KERAS_FILE, default_batch, tolerance)
        files["keras"] = export_formats.KERAS_FILE
    if "tflite" in formats:
        diffs["tflite"] = export_formats.write_tflite(
            savedmodel_dir, version_dir / export_formats.TFLITE_FILE,
            references[sigs.SERVING_DEFAULT], default_batch, tflite_tolerance, tflite_optimize)
        files["tflite"] = export_formats.TFLITE_FILE
    record = dict(metadata)
    record.update({
        "format": "modelspec-export/1",
        "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "signatures": described,
        "classifiers": [{"output": c.output, "activation": c.activation,
                         "labels": c.labels} for c in endpoints.classifiers],
        "files": files,
        "check": {"batch_size": len(next(iter(default_batch.values()))),
                  "tolerance": tolerance, "max_abs_diff": diffs},
    })
    meta_dir = version_dir / "assets" if "savedmodel" in formats else version_dir
    meta_dir.mkdir(exist_ok=True)
    (meta_dir / METADATA_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n",
                                          encoding="utf-8")
    for filename, text in (assets or {}).items():
        (meta_dir / filename).write_text(text, encoding="utf-8")
    return version_dir
