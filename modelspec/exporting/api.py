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
`modelspec.exporting.publish`). When several models are exported, all are staged and checked
before any is published; on any failure nothing new remains: no version, no staging directory.

Example:
>>> export_spec_or_run("specs/lenet5.yaml", "exports/lenet5")
{'model': PosixPath('exports/lenet5/1')}
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelspec.data.config import DataConfig
from modelspec.errors import UsageError
from modelspec.exporting import publish as export_publish
from modelspec.exporting.options import ExportOptionError, ExportOptions
from modelspec.exporting.stage import stage_model
from modelspec.lang.spec import CheckedSpec


def _split_preprocessing(preprocessing: Any, models: Mapping[str, Any]) -> dict[str, Any]:
    """Returns model name → its preprocessing (given directly, or as a dict by model name)."""
    from modelspec.exporting.preprocessing import RawFeature
    if isinstance(preprocessing, Mapping) and preprocessing and \
            set(preprocessing) <= set(models) and \
            not any(isinstance(v, RawFeature) for v in preprocessing.values()):
        return {name: preprocessing.get(name) for name in models}
    if preprocessing is not None and len(models) > 1:
        raise UsageError("with several models, give preprocessing as a dict model name → "
                         "preprocessing")
    return {name: preprocessing for name in models}


