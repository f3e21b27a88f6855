"""`modelspec export` (publish a spec or a run as a new SavedModel version) and `modelspec
predict` (run an export, a run or a spec on request files; `modelspec.exporting.predict`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from modelspec.cli.util import OutputPath, data_dir_option, handle_errors
from modelspec.errors import UsageError
from modelspec.exporting.options import FORMATS
from modelspec.tfenv import quiet_tensorflow


def parse_formats(text: str | None) -> list[str] | None:
    """Parses `--format savedmodel,keras` into a list (None when not given).

    Raises:
        UsageError: For an unknown format name.
    """
    if not text:
        return None
    from modelspec.errors import did_you_mean
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    for name in formats:
        if name not in FORMATS:
            hint = did_you_mean(name, FORMATS)
            raise UsageError(f"--format: unknown format '{name}' — expected some of "
                             f"{', '.join(FORMATS)}"
                             + (f" (did you mean '{hint}'?)" if hint else ""))
    return list(dict.fromkeys(formats))


def describe_export(version_dir: Path) -> str:
    """One line per signature of a published version, read from its metadata."""
    from modelspec.exporting.stage import METADATA_FILE
    for candidate in (version_dir / "assets" / METADATA_FILE, version_dir / METADATA_FILE):
        if candidate.exists():
            meta = json.loads(candidate.read_text(encoding="utf-8"))
            break
    else:
        return ""
    lines = []
    for name, sig in meta.get("signatures", {}).items():
        ins = ", ".join(f"{k}{v['shape'][1:]}:{v['dtype']}" for k, v in sig["inputs"].items())
        outs = ", ".join(f"{k}{v['shape'][1:]}:{v['dtype']}"
                         for k, v in sig["outputs"].items())
        lines.append(f"  {name}: ({ins}) -> ({outs})")
    files = [f for k, f in meta.get("files", {}).items() if k != "savedmodel"]
    if files:
        lines.append(f"  files: {', '.join(files)}")
    return "\n".join(lines)


@click.command("export")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--output", "-o", type=OutputPath(file_okay=False, path_type=Path),
              help="Base directory; versions go to DIR/<N>/ (DIR/<model>/<N>/ for several "
                   "models). Default: the spec's export.directory.")
@click.option("--format", "formats", metavar="LIST",
              help="Comma-separated formats: savedmodel,keras,tflite (default: the spec's "
                   "export.formats, else savedmodel).")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Export this model of a `models:` spec (repeatable; default: "
                   "export.models).")
@click.option("--weights", type=click.Choice(["final", "best", "latest"]),
              help="For a run directory: which weights (default: export.weights, else final).")
@click.option("--json", "as_json", is_flag=True,
              help="Print {model: version directory} as JSON.")
@data_dir_option
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a spec parameter (specs only), e.g. -p small=true.")
@handle_errors
def export_command(source: Path, output: Path | None, formats: str | None,
                   models: tuple[str, ...], weights: str | None, as_json: bool,
                   params: tuple[str, ...]) -> None:
    """Export a spec or a training run as a versioned SavedModel for TensorFlow Serving.

    \b
    Each export becomes a new version DIR/<N>/ (N = highest + 1; existing versions are
    never touched). It is written to DIR/.tmp-export-*, reloaded, checked against the
    in-memory model (max abs difference <= 1e-5) and only then renamed into place.
    Signatures: serving_default (the spec's input/output names), classify (classifiers),
    serving_raw (raw features through the data preprocessing).

    \b
    Examples:
      modelspec export specs/lenet5.yaml --output exported/lenet5
      modelspec export runs/lenet5 --output exported/lenet5 --format savedmodel,tflite
      saved_model_cli show --dir exported/lenet5/1 --all
    """
    from modelspec.cli.params import parse_param_overrides
    overrides = parse_param_overrides(params) or None  # usage mistakes before TensorFlow
    chosen = parse_formats(formats)
    quiet_tensorflow()
    from modelspec.exporting.api import export_spec_or_run
    result = export_spec_or_run(source, output, formats=chosen, models=list(models) or None,
                                weights=weights, overrides=overrides)
    if as_json:
        click.echo(json.dumps({name: str(path) for name, path in result.items()}, indent=2))
        return
    for name, path in result.items():
        click.echo(f"exported {name} -> {path}")
        details = describe_export(path)
        if details:
            click.echo(details)


@click.command("predict")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--input", "-i", "inputs", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Request file: .json (TF Serving 'instances' or 'inputs'), .csv, .npy, "
                   ".npz, or images (repeat --input for a batch).")
@click.option("--signature", "-s", help="Signature to call (default: the request's "
                                        "signature_name; for images serving_raw when there "
                                        "is one; else serving_default).")
@click.option("--model", "-m", help="The model, when the target holds several.")
@click.option("--rescale", type=float, default=1.0, show_default=True,
              help="Multiply decoded image pixels by this (e.g. 0.00392156862745098 = 1/255).")
@click.option("--output", "-o", type=OutputPath(dir_okay=False, path_type=Path),
              help="Write the JSON answer to this file instead of standard output.")
@click.option("--pretty", is_flag=True, help="Indent the JSON answer.")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a spec parameter (a spec file only), e.g. -p small=true.")
@handle_errors
def predict_command(target: Path, inputs: tuple[Path, ...], signature: str | None,
                    model: str | None, rescale: float, output: Path | None, pretty: bool,
                    params: tuple[str, ...]) -> None:
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
    from modelspec.cli.params import parse_param_overrides
    overrides = parse_param_overrides(params) or None  # a usage mistake before TensorFlow
    quiet_tensorflow()
    from modelspec.exporting.predict import predict_files
    answer = predict_files(target, inputs, signature=signature, model=model, rescale=rescale,
                           overrides=overrides)
    text = json.dumps(answer, indent=2 if pretty else None)
    if output:
        from modelspec.training.rundir import atomic_write_text
        atomic_write_text(Path(output), text + "\n")
    else:
        click.echo(text)
