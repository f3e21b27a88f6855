"""tf.distribute strategies from `train.distribute`, and local multi-worker launches.

- `default`: TensorFlow's default strategy (one device, no distribution).
- `one_device`: `OneDeviceStrategy` on `devices[0]` (e.g. `/gpu:1`).
- `mirrored`: `MirroredStrategy` over `devices` (all GPUs by default; on a CPU-only machine
  the logical CPU devices configured before TensorFlow starts).
- `multi_worker`: `MultiWorkerMirroredStrategy` configured by the `TF_CONFIG` environment
  variable (the cluster and this worker's index). Keras 3.15's `fit` fails under this strategy
  (keras-team/keras#20585), so the supervised loop runs Keras's own `train_step` with
  `strategy.run` (see `modelspec.training.loops.multiworker`).

Under `multi_worker` only the chief writes the run directory; the other workers write into a
scratch directory removed at the end (`worker_output`, as TensorFlow's multi-worker guide does
for checkpoints) and take the chief's state — weights, optimizer, epoch, the callbacks' decisions
— through collective broadcasts (`broadcast_variables`, `broadcast_values`), so that the run
directory may live on shared storage or on the chief's disk alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from modelspec.errors import ModelspecError, UsageError

EXIT_CLUSTER = 75  # EX_TEMPFAIL: a worker was lost; running the same command again resumes


class ClusterError(ModelspecError):
    """A worker of a multi-worker run became unreachable; exit 75 (run again to resume)."""

    exit_code = EXIT_CLUSTER


def tf_config() -> dict[str, Any] | None:
    """The parsed `TF_CONFIG` environment variable, or None."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise UsageError(f"TF_CONFIG is not valid JSON: {err}") from None


def worker_index() -> int:
    """This process's worker index in `TF_CONFIG` (0 without a cluster)."""
    conf = tf_config() or {}
    return int((conf.get("task") or {}).get("index", 0))


def is_chief() -> bool:
    """Whether this process writes the run directory (worker 0, or no cluster)."""
    conf = tf_config() or {}
    task = conf.get("task") or {}
    return task.get("type", "worker") in ("chief",) or (
        "chief" not in (conf.get("cluster") or {}) and int(task.get("index", 0)) == 0)


def wants_multi_worker(train: Mapping[str, Any]) -> bool:
    """Whether a `train:` section asks for `MultiWorkerMirroredStrategy` (no TensorFlow call)."""
    return (train.get("distribute") or {}).get("strategy") == "multi_worker"


