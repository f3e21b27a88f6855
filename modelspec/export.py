"""Versioned, atomic SavedModel publishing for TensorFlow Serving.

Layout (what TensorFlow Serving's `--model_base_path` points at):

```
OUTPUT/                      one exported model
  1/  2/  ...                versions; each a SavedModel (+ model.keras, model.tflite)
    saved_model.pb  variables/  fingerprint.pb
    assets/modelspec.json    metadata: spec name + fingerprint, metrics, versions, signatures
    assets/spec.yaml         the spec as written; assets/spec.resolved.yaml with $params filled
OUTPUT/<model>/<N>/          several exported models (autoencoder: encoder/ and decoder/),
                             one base path per model, each versioned on its own
```

Each version is written to `.tmp-export-*` inside the base directory (ignored by Serving),
reloaded with `tf.saved_model.load`, compared with the in-memory model on a batch (max abs
difference ≤ 1e-5 per signature), then renamed to the next free number (see
`modelspec.export_publish`). When several models are exported, all are staged and checked
before any is published; on any failure nothing new remains: no version, no staging directory.

Example:
>>> export_spec_or_run("specs/lenet5.yaml", "exports/lenet5")
{'model': PosixPath('exports/lenet5/1')}
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

from modelspec import export_publish
from modelspec.errors import UsageError

DEFAULT_TOLERANCE = 1e-5
TFLITE_TOLERANCE = 1e-4
METADATA_FILE = "modelspec.json"


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    import modelspec
    return {"modelspec": modelspec.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def _per_model(value, models: Mapping, check) -> dict[str, Any]:
    """Splits an option given for all models into one value per model."""
    if isinstance(value, Mapping) and value and set(value) <= set(models) and \
            all(check(v) for v in value.values()):
        return {name: value.get(name) for name in models}
    return {name: value for name in models}


def _options_for(model, classify, labels) -> tuple[Any, Any]:
    """Keeps the parts of `classify` (list of outputs) / `labels` (dict) naming `model`'s outputs."""
    from modelspec.export_signatures import model_io
    outputs = model_io(model)[1]
    if isinstance(classify, (list, tuple)):
        classify = [k for k in classify if k in outputs] or False
    if isinstance(labels, Mapping):
        labels = {k: v for k, v in labels.items() if k in outputs} or None
    return classify, labels


def _check_option_names(models: Mapping, classify, labels) -> None:
    from modelspec.export_signatures import ExportOptionError, model_io
    known = {o for m in models.values() for o in model_io(m)[1]}
    for option, names in (("classify", classify if isinstance(classify, (list, tuple)) else ()),
                          ("labels", labels if isinstance(labels, Mapping) else ())):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ExportOptionError(option, f"unknown output(s) {unknown}; the exported "
                                    f"outputs are {sorted(known)}")


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

    from modelspec.export_formats import ExportCheckError, _numpy
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
        references[name] = _numpy(function({k: tf.constant(v) for k, v in batch.items()}))
        actual = _numpy(signature(**{k: tf.constant(v) for k, v in batch.items()}))
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
                tflite_optimize: str = "none", assets: Mapping[str, str] | None = None) -> Path:
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
                                     raw_signature=raw_signature)
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


def export_models(models: Mapping[str, Any], output_dir, *, metadata: Mapping | None = None,
                  preprocessing=None, formats: Sequence[str] = ("savedmodel",), classify=None,
                  labels=None, threshold: float = 0.5, raw_signature: bool = True,
                  samples: Mapping | None = None, tolerance: float = DEFAULT_TOLERANCE,
                  tflite_tolerance: float = TFLITE_TOLERANCE, tflite_optimize: str = "none",
                  assets: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Exports Keras models as new, checked versions under `output_dir`, atomically.

    Args:
        models: Model name → `keras.Model` (dict of named inputs → dict of named outputs).
            One model is written to `output_dir/<N>/`; several to `output_dir/<name>/<N>/`.
        output_dir: The base directory (created if needed).
        metadata: JSON-serialisable facts stored in `assets/modelspec.json` (spec name,
            fingerprint, training metrics, ...); versions and signatures are added.
        preprocessing: Recorded raw-input preprocessing (a `keras.Model` raw dict → input
            dict, or `{input: RawFeature}`); with several models, a dict model name → that.
        formats: Any of `savedmodel`, `keras`, `tflite`.
        classify: None (automatic), True/False, or a list of output names.
        labels: Class names: a list, or a dict output name → list.
        threshold: Decision threshold of sigmoid classifier outputs.
        raw_signature: Add a `serving_raw` signature when preprocessing is given.
        samples: Model name → dict of named input arrays to check with (random otherwise).
        tolerance: Largest allowed abs difference of the reloaded SavedModel / `.keras`.
        tflite_tolerance: The same for TFLite.
        tflite_optimize: `none`, `dynamic` or `float16` TFLite weight quantisation.
        assets: Extra text files (name → text) stored beside the metadata.

    Returns:
        Model name → the published version directory.

    Raises:
        UsageError: No model or an unknown format.
        ExportCheckError: An export did not reproduce its model (nothing is published).
    """
    from modelspec.export_formats import FORMATS
    from modelspec.export_signatures import RawFeature
    if not models:
        raise UsageError("nothing to export: no model was given")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown export format(s) {unknown}; expected some of "
                         f"{', '.join(FORMATS)}")
    import keras
    output = Path(output_dir)
    several = len(models) > 1
    preps = _per_model(preprocessing, models,
                       lambda v: v is None or isinstance(v, (keras.Model, Mapping)))
    if not several and isinstance(preprocessing, Mapping) and \
            any(isinstance(v, RawFeature) for v in preprocessing.values()):
        preps = {name: preprocessing for name in models}
    created = [p for p in [output] + ([output / n for n in models] if several else [])
               if not p.exists()]
    _check_option_names(models, classify, labels)
    options = {name: _options_for(m, classify, labels) for name, m in models.items()}
    stagings: list[Path] = []
    published: list[Path] = []
    try:
        ready = {}
        for name, model in models.items():
            base = output / name if several else output
            staging = export_publish.make_staging_dir(base)
            stagings.append(staging)
            record = dict(metadata or {})
            record.update({"model": name, "exported_models": list(models)})
            ready[name] = (base, stage_model(
                model, staging, metadata=record, preprocessing=preps[name], formats=formats,
                classify=options[name][0], labels=options[name][1],
                threshold=threshold, raw_signature=raw_signature,
                sample=(samples or {}).get(name), tolerance=tolerance,
                tflite_tolerance=tflite_tolerance, tflite_optimize=tflite_optimize,
                assets=assets))
        results = {}
        for name, (base, version_dir) in ready.items():
            results[name] = export_publish.publish(version_dir, base)
            published.append(results[name])
        return results
    except BaseException:
        for path in published:
            export_publish.remove_tree(path)
        for staging in stagings:
            export_publish.remove_tree(staging)
        for path in reversed(created):  # base directories this call created, if left empty
            try:
                path.rmdir()
            except OSError:
                pass
        raise
    finally:
        for staging in stagings:
            export_publish.remove_tree(staging)


def export_model(model, output_dir, **kwargs) -> Path:
    """Exports one model to `output_dir/<N>/`; see `export_models` for the arguments."""
    return export_models({"model": model}, output_dir, **kwargs)["model"]
