"""Supervised training under `MultiWorkerMirroredStrategy` with a custom loop.

Keras 3.15's `fit` fails under `MultiWorkerMirroredStrategy` (keras-team/keras#20585), so
this loop runs the train step itself with `strategy.run`: each replica computes its
per-example losses on its share of the global batch, scales them by the global batch size
(`tf.nn.compute_average_loss`), and the optimizer's `apply_gradients` all-reduces the
gradients across workers; every worker therefore ends with identical weights. The dataset is
distributed with `strategy.experimental_distribute_dataset` (the spec's `batch_size` is the
global batch). Checkpoints, divergence and signals work as in the supervised loop.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from modelspec.training import objects
from modelspec.training.callbacks import DivergenceGuard, EpochCheckpoint
from modelspec.training.loops.supervised import output_names
from modelspec.training.rundir import load_models


def _same_rank(y_true, y_pred):
    """Aligns (N,) targets with (N, 1) outputs as Keras's losses do before a loss function
    (`squeeze_or_expand_to_same_rank` in keras/src/losses/loss.py, not public API)."""
    if len(y_pred.shape) == len(y_true.shape) + 1 and y_pred.shape[-1] == 1:
        y_true = tf.expand_dims(y_true, -1) if len(y_true.shape) == 1 else y_true
    return y_true, y_pred


def _per_example(loss, y_true, y_pred):
    if isinstance(loss, keras.losses.Loss):
        values = loss.call(y_true, y_pred)
    else:
        values = loss(*_same_rank(y_true, y_pred))
    values = tf.cast(values, tf.float32)
    rank = len(values.shape)
    return tf.reduce_mean(values, axis=list(range(1, rank))) if rank > 1 else values


def run_multiworker(ctx) -> dict:
    """Trains the single model of `ctx` on all workers of the cluster in `TF_CONFIG`.

    Returns:
        The last epoch's mean training loss (`{"loss": ...}`).
    """
    strategy, train = ctx.strategy, ctx.train
    models = ctx.build()
    (name, model), = models.items()
    outs = output_names(model)
    losses = objects.losses_for(train["loss"], outs)
    weights = train.get("loss_weights") or {}
    if isinstance(weights, list):
        weights = dict(zip(outs, weights))
    with strategy.scope():
        optimizer = objects.make_optimizer(train.get("optimizer"))
        optimizer.build(model.trainable_variables)
    if ctx.checkpoint is not None:
        load_models(ctx.checkpoint, models, {name: optimizer})
    global_batch = None

    def replica_step(inputs, targets, sample_weights):
        with tf.GradientTape() as tape:
            preds = model(inputs, training=True)
            per_example = 0.0
            for out, loss in losses.items():
                values = _per_example(loss, targets[out], preds[out])
                if out in sample_weights:  # data.sample_weights, as Keras's fit weighs them
                    values *= tf.reshape(tf.cast(sample_weights[out], tf.float32), [-1])
                per_example += float(weights.get(out, 1.0)) * values
            loss_value = tf.nn.compute_average_loss(per_example,
                                                    global_batch_size=global_batch)
            loss_value += tf.nn.scale_regularization_loss(tf.add_n(model.losses)) \
                if model.losses else 0.0
        grads = tape.gradient(loss_value, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss_value

    @tf.function
    def train_step(batch):
        inputs, targets, *rest = batch  # (inputs, targets[, per-output sample weights])
        per_replica = strategy.run(replica_step, args=(inputs, targets,
                                                       rest[0] if rest else {}))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    dataset = ctx.bundle.train
    first_inputs = next(iter(dataset))[0]
    global_batch = int(tf.shape(next(iter(first_inputs.values())))[0])
    distributed = strategy.experimental_distribute_dataset(dataset)
    guard = DivergenceGuard(ctx.run, keys=["loss"])
    checkpoint = EpochCheckpoint(ctx.run, models, {name: optimizer}, ctx.base_state,
                                 monitor="loss", mode="min", stopper=ctx.stopper)
    logs = {}
    for epoch in range(ctx.initial_epoch, ctx.epochs):
        guard.on_epoch_begin(epoch)
        mean = keras.metrics.Mean()
        for step, batch in enumerate(distributed):
            mean.update_state(train_step(batch))
            guard.check({"loss": mean.result()}, step)
            if ctx.stopper.stopped:
                break
        logs = {"loss": float(mean.result())}
        if ctx.verbose != 0:
            print(f"epoch {epoch + 1}/{ctx.epochs} - loss: {logs['loss']:.4f} "
                  f"({strategy.num_replicas_in_sync} replicas)", flush=True)
        checkpoint.on_epoch_end(epoch, logs)
        if ctx.stopper.stopped:
            break
    ctx.models = models
    return {} if ctx.stopper.stopped else logs
