"""`modelspec compare RUN RUN...`: a click command around `modelspec.compare.runs`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from modelspec.cli.util import handle_errors

COMPARE_HELP = """Compares training runs: metrics, parameters, epochs, time, spec changes.

\b
Prints one table of the runs' final metrics (metrics.json), parameter counts, epochs and
wall times, then the spec values that differ between them (e.g. params.width), and draws
their learning curves overlaid in one PNG (training solid, validation dashed).

\b
Examples:
  modelspec compare runs/mlp_classifier runs/mlp_wide
  modelspec compare runs/a runs/b runs/c --plot comparison.png --json
"""


@click.command("compare", help=COMPARE_HELP)
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), default="compare.png",
              show_default=True, help="Where the overlaid learning curves go.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@handle_errors
def compare_command(runs: tuple[str, ...], plot: str, as_json: bool) -> None:
    from modelspec.compare.runs import (
        comparison_table,
        load_summary,
        plot_overlaid_curves,
        spec_differences,
        unique_labels,
    )
    from modelspec.errors import UsageError

    if len(runs) < 2:
        raise UsageError("compare needs at least two run directories")
    paths = [Path(r) for r in runs]
    summaries = [load_summary(p, label) for p, label in zip(paths, unique_labels(paths),
                                                            strict=True)]
    picture = plot_overlaid_curves(summaries, Path(plot))
    if as_json:
        click.echo(json.dumps({"runs": [{"run": str(s.path), "label": s.label, "spec": s.name,
                                         "epochs": s.epochs, "parameters": s.parameters,
                                         "seconds": s.seconds, "metrics": s.metrics}
                                        for s in summaries],
                               "differences": spec_differences(summaries),
                               "plot": str(picture) if picture else None},
                              indent=2, default=str))
        return
    click.echo(comparison_table(summaries))
    if picture is not None:
        click.echo(f"\nlearning curves: {picture}")
