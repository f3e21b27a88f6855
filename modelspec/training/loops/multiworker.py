"""Supervised training under `MultiWorkerMirroredStrategy`: Keras's step, metrics and callbacks.

Keras 3.15's `fit` fails under `MultiWorkerMirroredStrategy` (keras-team/keras#20585) in two
places of its TensorFlow trainer (`keras/src/backend/tensorflow/trainer.py`): the symbolic
build before the first epoch reduces a nested batch with `strategy.reduce`, which the
collective strategy rejects, and the logs of every step are reduced with
`strategy.reduce("MEAN", scalar, axis=0)`, which fails for scalars. Everything `fit` calls
works, so this loop keeps Keras's pieces and replaces only `fit`'s outer loop:

- the model is compiled exactly as for `fit` (`supervised.compile_model`: per-output losses,
  loss weights, metrics, weighted metrics, `steps_per_execution`; mixed precision through
  the LossScaleOptimizer Keras's `compile` adds);
- each step is Keras's own `model.train_step` run on every replica with `strategy.run`
  (`compute_loss` scaled by Keras for the number of replicas, gradients all-reduced by the
  optimizer, metric updates); validation and test run `model.test_step`;
- the metrics are Keras's metric objects, whose variables are SyncOnRead sums: reading
  `model.get_metrics_result()` outside the replicas all-reduces them, so every value is the
  exact value over the global batches (as on one machine with the same data), and the same
  on every worker;
- the callbacks are the spec's Keras callbacks in a `keras.callbacks.CallbackList`, called on
  every worker with those identical logs; the chief's decisions (stop, learning rate,
  restored best weights) are then broadcast, so no worker can go its own way. Only the
  chief's run directory is kept (`distribute.worker_output`).

A signal (SIGTERM, Ctrl-C) on any worker stops all of them after the same step. The signal
handler (`SignalStop`) only sets a flag; each worker's flag is a vote, summed over the cluster
with every call's metrics and once more at the end of each epoch (`ClusterStop`), and every
branch of the loop reads the agreed result, never the local flag. A worker that read its own
flag could take another path than its peers (skip the validation pass they run) and pair one
of its collective operations with a different one of theirs: TensorFlow then aborts the
collectives of every worker ("Collective instance N expected ... data_type 1 but got ...
data_type 2"). This is what TensorFlow's `PreemptionCheckpointHandler` does with its
coordination-service key (the step at which all save); its checkpoints are
`tf.train.Checkpoint`s and its step is one `strategy.run`, while a run directory's checkpoint
is `EpochCheckpoint`'s, so the agreement here travels in the collective the loop runs anyway.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import keras
import tensorflow as tf

from modelspec.errors import UsageError
from modelspec.training.callbacks import (
    DivergenceGuard,
    EpochCheckpoint,
    SignalStop,
    spec_callbacks,
)
from modelspec.training.class_weights import with_class_weights
from modelspec.training.distribute import (
    all_reduce_sum,
    average_over_replicas,
    broadcast_values,
    broadcast_variables,
    lost_worker_as_error,
    same_on_every_worker,
    sum_over_workers,
)
from modelspec.training.loops.supervised import compile_model
from modelspec.training.rundir import RunDir, load_models
from modelspec.training.runtime import DEFAULT_STEPS_PER_EXECUTION

StepFunction = Callable[[Any, tf.Tensor, tf.Tensor],
                        tuple[tf.Tensor, dict[str, tf.Tensor], tf.Tensor]]


class LoopContext(Protocol):
    """What this loop reads of `modelspec.training.run.TrainContext` (named by its shape:
    a loop may not import `run`, which imports the loops)."""

    models: dict

    @property
    def train(self) -> Mapping[str, Any]: ...
    @property
    def run(self) -> RunDir: ...
    @property
    def bundle(self) -> Any: ...
    @property
    def build(self) -> Callable[[], dict]: ...
    @property
    def strategy(self) -> Any: ...
    @property
    def epochs(self) -> int: ...
    @property
    def initial_epoch(self) -> int: ...
    @property
    def checkpoint(self) -> Path | None: ...
    @property
    def base_state(self) -> dict: ...
    @property
    def stopper(self) -> Any: ...
    @property
    def verbose(self) -> Any: ...
    def usage(self, message: str) -> UsageError: ...


@dataclass
class ClusterStop:
    """A signal's stop as the whole cluster agreed on it, the same on every worker.

    `local` is this process's `SignalStop`, whose handler only records the signal. Its flag is
    this worker's vote (`vote`), summed over every worker by a collective operation that all
    of them run at the same point (`tally`); `stopped` is the outcome, which every branch of
    the loop reads. Reading `local.stopped` there instead would let a signal that arrives
    between two collectives send this worker down another path than its peers.
    `EpochCheckpoint` takes this object as its `stopper`.
    """

    local: SignalStop
    agreed: bool = False

    def vote(self) -> float:
        """1.0 when a signal reached this worker, else 0.0."""
        return float(self.local.stopped)

    def tally(self, votes: float) -> bool:
        """Takes the cluster's sum of votes; once one worker voted, every worker stops (and
        exits as the signalled one does: `run_training` raises `Interrupted`)."""
        if votes > 0 and not self.agreed:
            self.agreed = True
            self.local.signum = self.local.signum or signal.SIGTERM
        return self.agreed

    @property
    def stopped(self) -> bool:
        return self.agreed


@dataclass
class Feed:
    """One split distributed over the workers, and how many steps an epoch reads of it.

    Args:
        data: The `tf.distribute.DistributedDataset`.
        steps: Steps per epoch (None: until the data ends).
        keep: Continue the same iterator in the next epoch (Keras's `steps_per_epoch`).
    """

    data: Iterable[Any]
    steps: int | None
    keep: bool = False
    iterator: Iterator[Any] | None = None

    def epoch_iterator(self) -> Iterator[Any]:
        if self.iterator is None or not self.keep:
            self.iterator = iter(self.data)
        return self.iterator


def distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset,
               steps: int | None = None, keep: bool = False) -> Feed:
    """Splits every global batch of `dataset` over the replicas of all workers.

    Sharding is by data (`AutoShardPolicy.DATA`): every worker reads the same, seeded,
    pipeline and takes its part of each batch, so each step sees the batch one machine
    would (the spec's `batch_size` is the global batch).
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    return Feed(strategy.experimental_distribute_dataset(dataset.with_options(options)),
                steps, keep)


def _logs_and_stops(strategy: tf.distribute.Strategy, model: keras.Model,
                    stop: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """Every metric over all workers, and how many replicas ask to stop, in one all-reduce.

    The metrics' variables are SyncOnRead sums; summing their local values over the replicas
    and reading Keras's `get_metrics_result` on the sums (`keras.StatelessScope`) gives the
    values over all workers' data, as reading each variable would, with one collective
    operation instead of one per variable.
    """
    variables = [v for metric in model.metrics for v in metric.variables]
    per_replica = strategy.run(
        lambda: all_reduce_sum([tf.identity(v.value) for v in variables] + [tf.identity(stop)]))
    summed = [strategy.experimental_local_results(v)[0] for v in per_replica]
    with keras.StatelessScope(state_mapping=list(zip(variables, summed[:-1], strict=True))):
        logs = model.get_metrics_result()
    return logs, summed[-1]


def step_function(strategy: tf.distribute.Strategy, model: keras.Model,
                  step: Callable[[Any], Any]) -> StepFunction:
    """A `tf.function(iterator, limit, stop)` running up to `limit` steps of `step`.

    Returns `(steps run, metrics over all workers, number of replicas asking to stop)`.
    """
    @tf.function
    def run(iterator: Any, limit: tf.Tensor,
            stop: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor], tf.Tensor]:
        done = tf.constant(0)
        for _ in tf.range(limit):
            batch = iterator.get_next_as_optional()
            if not batch.has_value():
                break
            strategy.run(step, args=(batch.get_value(),))
            done += 1
        logs, stops = _logs_and_stops(strategy, model, stop)
        return done, logs, stops
    return run


def _floats(logs: Mapping[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in logs.items()}


@dataclass
class Loop:
    """`fit`'s outer loop over Keras's steps, for every worker of a cluster."""

    ctx: LoopContext
    model: keras.Model
    callbacks: keras.callbacks.CallbackList
    spe: int
    stop: ClusterStop
    train_fn: StepFunction = field(init=False)
    test_fn: StepFunction = field(init=False)

    def __post_init__(self) -> None:
        strategy = self.ctx.strategy
        self.train_fn = step_function(strategy, self.model, self.model.train_step)
        self.test_fn = step_function(strategy, self.model, self.model.test_step)

    def train_epoch(self, feed: Feed) -> dict[str, float]:
        """One epoch of training steps; calls the batch hooks like `fit` does.

        Each call of `train_fn` carries this worker's stop vote and returns the cluster's
        sum: all workers leave the epoch after the same call.
        """
        iterator, step, logs = feed.epoch_iterator(), 0, {}
        while feed.steps is None or step < feed.steps:
            limit = self.spe if feed.steps is None else min(self.spe, feed.steps - step)
            self.callbacks.on_train_batch_begin(step)
            done_t, result, stops = self.train_fn(iterator, tf.constant(limit),
                                                  tf.constant(self.stop.vote()))
            done = int(done_t)
            if done:
                logs = _floats(result)
                step += done
                self.callbacks.on_train_batch_end(step - 1, logs)
            if self.stop.tally(float(stops)):  # a signal on some worker: all stop here
                self.model.stop_training = True
                break
            if done < limit:
                feed.iterator = None  # the data ended: a fresh pass next epoch
                break
        return logs

    def evaluate(self, feed: Feed) -> dict[str, float]:
        """Keras's `test_step` over a split; the metrics over all of it, on every worker."""
        self.model.reset_metrics()
        iterator, step, logs = feed.epoch_iterator(), 0, {}
        while feed.steps is None or step < feed.steps:
            limit = self.spe if feed.steps is None else min(self.spe, feed.steps - step)
            done, result, _ = self.test_fn(iterator, tf.constant(limit), tf.constant(0.0))
            if int(done):
                logs = _floats(result)
            step += int(done)
            if int(done) < limit:
                break
        return logs

    def share_decisions(self) -> None:
        """Every worker takes the chief's `stop_training` and learning rate, and the stop
        votes are counted once more (a signal during the last call or the validation)."""
        strategy = self.ctx.strategy
        stop, = broadcast_values(strategy, [float(bool(self.model.stop_training))])
        self.model.stop_training = stop > 0
        self.stop.tally(sum_over_workers(strategy, self.stop.vote()))
        rate = self.model.optimizer.learning_rate
        if isinstance(rate, keras.Variable):  # not a schedule: ReduceLROnPlateau may set it
            broadcast_variables(strategy, [rate])


def _epochs(loop: Loop, feeds: Mapping[str, Feed | None], first: int, last: int,
            val_freq: int) -> dict[str, float]:
    """Trains epochs `first`..`last - 1`; returns the last epoch's logs.

    Every branch reads `loop.stop` (agreed by all workers), so that all run the same
    sequence of collective operations whenever a signal arrives.
    """
    model, callbacks, stop = loop.model, loop.callbacks, loop.stop
    epoch_logs: dict[str, float] = {}
    callbacks.on_train_begin()
    for epoch in range(first, last):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        train_feed, val_feed = feeds["train"], feeds["validation"]
        assert train_feed is not None
        epoch_logs = dict(loop.train_epoch(train_feed))
        average_over_replicas(loop.ctx.strategy, model.non_trainable_weights)  # BN statistics
        if val_feed is not None and not stop.stopped and (epoch + 1) % val_freq == 0:
            val = loop.evaluate(val_feed)
            epoch_logs.update({f"val_{key}": value for key, value in val.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        loop.share_decisions()
        if model.stop_training or stop.stopped:
            break
    callbacks.on_train_end(logs=epoch_logs)  # e.g. restore_best_weights, on every worker
    if not same_on_every_worker(loop.ctx.strategy, model.weights):
        print("warning: the workers ended with different weights; every worker takes the "
              "chief's", file=sys.stderr)
        broadcast_variables(loop.ctx.strategy, model.weights)
    return epoch_logs


def _compiled(ctx: LoopContext) -> tuple[dict, str, keras.Model, Any, int, int]:
    """Builds and compiles the model in the strategy's scope; the chief loads the checkpoint
    and every worker takes its weights, optimizer state and epoch."""
    strategy = ctx.strategy
    with strategy.scope():
        models = ctx.build()
        if len(models) != 1:
            raise ctx.usage(f"the supervised loop trains one model, the spec has "
                            f"{len(models)} ({', '.join(models)}); use 'model:' or pick "
                            "train.type: adversarial")
        (name, model), = models.items()
        optimizer = compile_model(model, dict(ctx.train))
        optimizer.build(model.trainable_variables)
    if ctx.checkpoint is not None:  # only the chief has one; Keras's load_weights creates
        # variables of its own, which inside the scope would be collective operations
        load_models(ctx.checkpoint, models, {name: optimizer})
    first, last = broadcast_values(strategy, [ctx.initial_epoch, ctx.epochs])
    broadcast_variables(strategy, list(model.weights) + list(optimizer.variables))
    return models, name, model, optimizer, int(first), int(last)


def _feeds(ctx: LoopContext) -> tuple[dict[str, Feed | None], int | None]:
    """The training and validation splits, distributed; and the steps of an epoch."""
    train, bundle = ctx.train, ctx.bundle
    steps = train.get("steps_per_epoch")
    if steps is None:
        count = int(bundle.train.cardinality())
        steps = count if count > 0 else None
    data = bundle.train
    if train.get("class_weight"):
        data = with_class_weights(data, train["class_weight"])
    feeds = {"train": distribute(ctx.strategy, data, steps, keep="steps_per_epoch" in train),
             "validation": None if bundle.validation is None else
             distribute(ctx.strategy, bundle.validation, train.get("validation_steps"))}
    return feeds, steps


def _callbacks(ctx: LoopContext, models: dict, optimizer: Any, stop: ClusterStop,
               steps: int | None, first: int, last: int) -> keras.callbacks.CallbackList:
    """The checkpoint, divergence guard and the spec's callbacks, as `fit` would call them.

    `EpochCheckpoint` counts an epoch as cut short only when the cluster agreed to stop.
    """
    (name, model), = models.items()
    has_val = ctx.bundle.validation is not None
    cb_conf = ctx.train.get("callbacks") or {}
    ck_conf = cb_conf.get("checkpoint") or {}
    checkpoint = EpochCheckpoint(ctx.run, models, {name: optimizer}, ctx.base_state,
                                 monitor=ck_conf.get("monitor",
                                                     "val_loss" if has_val else "loss"),
                                 mode=ck_conf.get("mode", "auto"), stopper=stop,
                                 keep=ck_conf.get("keep"))
    cbs = [DivergenceGuard(ctx.run), checkpoint]
    cbs += spec_callbacks(ctx.run, cb_conf, has_val, resumed=first > 0)
    return keras.callbacks.CallbackList(
        cbs, add_history=False, add_progbar=ctx.verbose != 0, verbose=ctx.verbose,
        epochs=last, steps=steps, model=model)


def run_multiworker(ctx: LoopContext) -> dict[str, Any]:
    """Trains the single model of `ctx` on every worker of the cluster in `TF_CONFIG`.

    Args:
        ctx: A `modelspec.training.run.TrainContext` whose strategy is a
            `MultiWorkerMirroredStrategy`.

    Returns:
        Final metrics: the last epoch's logs plus the test (or validation) evaluation, as
        `run_supervised` returns them; empty when a signal stopped training (then every
        worker's `ctx.stopper` holds it).

    Raises:
        DivergedError: At the first non-finite loss (on every worker).
        ClusterError: When a worker becomes unreachable.
    """
    train, bundle, stop = ctx.train, ctx.bundle, ClusterStop(ctx.stopper)
    with lost_worker_as_error(ctx.run.root):
        models, _, model, optimizer, first, last = _compiled(ctx)
        feeds, steps = _feeds(ctx)
        callbacks = _callbacks(ctx, models, optimizer, stop, steps, first, last)
        # steps per call: the spec's, else 8 as on one machine (each call ends with one
        # all-reduce of the metrics, on top of the gradients' one per step)
        spe = int(train.get("steps_per_execution", DEFAULT_STEPS_PER_EXECUTION))
        loop = Loop(ctx, model, callbacks, spe, stop)
        logs = _epochs(loop, feeds, first, last, int(train.get("validation_freq", 1))) \
            if first < last else {}
        ctx.models = models
        if stop.stopped:
            return {}
        final: dict[str, Any] = _floats(logs)
        for split in ("test", "validation"):
            data = getattr(bundle, split, None)
            if data is not None:
                result = loop.evaluate(distribute(ctx.strategy, data))
                final.update({f"{split}_{key}": value for key, value in result.items()})
                break
        if stop.tally(sum_over_workers(ctx.strategy, stop.vote())):
            return {}  # a signal during the evaluation: every worker exits as interrupted
    return final
