"""`modelspec tune SPEC`: hyperparameter search over the spec's params with KerasTuner.

Exit codes as everywhere: 0 ok, 2 invalid spec or usage, 1 internal error.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from modelspec.cli.util import handle_errors
from modelspec.errors import UsageError
from modelspec.tfenv import quiet_tensorflow

TUNE_HELP = """Searches the spec's params with KerasTuner and writes the best spec.

\b
The spec's `tune:` section names the search space over `params` (KerasTuner's Choice, Int,
Float, Boolean), the objective (a metric the loop logs), the algorithm (random, hyperband,
bayesian) and the budget. Every trial is an ordinary modelspec training run in
OUT/trials/<id>/; the spec as written is trained too (OUT/baseline/). At the end: a
leaderboard, OUT/tune.json and OUT/best.yaml (the spec with the winning params). Running the
same command again after a kill resumes the search (KerasTuner's project in OUT/keras_tuner/).

\b
--workers N starts a chief and N workers on 127.0.0.1 (KerasTuner's distributed mode). On a
cluster, run `modelspec tune SPEC -o SHARED_DIR` on every machine with
KERASTUNER_TUNER_ID (chief, tuner0, tuner1, ...), KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT (the chief's address) set; OUT must be a shared directory.

\b
Examples:
  modelspec tune specs/mlp_classifier.yaml
  modelspec tune specs/mlp_classifier.yaml --max-trials 4 --epochs 5 -o runs/mlp-tune
  modelspec tune specs/mlp_classifier.yaml --workers 2
  modelspec train runs/mlp_classifier-tune/best.yaml
"""


def default_output(name: str) -> Path:
    """`runs/<spec name>-tune` in the current directory."""
    return Path("runs") / f"{name}-tune"


@click.command("tune", help=TUNE_HELP)
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(file_okay=False),
              help="Search directory (default runs/<spec name>-tune/).")
@click.option("--max-trials", type=click.IntRange(min=1), help="Overrides tune.max_trials.")
@click.option("--epochs", type=click.IntRange(min=1), help="Overrides tune.epochs.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Start a chief and N worker processes on 127.0.0.1.")
@click.option("--restart", is_flag=True, help="Discard an earlier search in OUT.")
@handle_errors
def tune_command(spec: str, output: str | None, max_trials: int | None, epochs: int | None,
                 workers: int | None, restart: bool) -> None:
    quiet_tensorflow()
    from modelspec.lang.checks import load_and_check
    from modelspec.tune.config import tune_config

    checked = load_and_check(spec)
    if "tune" not in checked.raw:
        raise UsageError(f"{spec}: the spec has no 'tune:' section; add one, e.g. tune: "
                         "{objective: val_accuracy, params: {width: {type: Choice, values: "
                         "[32, 64, 128]}}}")
    config = tune_config(checked)
    if max_trials:
        config = dataclasses.replace(config, max_trials=max_trials)
    if epochs:
        config = dataclasses.replace(config, epochs=epochs)
    out = Path(output) if output else default_output(checked.name)
    if restart and "KERASTUNER_TUNER_ID" not in os.environ:
        shutil.rmtree(out, ignore_errors=True)
    if workers:
        code = launch_local_search(spec, workers, out, max_trials, epochs)
        if code:
            sys.exit(code)
        return
    from modelspec.tune.run import tune
    tune(checked.loaded, config, out, str(spec))


def launch_local_search(spec: str, workers: int, output: Path, max_trials: int | None,
                        epochs: int | None) -> int:
    """Starts KerasTuner's chief and `workers` workers on 127.0.0.1; returns the first
    non-zero exit code. The chief serves the oracle and writes the report at the end."""
    from modelspec.training.cli import _free_ports

    (port,) = _free_ports(1)
    args = [sys.executable, "-c", "from modelspec.tune.cli import tune_command; "
            "tune_command()", spec, "--output", str(output)]
    args += ["--max-trials", str(max_trials)] if max_trials else []
    args += ["--epochs", str(epochs)] if epochs else []
    procs = []
    for tuner_id in ["chief"] + [f"tuner{i}" for i in range(workers)]:
        env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(port))
        procs.append(subprocess.Popen(args, env=env))
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)
