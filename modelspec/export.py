"""Versioned, atomic SavedModel publishing for TensorFlow Serving.

Layout (what TensorFlow Serving's `--model_base_path` points at):

```
OUTPUT/                      one exported model
  1/  2/  ...                versions; each a SavedModel (+ model.keras, model.tflite)
    saved_model.pb  variables/  fingerprint.pb
    assets/modelspec.json    metadata: spec name + fingerprint, metrics, versions, signatures
    assets/spec.yaml         the spec as written; assets/spec.resolved.yaml with $params filled
OUTPUT/<model>/<N>/          a spec exporting several models (`export.models: [encoder,
                             decoder]`): one base path per model, each versioned on its own
                             (also when `--model` picks one of them)
```
A `model:` spec, or a GAN (whose default export is its generator), uses `OUTPUT/<N>/`.

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

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from modelspec import export_publish
from modelspec.errors import UsageError
from modelspec.export_stage import DEFAULT_TOLERANCE, TFLITE_TOLERANCE, stage_model


def _split_preprocessing(preprocessing, models: Mapping) -> dict[str, Any]:
    """Returns model name → its preprocessing (given directly, or as a dict by model name)."""
    from modelspec.export_preprocessing import RawFeature
    if isinstance(preprocessing, Mapping) and preprocessing and \
            set(preprocessing) <= set(models) and \
            not any(isinstance(v, RawFeature) for v in preprocessing.values()):
        return {name: preprocessing.get(name) for name in models}
    if preprocessing is not None and len(models) > 1:
        raise UsageError("with several models, give preprocessing as a dict model name → "
                         "preprocessing")
    return {name: preprocessing for name in models}


def options_for(model, classify, labels) -> tuple[Any, Any]:
    """Keeps the parts of `classify` (outputs list) / `labels` (dict) naming `model`'s outputs."""
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


