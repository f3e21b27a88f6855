"""`modelspec train` and `modelspec evaluate`: click commands around `train_spec`.

Exit codes: 0 ok, 2 invalid spec or usage, 3 training diverged, 4 state conflict (the run
directory holds another spec's run), 128+N interrupted by signal N (after a checkpoint).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from modelspec.cli.util import OutputPath, data_dir_option, handle_errors
from modelspec.tfenv import quiet_tensorflow

TRAIN_HELP = """Trains SPEC and writes a run directory (default runs/<spec name>/).

\b
The run directory holds the resolved spec and its fingerprint, checkpoints (latest and
best), the metrics history (history.json), TensorBoard logs (logs/), a CSV log, the learning
curves (curves.png) and the final weights. Running the same command again after a crash or
kill continues from the last completed epoch; a changed spec refuses to resume (exit 4)
unless --restart is given. SIGTERM / Ctrl-C writes a checkpoint, then exits.

\b
Examples:
  modelspec train specs/lenet5.yaml
  modelspec train specs/lenet5.yaml --epochs 2 --output runs/try
  modelspec train specs/lenet5.yaml --restart
  modelspec train specs/vgg16.yaml -p small=true   # the small variant of a big network
  modelspec train specs/mlp_classifier.yaml --workers 2   # local multi-worker try-out
  TF_CONFIG=... modelspec train SPEC --strategy multi_worker   # on each machine of a cluster
  tensorboard --logdir runs/lenet5/logs
"""


def _free_ports(count: int) -> list[int]:
    socks, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in socks:
        sock.close()
    return ports


def _wait_all(procs: list, grace: float = 10.0) -> int:
    """Waits for every worker; when one fails, stops the others (a worker blocked in a
    collective operation would otherwise wait for the lost one). Returns the first failure."""
    import time
    while True:
        codes = [p.poll() for p in procs]
        failed = next((c for c in codes if c), None)
        if failed is not None or all(c is not None for c in codes):
            break
        time.sleep(0.2)
    if failed is not None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()  # SIGTERM: a checkpoint, as for one machine
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return failed or 0


def launch_local_workers(spec: str, workers: int, output: Path, epochs: int | None,
                         restart: bool, params: Sequence[str] = ()) -> int:
    """Starts `workers` local processes training `spec` with MultiWorkerMirroredStrategy.

    Each process gets a `TF_CONFIG` naming all workers on 127.0.0.1 and the same
    `--output`: worker 0 (the chief) writes it, the others write nothing that stays
    (`distribute.worker_output`). Returns the first non-zero exit code.
    """
    ports = _free_ports(workers)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(workers):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        args = [sys.executable, "-c",
                "from modelspec.training.cli import train_command; train_command()",
                spec, "--output", str(output), "--strategy", "multi_worker"]
        if epochs is not None:
            args += ["--epochs", str(epochs)]
        if restart:
            args.append("--restart")
        for param in params:
            args += ["--param", param]
        if index:
            args.append("--quiet")
        procs.append(subprocess.Popen(args, env=env))
    try:
        return _wait_all(procs)
    except KeyboardInterrupt:  # Ctrl-C reached every worker too: let them checkpoint
        return _wait_all(procs, grace=60.0) or 130


@click.command("train", help=TRAIN_HELP)
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--epochs", type=click.IntRange(min=1), help="Train to this many epochs in "
              "total (overrides train.epochs; a finished run continues).")
@click.option("--output", "-o", type=OutputPath(file_okay=False),
              help="Run directory (default runs/<spec name>/).")
@click.option("--restart", is_flag=True, help="Discard an existing run directory.")
@click.option("--workers", type=click.IntRange(min=1), help="Start N local worker "
              "processes that train together (MultiWorkerMirroredStrategy on 127.0.0.1).")
@click.option("--strategy", type=click.Choice(["default", "one_device", "mirrored",
                                               "multi_worker"]),
              help="Override train.distribute.strategy, e.g. multi_worker on each machine "
              "of a cluster (TF_CONFIG set; see the README, 'More than one machine').")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no final table.")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a spec parameter (repeatable), e.g. -p small=true.")
@data_dir_option
@handle_errors
def train_command(spec: str, epochs: int | None, output: str | None, restart: bool,
                  workers: int | None, strategy: str | None, quiet: bool,
                  params: tuple[str, ...]) -> None:
    quiet_tensorflow()
    from modelspec.cli.params import parse_param_overrides
    from modelspec.lang.checks import load_and_check
    overrides = parse_param_overrides(params)
    checked = load_and_check(spec, overrides=overrides or None)
    from modelspec.training.run import default_run_dir, train_spec
    out = Path(output) if output else default_run_dir(checked)
    if workers and workers > 1:
        code = launch_local_workers(spec, workers, out, epochs, restart, params)
        if code:
            sys.exit(code)
        return  # the chief said where its run directory is
    result = train_spec(checked, epochs=epochs, output=out, restart=restart,
                        verbose=0 if quiet else ("auto" if sys.stdout.isatty() else 2),
                        strategy=strategy)
    if not quiet:
        written = "" if result.run_dir == out else " (written by the chief, worker 0)"
        click.echo(f"run directory: {out}{written}")


EVALUATE_HELP = """Evaluates a trained run on its test split (or another split).

\b
SPEC_OR_RUN is a run directory written by `modelspec train`, or a spec whose run is in
runs/<spec name>/ (or --run DIR). The spec's losses and metrics are used; the weights are
the final ones (--weights best|latest to choose).

\b
Examples:
  modelspec evaluate runs/lenet5
  modelspec evaluate specs/lenet5.yaml --split validation
  modelspec evaluate runs/lenet5 --json
"""


@click.command("evaluate", help=EVALUATE_HELP)
@click.argument("spec_or_run", type=click.Path(exists=True))
@click.option("--run", "run_dir", type=click.Path(file_okay=False),
              help="The run directory of SPEC (default runs/<spec name>/).")
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default=None,
              help="Which split (default: test, else validation).")
@click.option("--weights", type=click.Choice(["final", "best", "latest"]), default="final")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@data_dir_option
@handle_errors
def evaluate_command(spec_or_run: str, run_dir: str | None, split: str | None, weights: str,
                     as_json: bool) -> None:
    quiet_tensorflow()
    from modelspec.training.evaluate import evaluate_run, locate_run
    run = locate_run(spec_or_run, run_dir)
    metrics = evaluate_run(run, split=split, which=weights)
    if as_json:
        click.echo(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        from modelspec.training.report import metrics_table
        click.echo(metrics_table(metrics, f"evaluation of {run}"))