@contextlib.contextmanager
def worker_output(train: Mapping[str, Any], output: str | Path) -> Iterator[Path]:
    """The run directory this process writes: `output` on the chief (or without a cluster),
    a scratch directory, removed afterwards, on the other workers of a multi-worker run.

    Every worker runs the same callbacks (checkpoints, TensorBoard, CSV log) so that their
    collective operations match; only the chief's land in `output`.
    """
    if not wants_multi_worker(train) or is_chief():
        yield Path(output)
        return
    # one scratch directory per worker and output: a worker killed before removing it
    # clears it when it starts again, instead of leaving one more behind
    key = hashlib.sha256(str(Path(output).resolve()).encode()).hexdigest()[:12]
    scratch = Path(tempfile.gettempdir()) / f"modelspec-worker-{worker_index()}-{key}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def make_strategy(config: Mapping[str, Any] | None) -> tf.distribute.Strategy:
    """Creates the strategy a `train.distribute` mapping asks for.

    Args:
        config: `{strategy: mirrored, devices: [...], communication: auto}` or None.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        UsageError: For multi_worker without `TF_CONFIG`.
    """
    config = config or {}
    kind = config.get("strategy", "default")
    devices = config.get("devices") or None
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "one_device":
        return tf.distribute.OneDeviceStrategy(devices[0] if devices else "/cpu:0")
    if kind == "mirrored":
        if devices is None and not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multi_worker":
        if tf_config() is None:
            raise UsageError("train.distribute.strategy is 'multi_worker' but TF_CONFIG is not "
                             "set; start workers with `modelspec train SPEC --workers N` or set "
                             "TF_CONFIG on each machine (see the README, 'More than one "
                             "machine')")
        comm = {"auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
                "ring": tf.distribute.experimental.CommunicationImplementation.RING,
                "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL}[
            config.get("communication", "auto")]
        options = tf.distribute.experimental.CommunicationOptions(implementation=comm)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise UsageError(f"unknown distribution strategy '{kind}'")


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` spans several workers."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def all_reduce_sum(values: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """In a replica context: each of `values` summed over every replica of every worker,
    in one collective operation per dtype (the tensors of one dtype are packed)."""
    ctx = tf.distribute.get_replica_context()
    out: list[tf.Tensor] = [None] * len(values)
    for dtype in {v.dtype for v in values}:
        at = [i for i, v in enumerate(values) if v.dtype == dtype]
        summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [values[i] for i in at])
        for i, value in zip(at, summed, strict=True):
            out[i] = value
    return out


def _from_first_replica(values: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """In a replica context: every replica's copy of replica 0's (the chief's) `values`."""
    ctx = tf.distribute.get_replica_context()
    first = tf.equal(ctx.replica_id_in_sync_group, 0)
    return all_reduce_sum([tf.where(first, v, tf.zeros_like(v)) for v in values])


# one traced function per strategy and variable list (no retracing)
_PULLS: dict[tuple[int, object], Callable[..., Any]] = {}


def _pull(strategy: tf.distribute.Strategy, key: object,
          make: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    fn = _PULLS.get((id(strategy), key))
    if fn is None:
        fn = _PULLS[(id(strategy), key)] = make()
    return fn


def broadcast_values(strategy: tf.distribute.Strategy, values: Sequence[float]) -> list[float]:
    """The chief's `values` on every worker (each worker passes its own; all must call).

    Example:
    >>> initial, total = broadcast_values(strategy, [ctx.initial_epoch, ctx.epochs])
    """
    if not values:
        return []
    tensor = tf.constant([float(v) for v in values], tf.float64)
    def make() -> Callable[..., Any]:
        def pull(t: tf.Tensor) -> Any:
            return strategy.run(lambda: _from_first_replica([tf.identity(t)]))
        return tf.function(pull, autograph=False, reduce_retracing=True)
    pull = _pull(strategy, "values", make)
    result = strategy.experimental_local_results(pull(tensor))[0]
    return [float(v) for v in result[0].numpy()]


def broadcast_variables(strategy: tf.distribute.Strategy, variables: Sequence[Any]) -> None:
    """Assigns the chief's values of `variables` (Keras or TF variables) on every worker.

    Used after the chief loaded a checkpoint and after callbacks changed weights or the
    learning rate, so that no worker trains on other values than the chief's.
    """
    variables = list(variables)
    if strategy.num_replicas_in_sync <= 1 or not variables:
        return
    def make() -> Callable[..., Any]:
        def pull() -> Any:
            return strategy.run(lambda: _from_first_replica(
                [tf.convert_to_tensor(getattr(v, "value", v)) for v in variables]))
        return tf.function(pull, autograph=False)
    pull = _pull(strategy, tuple(id(v) for v in variables), make)
    for variable, value in zip(variables, pull(), strict=True):
        variable.assign(strategy.experimental_local_results(value)[0])


def average_over_replicas(strategy: tf.distribute.Strategy, variables: Sequence[Any]) -> None:
    """Sets each floating-point variable to its mean over every replica of every worker.

    Keras updates the moving statistics of BatchNormalization on each replica from that
    replica's part of the batch (their variables have no aggregation); averaging them makes
    the moving mean the one the global batches give, as on one machine (the moving variance
    lacks the spread between the parts). Exponential averages are linear, so averaging once
    an epoch gives what averaging every step would.
    """
    variables = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
    replicas = strategy.num_replicas_in_sync
    if replicas <= 1 or not variables:
        return

    def make() -> Callable[..., Any]:
        def pull() -> Any:
            return strategy.run(lambda: all_reduce_sum(
                [tf.identity(getattr(v, "value", v)) for v in variables]))
        return tf.function(pull, autograph=False)
    pull = _pull(strategy, ("mean", *(id(v) for v in variables)), make)
    for variable, total in zip(variables, pull(), strict=True):
        variable.assign(strategy.experimental_local_results(total)[0] / replicas)


def sum_over_workers(strategy: tf.distribute.Strategy, value: float) -> float:
    """The sum of one value per replica of every worker (each worker passes its own)."""
    def make() -> Callable[..., Any]:
        def pull(t: tf.Tensor) -> Any:
            return strategy.reduce(tf.distribute.ReduceOp.SUM,
                                   strategy.run(lambda: tf.identity(t)), axis=None)
        return tf.function(pull, autograph=False)
    pull = _pull(strategy, "sum", make)
    return float(pull(tf.constant(float(value), tf.float64)))


def same_on_every_worker(strategy: tf.distribute.Strategy, variables: Sequence[Any]) -> bool:
    """Whether every worker holds the chief's values of `variables` (checksums compared).

    Synchronous all-reduce keeps the replicas identical; this checks it at the end of a run.
    """
    checksum = 0.0
    for i, variable in enumerate(variables):
        value = tf.cast(tf.convert_to_tensor(getattr(variable, "value", variable)), tf.float64)
        checksum += float(tf.reduce_sum(value) * (i + 1) + tf.reduce_sum(value * value))
    chief, = broadcast_values(strategy, [checksum])
    return sum_over_workers(strategy, float(checksum != chief)) == 0


@contextlib.contextmanager
def lost_worker_as_error(run_dir: object) -> Iterator[None]:
    """Turns TensorFlow's errors for an unreachable worker into a `ClusterError`."""
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
            tf.errors.CancelledError) as err:
        raise ClusterError(
            f"a worker of the cluster was lost ({err.message.splitlines()[0]}); the last "
            f"completed epoch is kept in {run_dir}: start every worker again with the same "
            "command and TF_CONFIG to resume from it") from None