def export_models(models: Mapping[str, Any], output_dir: str | Path, *,
                  metadata: Mapping[str, Any] | None = None, preprocessing: Any = None,
                  formats: Sequence[str] = ("savedmodel",),
                  samples: Mapping[str, Any] | None = None,
                  raw_samples: Mapping[str, Any] | None = None,
                  assets: Mapping[str, str] | None = None, per_model: bool | None = None,
                  **options: Any) -> dict[str, Path]:
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
        samples: Model name → dict of named input arrays to check with (random otherwise).
        raw_samples: Model name → dict of raw feature arrays to check `serving_raw` with.
        assets: Extra text files (name → text) stored beside the metadata.
        per_model: Use `output_dir/<name>/<N>/` even for one model (None: when several).
        **options: The other `ExportOptions` fields: `classify` (None: automatic, True/False,
            or output names; or a dict model name → one of those), `labels` (a list, or
            output name → list), `threshold`,
            `raw_signature`, `tolerance`, `tflite_tolerance`, `tflite_optimize`, `generate`
            (a `modelspec.decoding.GenerateConfig`: a `generate` signature — greedy decoding,
            each step's output fed back — for every exported model that has its `feed` input).

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
    return publish_models(models, output_dir, ExportOptions(formats=tuple(formats), **options),
                          metadata=metadata, preprocessing=preprocessing, samples=samples,
                          raw_samples=raw_samples, assets=assets, per_model=per_model)


def publish_models(models: Mapping[str, Any], output_dir: str | Path, options: ExportOptions, *,
                   metadata: Mapping[str, Any] | None = None, preprocessing: Any = None,
                   samples: Mapping[str, Any] | None = None,
                   raw_samples: Mapping[str, Any] | None = None,
                   assets: Mapping[str, str] | None = None,
                   per_model: bool | None = None) -> dict[str, Path]:
    """`export_models` with its options built: stages and checks every model, then
    publishes them all; on any failure nothing new remains."""
    if not models:
        raise UsageError("nothing to export: no model was given")
    from modelspec.build.compiler import model_io
    output = Path(output_dir)
    several = len(models) > 1 if per_model is None else per_model
    preps = _split_preprocessing(preprocessing, models)
    created = [p for p in [output] + ([output / n for n in models] if several else [])
               if not p.exists()]
    outputs = {name: model_io(m)[1] for name, m in models.items()}
    options.check_output_names({o for names in outputs.values() for o in names})
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
            model_options = options.for_outputs(outputs[name], name)
            if options.generate is not None and options.generate.feed not in model_io(model)[0]:
                model_options = dataclasses.replace(model_options, generate=None)  # no decoder
            ready[name] = (base, stage_model(
                model, staging, model_options, metadata=record,
                preprocessing=preps[name], sample=(samples or {}).get(name),
                raw_sample=(raw_samples or {}).get(name), assets=assets))
        results = {}
        for name, (base, version_dir) in ready.items():
            results[name] = export_publish.publish(version_dir, base)
            published.append(results[name])
        return results
    except BaseException:
        _remove_created(published, stagings, created)
        raise
    finally:
        for staging in stagings:
            export_publish.remove_tree(staging)


def _remove_created(published: list[Path], stagings: list[Path], created: list[Path]) -> None:
    """Undoes a failed export: its published versions, its staging directories and the base
    directories it created (if left empty)."""
    for path in published:
        export_publish.remove_tree(path)
    for staging in stagings:
        export_publish.remove_tree(staging)
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            pass


def export_model(model: Any, output_dir: str | Path, **kwargs: Any) -> Path:
    """Exports one model to `output_dir/<N>/`; see `export_models` for the arguments."""
    return export_models({"model": model}, output_dir, **kwargs)["model"]


def _resolved_yaml(spec: CheckedSpec) -> str:
    import io

    from ruamel.yaml import YAML
    yaml = YAML()  # round-trip dumper: keeps key order; leaves in flow style
    yaml.default_flow_style = None
    buffer = io.StringIO()
    yaml.dump(json.loads(json.dumps(spec.resolved_document(), default=str)), buffer)
    return f"# {spec.name}: the spec with every $param substituted\n" + buffer.getvalue()


def _spec_facts(spec: CheckedSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """Metadata and asset files describing `spec` (name, fingerprint, text, resolved text)."""
    facts = {"spec": {"name": spec.name, "fingerprint": spec.fingerprint,
                      "file": str(spec.path) if spec.path is not None else None}}
    assets = {"spec.resolved.yaml": _resolved_yaml(spec)}
    if spec.loaded.text:
        assets["spec.yaml"] = spec.loaded.text
    return facts, assets


@dataclass
class DataSamples:
    """What the data pipeline gives an export: preprocessing and real examples to check on."""

    preprocessing: Any = None
    inputs: dict[str, Any] | None = None  # a few examples of the model's inputs
    raw: dict[str, Any] | None = None  # the same number of raw examples (serving_raw's inputs)


SAMPLE_SIZE = 4


def _first_examples(dataset: Any, count: int) -> dict[str, Any] | None:
    import numpy as np
    if dataset is None:
        return None
    element = next(iter(dataset.take(1)), None)
    if element is None:
        return None
    features = element[0] if isinstance(element, tuple) else element
    return {k: np.asarray(v)[:count] for k, v in features.items()}


def data_samples(spec: CheckedSpec, built: Mapping[str, Any], names: Sequence[str],
                 required: bool) -> DataSamples:
    """The data pipeline's serving-time preprocessing and examples for a `model:` spec.

    When `required` (the spec says `raw_signature: true`) a failure to build the data
    pipeline is raised; otherwise the export goes on without `serving_raw`, with a warning.
    """
    if "data" not in spec.raw or spec.is_multi_model or list(names) != ["model"]:
        if required:
            raise UsageError("export.raw_signature: true needs a `model:` spec with a `data:` "
                             "section (or preprocessing given from Python)")
        return DataSamples()
    from modelspec.build.compiler import model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.errors import ModelspecError
    try:
        # one split only: the transforms are adapted on the training split whatever is asked,
        # and counting every split (word2vec's skip-gram pairs) took minutes
        configured = list(DataConfig.from_spec(spec).splits or ())
        first = next((s for s in ("test", "validation", "train") if s in configured), "train")
        bundle = build_datasets(spec, *model_io(built["model"]), splits=(first,))
    except ModelspecError as err:
        if required:
            raise
        import warnings
        warnings.warn(f"no serving_raw signature: the data pipeline could not be built "
                      f"({str(err).splitlines()[0]})", stacklevel=2)
        return DataSamples()
    split = bundle.test or bundle.validation or bundle.train
    raw = None
    if bundle.raw_train is not None:
        raw = _first_examples(bundle.raw_train.batch(SAMPLE_SIZE), SAMPLE_SIZE)
    return DataSamples(bundle.preprocessing, _first_examples(split, SAMPLE_SIZE), raw)


def export_spec_or_run(spec_or_run: str | Path, output: str | Path | None = None, *,
                       formats: Sequence[str] | None = None,
                       models: Sequence[str] | None = None, weights: str | None = None,
                       preprocessing: Any = "auto", overrides: Mapping[str, Any] | None = None,
                       **kwargs: Any) -> dict[str, Path]:
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
        overrides: Values for the spec's `params` (a spec file only; a run keeps its own).
        **kwargs: `samples`, `raw_samples` and the other `ExportOptions` fields
            (`tolerance`, ...).

    Returns:
        Model name → published version directory.

    Raises:
        SpecError: The spec is invalid or its `export:` options do not fit the model.
        UsageError: The path is neither a spec nor a run, or no output directory is known.

    Example:
    >>> export_spec_or_run("runs/lenet5", "exported/lenet5", formats=["savedmodel", "tflite"])
    {'model': PosixPath('exported/lenet5/1')}
    """
    from modelspec.decoding import GenerateConfig
    from modelspec.exporting.schema import exported_models
    from modelspec.targets import open_target
    source = Path(spec_or_run)
    if overrides and source.is_dir():
        raise UsageError(f"{source}: parameters apply to a spec file; a run keeps the "
                         "parameters it was trained with")
    target = open_target(source, which=weights or _run_export_weights(source) or "final",
                         params=dict(overrides or {}))
    spec = target.spec
    section = spec.section("export") or {}
    default_names = exported_models(spec)
    names = list(models or default_names)
    unknown = [n for n in names if n not in target.models]
    if unknown:
        raise UsageError(f"unknown model(s) {unknown}; the spec has {sorted(target.models)}")
    output = _output_directory(output, spec, section)
    if isinstance(preprocessing, str) and preprocessing == "auto":
        preprocessing = _recorded_preprocessing(spec, target.models, names, section, kwargs)
    facts, assets = _spec_facts(spec)
    facts["source"] = {"kind": "run" if target.trained else "spec", "path": str(source)}
    if target.trained:
        facts["metrics"] = target.metrics
    samples = kwargs.pop("samples", None)
    raw_samples = kwargs.pop("raw_samples", None)
    if section.get("classify") is None and "classify" not in kwargs:
        kwargs["classify"] = _automatic_classify(spec, names)
    kwargs.setdefault("generate", GenerateConfig.from_section(section.get("generate")))
    with _export_errors_at(spec, section):
        options = ExportOptions.from_section(section, formats=formats, **kwargs)
        return publish_models({n: target.models[n] for n in names}, output, options,
                              metadata=facts, preprocessing=preprocessing, samples=samples,
                              raw_samples=raw_samples, assets=assets,
                              per_model=len(default_names) > 1)


def _output_directory(output: str | Path | None, spec: CheckedSpec,
                      section: Mapping[str, Any]) -> str | Path:
    """The base output directory: `output`, else `export.directory` (relative to the spec)."""
    if output is not None:
        return output
    if not section.get("directory"):
        raise UsageError("no output directory: give --output DIR or set export.directory "
                         "in the spec")
    return spec.base_dir / section["directory"]


def _recorded_preprocessing(spec: CheckedSpec, models: Mapping[str, Any],
                            names: Sequence[str], section: Mapping[str, Any],
                            kwargs: dict[str, Any]) -> Any:
    """The preprocessing the data pipeline records (for `serving_raw`; None without one);
    its example batches become the default `samples` / `raw_samples` in `kwargs`."""
    raw_signature = section.get("raw_signature")
    data = DataSamples() if raw_signature is False else \
        data_samples(spec, models, names, required=bool(raw_signature))
    if data.inputs is not None:
        kwargs.setdefault("samples", {names[0]: data.inputs})
    if data.raw is not None:
        kwargs.setdefault("raw_samples", {names[0]: data.raw})
    return data.preprocessing


def _automatic_classify(spec: CheckedSpec, names: Sequence[str]) -> dict[str, Any]:
    """`classify` per model when the spec leaves it out: automatic, except for the models of
    a `models:` spec that no data feature feeds (a decoder, a generator: their sigmoid outputs
    are pictures, not class probabilities)."""
    data = DataConfig.from_spec(spec) if spec.section("data") is not None else None
    result: dict[str, Any] = {}
    for name in names:
        graph = spec.graphs.get(name)
        fed = graph is None or not spec.is_multi_model or data is None or \
            "features" not in data.given or bool(set(data.features) & set(graph.inputs))
        result[name] = None if fed else False
    return result


def _run_export_weights(source: Path) -> str | None:
    """A run's `export.weights` (from its resolved spec), None for anything else."""
    resolved = source / "resolved.json"
    if not resolved.is_file():
        return None
    document = json.loads(resolved.read_text(encoding="utf-8"))
    weights = (document.get("export") or {}).get("weights")
    return str(weights) if weights else None


@contextlib.contextmanager
def _export_errors_at(spec: CheckedSpec, section: Mapping[str, Any]) -> Iterator[None]:
    """Reports an `ExportOptionError` at the spec's `export:` option it comes from (a
    `SpecError`), or as a usage error when the option was given from Python."""
    try:
        yield
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
