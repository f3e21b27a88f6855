"""Training a spec end to end: run directory, resume, runtime, loop, report.

`train_spec` is what `modelspec train` and `modelspec.train` call. It checks the run
directory (resume or refuse), applies the runtime settings, builds the models inside the
distribution strategy's scope, builds the data pipelines, runs the loop the spec names and
writes the final weights, metrics, learning curves and state.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from modelspec.data.pipeline import spec_datasets
from modelspec.errors import StateConflictError, UsageError
from modelspec.fileio import remove_leftovers, replace_dir
from modelspec.training.checkpoints import ResumePoint, resume_point
from modelspec.training.config import TrainConfig
from modelspec.training.context import TrainContext
from modelspec.training.lock import run_lock
from modelspec.training.loops import adversarial, layerwise, supervised
from modelspec.training.rundir import (
    STATE,
    RunDir,
    atomic_write_json,
    atomic_write_text,
    save_models,
)

__all__ = ["LOOPS", "RunRequest", "RunResult", "TrainContext", "as_bundle", "checked_datasets",
           "default_run_dir", "prepare_run_dir", "run_training", "train_spec"]

Loop = Callable[[TrainContext], dict[str, Any]]
# train.type -> its loop; the names are `training.schema.LOOP_TYPES` (a test keeps them equal)
LOOPS: dict[str, Loop] = {
    "supervised": supervised.run_supervised,
    "adversarial": adversarial.run_adversarial,
    "layerwise": layerwise.run_layerwise,
}


@dataclass
class RunResult:
    """What a training run produced.

    Args:
        run_dir: The run directory.
        epochs: Epochs completed in total (including those of earlier, resumed runs).
        resumed_from: The epoch training continued from (0 for a fresh run).
        metrics: Final metrics (empty when interrupted).
        history: Metric name → per-epoch values, over all epochs.
        models: Model name → trained `keras.Model`.
    """

    run_dir: Path
    epochs: int
    resumed_from: int
    metrics: dict[str, Any]
    history: dict[str, list[float]]
    models: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    """How `run_training` runs: what identifies the run and what its directory records.

    Args: see `run_training`.
    """

    fingerprint: str
    name: str = "model"
    epochs: int | None = None
    restart: bool = False
    verbose: int | str = "auto"
    spec_text: str | None = None
    resolved: Mapping[str, Any] | None = None
    spec_path: str | Path | None = None
    base_dir: Path | None = None
    overrides: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Start:
    """Where a run starts: the resume point and the epochs it trains."""

    point: ResumePoint
    total: int
    initial: int
    stopped_early: bool
    checkpoint: Path | None

    @property
    def state(self) -> dict[str, Any] | None:
        return self.point.state


def _loop(kind: str) -> Loop:
    if kind not in LOOPS:
        raise UsageError(f"unknown train.type '{kind}'; expected one of {', '.join(LOOPS)}")
    return LOOPS[kind]


_LEFTOVERS = {"spec.yaml", "resolved.json", "fingerprint", "logs", "checkpoints",
              "training.csv", "samples", "history.json", "curves.png"}


def prepare_run_dir(run: RunDir, fingerprint: str, restart: bool) -> ResumePoint:
    """Decides between a fresh start and a resume; returns the point to resume from.

    Writes nothing: a run that `restart` discards is cleared by `run_training` only once the
    models and the data have been built, so a spec that fails there loses nothing. A damaged
    newest checkpoint falls back to the previous intact one (`checkpoints.resume_point`).

    Raises:
        StateConflictError: When the directory holds a run of a different spec and
            `restart` is false, or its checkpoints are all damaged.
    """
    if restart:
        return ResumePoint(None)
    point = resume_point(run)
    state = point.state
    if state is None:
        if run.root.exists() and any(run.root.iterdir()):
            # what a kill before the first commit point leaves (and hidden temp files)
            leftovers = {p.name for p in run.root.iterdir() if not p.name.startswith(".")}
            if leftovers - _LEFTOVERS:
                raise StateConflictError(
                    f"{run.root} is not empty and is not a run directory; choose another "
                    "--output or pass --restart to clear it")
        return point
    if state.get("fingerprint") != fingerprint:
        raise StateConflictError(
            f"{run.root} holds a run of a different spec (fingerprint "
            f"{str(state.get('fingerprint'))[:12]}, this spec {fingerprint[:12]}); refusing "
            "to resume. Pass --restart to discard it, or --output DIR to train elsewhere")
    return point


def _rewrite_views(run: RunDir, point: ResumePoint) -> None:
    """Makes `state.json`, `history.json` and `training.csv` agree with the resume point: the
    epochs of an uncommitted (killed) epoch are dropped, so none is listed twice."""
    state = point.state
    if state is None:
        return
    if point.warning:
        print(point.warning, file=sys.stderr)
        run.write_state(state)
    history = point.history if point.history is not None else run.history()
    epochs = int(state.get("epoch", 0))
    history = {k: list(v)[:epochs] for k, v in (history or {}).items()}
    atomic_write_json(run.path("history.json"), history)
    csv_path = run.path("training.csv")
    if csv_path.exists() and history:
        import csv
        import io
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        keys = sorted(history)
        writer.writerow(["epoch"] + keys)
        for epoch in range(min(len(v) for v in history.values())):
            writer.writerow([epoch] + [history[k][epoch] for k in keys])
        atomic_write_text(csv_path, text.getvalue())


def run_training(train: TrainConfig | Mapping[str, Any], run_dir: str | Path,
                 build: Callable[[], dict[str, Any]], datasets: Any, *, fingerprint: str,
                 name: str = "model", epochs: int | None = None, restart: bool = False,
                 verbose: int | str = "auto", spec_text: str | None = None,
                 resolved: Mapping[str, Any] | None = None,
                 spec_path: str | Path | None = None, base_dir: Path | None = None,
                 overrides: Mapping[str, Any] | None = None) -> RunResult:
    """Runs the loop of a `train:` section on given model builders and datasets.

    Args:
        train: The `TrainConfig` (or the resolved `train:` section it is built from).
        run_dir: Where the run directory goes.
        build: Returns a fresh `{name: keras.Model}`; called inside the strategy scope.
        datasets: An object with `.train`, `.validation`, `.test` (tf.data or None), or a
            callable taking the built models and returning one.
        fingerprint: Identifies the spec (a changed spec refuses to resume).
        name: The spec's name (for reports).
        epochs: Overrides `train.epochs`.
        restart: Discard an existing run instead of resuming it.
        verbose: Keras progress output ("auto", 0, 1, 2).
        spec_text: The spec's YAML text, copied into the run directory.
        resolved: The resolved document, written as `resolved.json`.
        spec_path: The spec file (recorded so that relative paths keep their meaning).
        overrides: Parameter overrides the spec was checked with (recorded for `load_run`).
        base_dir: The directory `train.init_from.run` is relative to.

    Returns:
        A `RunResult`.

    Raises:
        StateConflictError: Resuming a run of another spec without `restart`.
        DivergedError: A NaN or infinite loss.
        Interrupted: SIGTERM / Ctrl-C (after writing a checkpoint).
        StateConflictError: Another process holds the run directory (exit 4).
    """
    request = RunRequest(fingerprint=fingerprint, name=name, epochs=epochs, restart=restart,
                         verbose=verbose, spec_text=spec_text, resolved=resolved,
                         spec_path=spec_path, base_dir=base_dir, overrides=overrides)
    run = RunDir(run_dir)
    with run_lock(run.root):
        return _run_locked(run, TrainConfig.of(train), build, datasets, request)


def _start(run: RunDir, config: TrainConfig, request: RunRequest) -> _Start:
    """The resume point and the epochs to train (an early-stopped run is finished)."""
    point = prepare_run_dir(run, request.fingerprint, request.restart)
    state = point.state
    total = int(request.epochs if request.epochs is not None else config.epochs)
    initial = int(state["epoch"]) if state else 0
    stopped_early = bool(state and state.get("stopped_early")
                         and total <= int(state.get("epochs", 0)))
    if state and stopped_early:
        # early stopping ended this run: it is finished, not short of epochs
        print(f"{request.name} stopped early at epoch {initial} of {state['epochs']} "
              f"({run.root}); pass a larger --epochs to train longer", file=sys.stderr)
        total = initial
    checkpoint = run.checkpoints / state["checkpoint"] if state and state.get("checkpoint") \
        else None
    return _Start(point, total, initial, stopped_early, checkpoint)


def _build_models(config: TrainConfig, build: Callable[[], dict[str, Any]], strategy: Any,
                  start: _Start, request: RunRequest) -> tuple[Callable[[], dict[str, Any]],
                                                               dict[str, Any] | None]:
    """Builds the models once inside the strategy's scope and warm-starts a fresh run from
    `train.init_from`; returns (the builder the loops call, the warm start's report)."""
    built: dict[str, Any] = {}

    def build_once() -> dict[str, Any]:
        if not built:
            with strategy.scope():
                built.update(build())
        return built

    with strategy.scope():
        build_once()
    warm = None
    if config.init_from is not None and start.checkpoint is None:
        from modelspec.training.warmstart import warm_start
        warm = warm_start(built, config.init_from, Path(request.base_dir or Path.cwd()),
                          seed=config.seed)
    return build_once, warm


def _write_start(run: RunDir, start: _Start, request: RunRequest) -> None:
    """Prepares the directory once the models and the data have been built (nothing is
    written, or cleared, before): the spec, its resolved form, the fingerprint."""
    if request.restart and (run.root / STATE).exists():  # a run directory (even a damaged one)
        run.clear()
    run.root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(run.root)  # temp files of writes a kill cut short
    _rewrite_views(run, start.point)
    if request.spec_text is not None:
        atomic_write_text(run.path("spec.yaml"), request.spec_text)
    if request.resolved is not None:
        atomic_write_json(run.path("resolved.json"), request.resolved)
    atomic_write_text(run.path("fingerprint"), request.fingerprint + "\n")
    if start.stopped_early:
        pass  # said by _start
    elif start.initial >= start.total:
        print(f"{request.name} is already trained to epoch {start.initial} ({run.root}); pass "
              "a larger --epochs to train longer", file=sys.stderr)
    elif start.initial:
        print(f"resuming {request.name} from epoch {start.initial} ({run.root})",
              file=sys.stderr)


def _base_state(config: TrainConfig, request: RunRequest, strategy: Any,
                warm: dict[str, Any] | None) -> dict[str, Any]:
    """What every checkpoint's `state.json` records about the run."""
    state = {"fingerprint": request.fingerprint, "name": request.name, "type": config.kind,
             "replicas": strategy.num_replicas_in_sync,
             "spec_path": str(Path(request.spec_path).resolve()) if request.spec_path else None,
             "overrides": dict(request.overrides or {})}
    if warm is not None:
        state["init_from"] = warm
    return state


def _train(ctx: TrainContext) -> dict[str, Any]:
    """Runs the loop `train.type` names (the multi-worker loop under that strategy)."""
    from modelspec.training import distribute
    if distribute.is_multi_worker(ctx.strategy) and ctx.config.kind == "supervised":
        from modelspec.training.loops.multiworker import run_multiworker
        return run_multiworker(ctx)
    return _loop(ctx.config.kind)(ctx)


def _final_metrics(run: RunDir, ctx: TrainContext, start: _Start, request: RunRequest,
                   metrics: dict[str, Any]) -> tuple[dict[str, Any], list[Path | None]]:
    """Writes `metrics.json`, the learning curves and (on the chief) the diagnostics of the
    test evaluation; returns the metrics and the pictures written."""
    from modelspec.training import distribute
    from modelspec.training.diagnostics import run_diagnostics
    from modelspec.training.report import plot_curves
    if start.initial >= start.total:  # nothing trained now: keep the metrics of the training
        from modelspec.training.rundir import read_json
        metrics = dict(read_json(run.path("metrics.json"), {}) or {}, **metrics)
    atomic_write_json(run.path("metrics.json"), metrics)
    pictures = [plot_curves(run.history(), run.path("curves.png"), title=request.name)]
    # under several workers, on the chief alone: each worker holds the whole split (the loop
    # shards batches, not the data set), no collective runs, the others' is discarded
    writes = not distribute.is_multi_worker(ctx.strategy) or distribute.is_chief()
    found = None if not writes else run_diagnostics(
        ctx.models, ctx.bundle, ctx.config, run.root,
        labels=((request.resolved or {}).get("export") or {}).get("labels"))
    if found is not None and (found.metrics or found.pictures):
        metrics = {**metrics, **found.metrics}
        if found.per_class:
            metrics["per_class"] = found.per_class
        atomic_write_json(run.path("metrics.json"), metrics)
        pictures += found.pictures
    return metrics, pictures


def _finish(run: RunDir, ctx: TrainContext, start: _Start, request: RunRequest,
            metrics: dict[str, Any], started: float) -> dict[str, Any]:
    """Publishes the final weights, metrics and pictures, then marks the state finished."""
    from modelspec.training.report import metrics_table
    tmp = run.root / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_models(tmp, ctx.models)
    replace_dir(tmp, run.path("final"))
    metrics, pictures = _final_metrics(run, ctx, start, request, metrics)
    final_state = dict(run.state() or ctx.base_state)
    # the epochs actually trained: fewer than asked when early stopping ended the run
    trained = int(final_state.get("epoch", max(start.total, start.initial)))
    asked = max(start.total, int(final_state.get("epochs", 0)))
    final_state.update(finished=True, epoch=trained, epochs=asked,
                       stopped_early=trained < asked,
                       seconds=round(float((start.state or {}).get("seconds") or 0.0)
                                     + time.monotonic() - started, 1))
    run.write_state(final_state)
    if request.verbose != 0:
        print(metrics_table(metrics, f"final metrics ({request.name})"))
        shown = [p.name for p in pictures if p is not None]
        if shown:
            print(f"pictures in {run.root}: {', '.join(shown)}")
    return metrics


def _run_locked(run: RunDir, config: TrainConfig, build: Callable[[], dict[str, Any]],
                datasets: Any, request: RunRequest) -> RunResult:
    """`run_training` once the run directory's lock is held."""
    import keras

    from modelspec.training import distribute, runtime
    from modelspec.training.callbacks import Interrupted, SignalStop
    started = time.monotonic()  # wall time of this session (state.json sums them)
    run.recover()
    start = _start(run, config, request)
    previous_policy = keras.mixed_precision.global_policy()
    runtime.apply_runtime(config.runtime)
    try:
        strategy = distribute.make_strategy(dict(config.distribute.section) or None)
        build_once, warm = _build_models(config, build, strategy, start, request)
        bundle = datasets(build_once()) if callable(datasets) else datasets
        _write_start(run, start, request)
        with SignalStop() as stopper:
            ctx = TrainContext(config=config, run=run, bundle=bundle, build=build_once,
                               strategy=strategy, epochs=start.total,
                               initial_epoch=start.initial, checkpoint=start.checkpoint,
                               stopper=stopper, verbose=request.verbose,
                               resume_state=start.state,
                               base_state=_base_state(config, request, strategy, warm))
            metrics = _train(ctx)
        history = run.history()
        if stopper.signum is not None:  # stopped by a signal
            raise Interrupted(stopper.signum, f"training of {request.name} interrupted; a "
                              f"checkpoint is in {run.root} — run the same command again to "
                              "continue")
        metrics = _finish(run, ctx, start, request, metrics, started)
    finally:  # the dtype policy is global: do not leak it into the caller's process
        keras.mixed_precision.set_global_policy(previous_policy)
    done = int((run.state() or {}).get("epoch", max(start.total, start.initial)))
    return RunResult(run.root, done, start.initial, metrics, history, ctx.models)


def checked_datasets(spec: Any, train: TrainConfig) -> Callable[[dict[str, Any]], Any]:
    """`spec_datasets` with the labels checked against the trained model's outputs and loss
    (a label 7 for a sigmoid output, a non-finite label: positioned errors, exit 2)."""
    feed = train.data_feed()
    make = spec_datasets(spec, feed)

    def build(models: dict[str, Any]) -> Any:
        bundle = make(models)
        if train.kind == "supervised" and train.loss is not None:
            from modelspec.training.labels import check_labels
            model = feed.pick(models)
            errs = spec.errors()
            check_labels(bundle, model, train.loss, errs)
            errs.raise_if_any()
        return bundle
    return build


def default_run_dir(spec: Any) -> Path:
    """`runs/<spec name>` in the current directory."""
    return Path("runs") / spec.name


def _train_section(spec: Any, strategy: str | None) -> dict[str, Any]:
    """The spec's resolved `train:` section, with a `--strategy` override checked."""
    train = dict(spec.section("train") or {})
    if strategy:
        train["distribute"] = dict(train.get("distribute") or {}, strategy=strategy)
        from modelspec.training.schema import check_unused_keys
        errs = spec.errors()
        check_unused_keys(train, train.get("type", "supervised"), errs)
        errs.raise_if_any()  # e.g. metrics, which the multi-worker loop would not compute
    if not train:
        raise UsageError(f"{spec.filename}: the spec has no 'train:' section; add one "
                         "(train: {optimizer: adam, loss: ..., epochs: 10})")
    return train


def train_spec(spec: Any, *, epochs: int | None = None, output: str | Path | None = None,
               restart: bool = False, verbose: int | str = "auto", datasets: Any = None,
               strategy: str | None = None) -> RunResult:
    """Trains a spec with the loop its `train:` section names.

    Args:
        spec: A path to a spec, its YAML text or a `CheckedSpec`.
        epochs: Overrides `train.epochs` (e.g. to train a finished run longer).
        output: The run directory (default `runs/<spec name>/`).
        restart: Discard an existing run directory instead of resuming it.
        verbose: Keras progress output ("auto", 0, 1, 2); 0 also silences the table.
        datasets: Optional `.train/.validation/.test` object replacing the spec's `data:`.
        strategy: Overrides `train.distribute.strategy` (e.g. "multi_worker").

    Returns:
        A `RunResult` with the run directory, metrics, history and trained models.

    Raises:
        SpecError: The spec is invalid (exit 2).
        DivergedError: The loss became NaN or infinite (exit 3).
        StateConflictError: The run directory holds another spec's run (exit 4).

    Example:
    >>> result = train_spec("specs/lenet5.yaml", epochs=2, output="runs/lenet5-try")
    >>> result.metrics["test_accuracy"]
    """
    if not hasattr(spec, "fingerprint"):
        from modelspec.lang.checks import load_and_check as load_spec
        spec = load_spec(spec)
    train = _train_section(spec, strategy)
    config = TrainConfig.from_section(train)  # the one place the section becomes typed
    if verbose == "auto" and config.verbose is not None:
        verbose = config.verbose

    def build() -> dict[str, Any]:
        from modelspec.build.compiler import build_models
        return build_models(spec)

    text = getattr(getattr(spec, "loaded", None), "text", None) or None
    if text is None and spec.path is not None:
        text = Path(spec.path).read_text(encoding="utf-8")
    from modelspec.training.distribute import worker_output
    # under multi_worker only the chief writes `output`; the other workers a scratch copy
    with worker_output(train, output or default_run_dir(spec)) as out:
        return run_training(config, out, build,
                            datasets if datasets is not None else checked_datasets(spec, config),
                            fingerprint=spec.fingerprint, name=spec.name, epochs=epochs,
                            restart=restart, verbose=verbose, spec_text=text,
                            resolved=spec.resolved_document(), spec_path=spec.path,
                            base_dir=spec.base_dir, overrides=getattr(spec, "overrides", None))


def as_bundle(train: Any = None, validation: Any = None, test: Any = None) -> SimpleNamespace:
    """A minimal `.train/.validation/.test` holder for datasets built in Python."""
    return SimpleNamespace(train=train, validation=validation, test=test)
