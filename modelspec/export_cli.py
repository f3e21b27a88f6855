"""`modelspec export`: publish a spec or a training run as a new SavedModel version."""

from __future__ import annotations

import json
from pathlib import Path

import click

from modelspec.cli_util import OutputPath, handle_errors, quiet_tensorflow
from modelspec.errors import UsageError

FORMAT_NAMES = ("savedmodel", "keras", "tflite")


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
        if name not in FORMAT_NAMES:
            hint = did_you_mean(name, FORMAT_NAMES)
            raise UsageError(f"--format: unknown format '{name}' — expected some of "
                             f"{', '.join(FORMAT_NAMES)}"
                             + (f" (did you mean '{hint}'?)" if hint else ""))
    return list(dict.fromkeys(formats))


def describe_export(version_dir: Path) -> str:
    """One line per signature of a published version, read from its metadata."""
    from modelspec.export_stage import METADATA_FILE
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
@handle_errors
def export_command(source, output, formats, models, weights, as_json):
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
    quiet_tensorflow()
    from modelspec.export import export_spec_or_run
    result = export_spec_or_run(source, output, formats=parse_formats(formats),
                                models=list(models) or None, weights=weights)
    if as_json:
        click.echo(json.dumps({name: str(path) for name, path in result.items()}, indent=2))
        return
    for name, path in result.items():
        click.echo(f"exported {name} -> {path}")
        details = describe_export(path)
        if details:
            click.echo(details)