def export_models(models: Mapping[str, Any], output_dir, *, metadata: Mapping | None = None,
                  preprocessing=None, formats: Sequence[str] = ("savedmodel",), classify=None,
                  labels=None, threshold: float = 0.5, raw_signature: bool = True,
                  samples: Mapping | None = None, tolerance: float = DEFAULT_TOLERANCE,
                  tflite_tolerance: float = TFLITE_TOLERANCE, tflite_optimize: str = "none",
                  assets: Mapping[str, str] | None = None,
                  per_model: bool | None = None, generate=None) -> dict[str, Path]:
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
        per_model: Use `output_dir/<name>/<N>/` even for one model (None: when several).
        generate: A `modelspec.decoding.GenerateConfig`: a `generate` signature (greedy
            decoding, each step's output fed back) for every exported model that has its
            `feed` input.

    Returns:
        Model name → the published version directory.

    Raises:
        UsageError: No model or an unknown format.
        ExportCheckError: An export did not reproduce its model (nothing is published).

    Example:
    >>> export_models({"encoder": encoder, "decoder": decoder}, "exported/ae",
    ...               metadata={"metrics": {"loss": 0.02}}, formats=["savedmodel", "keras"])
    {'encoder': PosixPath('exported/ae/encoder/1'), 'decoder': PosixPath('exported/ae/decoder/1')}
    """
    from modelspec.export_formats import FORMATS
    if not models:
        raise UsageError("nothing to export: no model was given")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown export format(s) {unknown}; expected some of "
                         f"{', '.join(FORMATS)}")
    output = Path(output_dir)
    several = len(models) > 1 if per_model is None else per_model
    preps = _split_preprocessing(preprocessing, models)
    created = [p for p in [output] + ([output / n for n in models] if several else [])
               if not p.exists()]
    _check_option_names(models, classify, labels)
    options = {name: options_for(m, classify, labels) for name, m in models.items()}
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
                assets=assets, generate=_generate_for(model, generate)))
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


def _generate_for(model, generate):
    """`generate` when `model` has its feed input (a decoder), else None."""
    from modelspec.export_signatures import model_io
    return generate if generate is not None and generate.feed in model_io(model)[0] else None


def export_model(model, output_dir, **kwargs) -> Path:
    """Exports one model to `output_dir/<N>/`; see `export_models` for the arguments."""
    return export_models({"model": model}, output_dir, **kwargs)["model"]


def _resolved_yaml(spec) -> str:
    import io

    from ruamel.yaml import YAML
    yaml = YAML()  # round-trip dumper: keeps key order; leaves in flow style
    yaml.default_flow_style = None
    buffer = io.StringIO()
    yaml.dump(json.loads(json.dumps(spec.resolved_document(), default=str)), buffer)
    return f"# {spec.name}: the spec with every $param substituted\n" + buffer.getvalue()


def _spec_facts(spec) -> tuple[dict, dict[str, str]]:
    """Metadata and asset files describing `spec` (name, fingerprint, text, resolved text)."""
    facts = {"spec": {"name": spec.name, "fingerprint": spec.fingerprint,
                      "file": str(spec.path) if spec.path is not None else None}}
    assets = {"spec.resolved.yaml": _resolved_yaml(spec)}
    if spec.loaded.text:
        assets["spec.yaml"] = spec.loaded.text
    return facts, assets


def _data_preprocessing(spec, built: Mapping, names: Sequence[str], required: bool):
    """The data pipeline's serving-time preprocessing for a `model:` spec, or None.

    When `required` (the spec says `raw_signature: true`) a failure to build the data
    pipeline is raised; otherwise the export goes on without `serving_raw`, with a warning.
    """
    if "data" not in spec.raw or spec.is_multi_model or list(names) != ["model"]:
        if required:
            raise UsageError("export.raw_signature: true needs a `model:` spec with a `data:` "
                             "section (or preprocessing given from Python)")
        return None
    from modelspec.data.pipeline import build_datasets
    from modelspec.errors import ModelspecError
    from modelspec.export_signatures import model_io
    try:
        # splits=(): the transforms adapted on the training split, no dataset counted
        # (counting word2vec's skip-gram pairs alone took 2 minutes)
        return build_datasets(spec, *model_io(built["model"]), splits=()).preprocessing
    except ModelspecError as err:
        if required:
            raise
        import warnings
        warnings.warn(f"no serving_raw signature: the data pipeline could not be built "
                      f"({str(err).splitlines()[0]})", stacklevel=2)
        return None


def export_spec_or_run(spec_or_run, output=None, *, formats: Sequence[str] | None = None,
                       models: Sequence[str] | None = None, weights: str | None = None,
                       preprocessing="auto", **kwargs) -> dict[str, Path]:
    """Exports a spec (its initial weights) or a training run (its trained weights).

    Options come from the spec's `export:` section; arguments given here override them.

    Args:
        spec_or_run: A spec file, or a run directory written by `modelspec train` (it holds
            `state.json`).
        output: The base output directory; defaults to `export.directory` (relative to the
            spec).
        formats: Formats to write (default `export.formats`, else `["savedmodel"]`).
        models: Names of the models to export (default `export.models`, else all; a GAN's
            generator).
        weights: For a run: `final`, `best` or `latest` (default `export.weights` / final).
        preprocessing: Raw-input preprocessing for `serving_raw` (see `export_models`);
            `"auto"` rebuilds the one the data pipeline records (`modelspec.data`, adapted on
            the training split as in training) for a `model:` spec with a `data:` section;
            None for no `serving_raw`.
        **kwargs: Further `export_models` arguments (`samples`, `tolerance`, ...).

    Returns:
        Model name → published version directory.

    Raises:
        SpecError: The spec is invalid or its `export:` options do not fit the model.
        UsageError: The path is neither a spec nor a run, or no output directory is known.

    Example:
    >>> export_spec_or_run("runs/lenet5", "exported/lenet5", formats=["savedmodel", "tflite"])
    {'model': PosixPath('exported/lenet5/1')}
    """
    import modelspec
    from modelspec.decoding import GenerateConfig
    from modelspec.export_schema import exported_models
    from modelspec.export_signatures import ExportOptionError
    from modelspec.training.rundir import find_run_dir, load_run
    source = Path(spec_or_run)
    metrics = None
    if source.is_dir():
        if find_run_dir(source) is None:
            raise UsageError(f"{source}: a directory but not a run directory (no state.json); "
                             "give a spec file or a run written by `modelspec train`")
        if weights is None:  # the run's resolved spec says which weights to export
            resolved = source / "resolved.json"
            document = json.loads(resolved.read_text(encoding="utf-8")) \
                if resolved.exists() else {}
            weights = (document.get("export") or {}).get("weights")
        spec, built, metrics = load_run(source, weights or "final")
    elif source.is_file():
        from modelspec.compiler import build_from_spec
        spec = modelspec.load_spec(source)
        built = build_from_spec(spec)
        built = built if isinstance(built, dict) else {"model": built}
    else:
        raise UsageError(f"{source}: no such spec file or run directory")
    section = spec.section("export") or {}
    default_names = exported_models(spec)
    names = list(models or default_names)
    unknown = [n for n in names if n not in built]
    if unknown:
        raise UsageError(f"unknown model(s) {unknown}; the spec has {sorted(built)}")
    if output is None:
        if not section.get("directory"):
            raise UsageError("no output directory: give --output DIR or set export.directory "
                             "in the spec")
        output = spec.base_dir / section["directory"]
    raw_signature = section.get("raw_signature")
    if isinstance(preprocessing, str) and preprocessing == "auto":
        preprocessing = None if raw_signature is False else \
            _data_preprocessing(spec, built, names, required=bool(raw_signature))
    facts, assets = _spec_facts(spec)
    facts["source"] = {"kind": "run" if source.is_dir() else "spec", "path": str(source)}
    if metrics is not None:
        facts["metrics"] = metrics
    tflite = section.get("tflite") or {}
    options = {"classify": section.get("classify"), "labels": section.get("labels"),
               "threshold": section.get("threshold", 0.5),
               "raw_signature": raw_signature is not False,
               "tolerance": section.get("tolerance", DEFAULT_TOLERANCE),
               "tflite_tolerance": tflite.get("tolerance", TFLITE_TOLERANCE),
               "tflite_optimize": tflite.get("optimize", "none"),
               "generate": GenerateConfig.from_section(section.get("generate"))}
    options.update(kwargs)
    try:
        return export_models({n: built[n] for n in names}, output, metadata=facts,
                             preprocessing=preprocessing,
                             formats=list(formats or section.get("formats") or ["savedmodel"]),
                             assets=assets, per_model=len(default_names) > 1, **options)
    except ExportOptionError as err:
        if err.option in section:
            errs = spec.errors()
            errs.add(("export", err.option), str(err),
                     expected=_EXPECTED.get(err.option))
            errs.raise_if_any()
        raise UsageError(f"{err.option}: {err}") from err


_EXPECTED = {"classify": "output names of the exported models",
             "generate": "a token input (shape [length]) and an output of the model",
             "labels": "one name per class of a classifier output",
             "preprocessing": "preprocessing that produces the model's inputs"}
