"""`modelspec predict`: run an export (or a run, or a spec) on input files, print JSON.

The target may be a version directory (`exported/lenet5/3`), a base directory (its highest
version is used), a base with one directory per model (`--model` picks one), a training run
directory (its trained Keras models, in memory) or a spec file (initial weights). Inputs and
answers use TensorFlow Serving's REST formats (`modelspec.export_payload`), so

    modelspec predict exported/lenet5 --input request.json

prints what `POST /v1/models/lenet5:predict` with the same body would return.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping

import click
import numpy as np

from modelspec.cli_util import OutputPath, handle_errors, quiet_tensorflow
from modelspec.errors import UsageError
from modelspec.export_payload import InputSpec, format_response, read_payload


class Predictor:
    """Signatures of an export (or of in-memory models) callable on NumPy batches.

    Args:
        signatures: Signature name → (input specs, function of a dict of arrays).
        origin: What was loaded, for messages.
    """

    def __init__(self, signatures: Mapping[str, tuple[dict, Callable]], origin: str):
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


def _input_specs(specs: Mapping) -> dict[str, InputSpec]:
    return {name: InputSpec(tuple(spec.shape.as_list()[1:]),
                            "string" if spec.dtype.name == "string" else spec.dtype.name)
            for name, spec in specs.items()}


def _from_savedmodel(version_dir: Path) -> Predictor:
    import tensorflow as tf
    loaded = tf.saved_model.load(str(version_dir))
    signatures = {}
    for name, function in loaded.signatures.items():
        def call(batch, function=function):
            return {k: v.numpy() for k, v in function(
                **{n: tf.constant(a) for n, a in batch.items()}).items()}
        signatures[name] = (_input_specs(function.structured_input_signature[1]), call)
    return Predictor(signatures, str(version_dir))


def _from_models(models: Mapping, model: str | None, origin: str, spec,
                 raw: bool = False) -> Predictor:
    import tensorflow as tf

    from modelspec.export import _data_preprocessing, options_for
    from modelspec.export_signatures import build_endpoints
    name = _pick(list(models), model, origin)
    section = spec.section("export") or {}
    classify, labels = options_for(models[name], section.get("classify"),
                                   section.get("labels"))
    # serving_raw needs the data pipeline (adapted on the training split): only on request
    prep = _data_preprocessing(spec, models, [name], required=True) if raw else None
    endpoints = build_endpoints(models[name], classify=classify, labels=labels,
                                threshold=section.get("threshold", 0.5), preprocessing=prep)
    signatures = {}
    for sig, function in endpoints.functions.items():
        def call(batch, function=function):
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


def open_target(target, model: str | None = None, raw: bool = False) -> Predictor:
    """Opens what `modelspec predict` runs: an export, a run directory or a spec file.

    Args:
        target: A version directory, a base directory of versions (highest is used), a base
            with one subdirectory per model, a run directory, or a spec file.
        model: The model to use when the target holds several.
        raw: For a run or spec: also build `serving_raw` from the spec's data pipeline.

    Raises:
        UsageError: The target is none of these, or `model` is needed / unknown.
    """
    from modelspec.export_publish import latest_version_dir
    path = Path(target)
    if path.is_file():
        import modelspec
        from modelspec.compiler import build_from_spec
        spec = modelspec.load_spec(path)
        built = build_from_spec(spec)
        return _from_models(built if isinstance(built, dict) else {"model": built}, model,
                            str(path), spec, raw)
    if not path.is_dir():
        raise UsageError(f"{path}: no such export, run directory or spec file")
    if (path / "saved_model.pb").exists():
        return _from_savedmodel(path)
    from modelspec.training.rundir import find_run_dir
    if find_run_dir(path) is not None:
        from modelspec.training.rundir import load_run
        spec, models, _ = load_run(path)
        return _from_models(models, model, str(path), spec, raw)
    latest = latest_version_dir(path)
    if latest is None:
        per_model = sorted(p.name for p in path.iterdir()
                           if p.is_dir() and latest_version_dir(p) is not None)
        if not per_model:
            raise UsageError(f"{path}: holds no SavedModel version (no <N>/saved_model.pb), "
                             "no run and no per-model export directories")
        latest = latest_version_dir(path / _pick(per_model, model, str(path)))
    if not (latest / "saved_model.pb").exists():
        raise UsageError(f"{latest}: the latest version holds no SavedModel "
                         "(export with --format savedmodel to predict from it)")
    return _from_savedmodel(latest)


def predict_files(target, inputs, *, signature: str | None = None, model: str | None = None,
                  rescale: float = 1.0) -> dict:
    """Runs a target on input files and returns TF Serving's JSON answer (a dict).

    Args:
        target: See `open_target`.
        inputs: Input file paths (JSON/CSV/.npy/.npz, or several images).
        signature: The signature; default: the request's `signature_name`, else
            `serving_default`.
        model: The model when the target holds several.
        rescale: Factor applied to decoded image pixels.

    Example:
    >>> predict_files("exported/lenet5", ["digit.png"], rescale=1 / 255)
    {'predictions': [[0.01, ...]]}
    """
    requested = _requested_signature(inputs)
    if signature and requested and signature != requested:
        raise UsageError(f"the request names signature '{requested}' but --signature is "
                         f"'{signature}'")
    chosen = signature or requested or "serving_default"
    predictor = open_target(target, model, raw=chosen == "serving_raw")
    payload = read_payload(inputs, predictor.inputs(chosen), rescale)
    return format_response(predictor(chosen, payload.batch), payload.style)


def _requested_signature(inputs) -> str | None:
    """The `signature_name` of a JSON request, if any (read before parsing the values)."""
    if len(inputs) != 1 or Path(inputs[0]).suffix.lower() != ".json":
        return None
    try:
        document = json.loads(Path(inputs[0]).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # read_payload reports it with its position
    return document.get("signature_name") if isinstance(document, dict) else None


@click.command("predict")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--input", "-i", "inputs", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Request file: .json (TF Serving 'instances' or 'inputs'), .csv, .npy, "
                   ".npz, or images (repeat --input for a batch).")
@click.option("--signature", "-s", help="Signature to call (default: the request's "
                                        "signature_name, else serving_default).")
@click.option("--model", "-m", help="The model, when the target holds several.")
@click.option("--rescale", type=float, default=1.0, show_default=True,
              help="Multiply decoded image pixels by this (e.g. 0.00392156862745098 = 1/255).")
@click.option("--output", "-o", type=OutputPath(dir_okay=False, path_type=Path),
              help="Write the JSON answer to this file instead of standard output.")
@click.option("--pretty", is_flag=True, help="Indent the JSON answer.")
@handle_errors
def predict_command(target, inputs, signature, model, rescale, output, pretty):
    """Predict with an export, a run or a spec on JSON/CSV/.npy/image input.

    \b
    Requests and answers use TensorFlow Serving's REST formats:
      {"instances": [{"image": [...]}, ...]}  ->  {"predictions": [...]}
      {"inputs": {"image": [[...]]}}          ->  {"outputs": ...}

    \b
    Examples:
      modelspec predict exported/lenet5 --input request.json
      modelspec predict exported/lenet5 -s classify -i a.png -i b.png --rescale 0.0039215686
      modelspec predict runs/lenet5 --input rows.csv
    """
    quiet_tensorflow()
    answer = predict_files(target, inputs, signature=signature, model=model, rescale=rescale)
    text = json.dumps(answer, indent=2 if pretty else None)
    if output:
        from modelspec.training.rundir import atomic_write_text
        atomic_write_text(Path(output), text + "\n")
    else:
        click.echo(text)
