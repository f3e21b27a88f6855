"""The supervised loop: Keras `fit` with the spec's optimizer, losses, metrics and callbacks.

Several outputs get one loss each (`loss: {digit: ..., parity: ...}`) and `loss_weights`;
`class_weight` maps class indices to weights; `weighted_metrics` are weighted by the
`data.sample_weights` the datasets yield (per output). The loop resumes from a checkpoint with the
optimizer's state and continues at the next epoch (`initial_epoch`).
"""

from __future__ import annotations

from modelspec.training import objects
from modelspec.training.callbacks import (
    CompletedEpochsCSVLogger,
    DivergenceGuard,
    EpochCheckpoint,
    spec_callbacks,
)
from modelspec.training.class_weights import with_class_weights
from modelspec.training.exact import (
    EpochOrder,
    RestoreCallbackState,
    load_random_state,
    random_variables,
)
from modelspec.training.midepoch import resume_callbacks
from modelspec.training.rundir import load_models
from modelspec.training.runtime import autoclustering, compile_options, wants_autoclustering


def output_names(model) -> list[str]:
    """The names of a model's outputs (the spec's `outputs:` keys for a dict-output model)."""
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, dict):
        return list(struct)
    return list(model.output_names)


def compile_model(model, train: dict):
    """Compiles `model` from a `train:` section and returns its (possibly wrapped) optimizer."""
    outs = output_names(model)
    weights = train.get("loss_weights")
    if isinstance(weights, list):
        weights = dict(zip(outs, weights))
    model.compile(optimizer=objects.make_optimizer(train.get("optimizer")),
                  loss=objects.losses_for(train["loss"], outs), loss_weights=weights,
                  metrics=objects.metrics_for(train.get("metrics"), outs),
                  weighted_metrics=objects.metrics_for(train.get("weighted_metrics"), outs),
                  **compile_options(train, model))
    return model.optimizer


def evaluate(model, bundle, verbose=0) -> dict:
    """Evaluates on the test split (else validation); returns `{test_loss: ...}` style keys."""
    for split in ("test", "validation"):
        data = getattr(bundle, split, None)
        if data is not None:
            result = model.evaluate(data, return_dict=True, verbose=verbose)
            return {f"{split}_{k}": float(v) for k, v in result.items()}
    return {}


def run_supervised(ctx) -> dict:
    """Trains the single model of `ctx` with `fit`; returns the final metrics.

    Args:
        ctx: A `modelspec.training.run.TrainContext`.

    Returns:
        Final metrics: the last epoch's logs plus the test (or validation) evaluation.

    Raises:
        DivergedError: At the first non-finite loss (the last checkpoint is kept).
    """
    train = ctx.train
    with ctx.strategy.scope():
        models = ctx.build()
        name = train.get("model") or next(iter(models))
        if name not in models or (len(models) > 1 and "model" not in train):
            raise ctx.usage(f"the supervised loop trains one model, the spec has "
                            f"{len(models)} ({', '.join(models)}); name it with "
                            "train.model, or pick train.type: adversarial")
        model = models[name]  # the others share its layers and are saved with it
        optimizer = compile_model(model, train)
        randomness = random_variables(models, getattr(ctx.bundle, "random_layers", None))
        if ctx.checkpoint is not None:
            optimizer.build(model.trainable_variables)
            load_models(ctx.checkpoint, models, {name: optimizer})
            load_random_state(ctx.checkpoint, randomness)
    has_val = ctx.bundle.validation is not None
    cb_conf = train.get("callbacks") or {}
    ck_conf = cb_conf.get("checkpoint") or {}
    extra = spec_callbacks(ctx.run, cb_conf, has_val, resumed=ctx.initial_epoch > 0)
    checkpoint = EpochCheckpoint(ctx.run, models, {name: optimizer}, ctx.base_state,
                                 monitor=ck_conf.get("monitor",
                                                     "val_loss" if has_val else "loss"),
                                 mode=ck_conf.get("mode", "auto"), stopper=ctx.stopper,
                                 random_state=randomness, carried=extra,
                                 data_random=random_variables(
                                     {}, getattr(ctx.bundle, "random_layers", None)))
    for callback in extra:
        if isinstance(callback, CompletedEpochsCSVLogger):  # skips an interrupted epoch
            callback.checkpoint = checkpoint
    resumed = ctx.resume_state or {}
    # counters continue across a resume, except after early stopping: training longer then
    # starts a fresh patience window (else it would stop again after one epoch)
    resumed_state = None if resumed.get("stopped_early") else resumed.get("callbacks")
    # the checkpoint comes last: it saves the counters of the spec's callbacks after them
    callbacks = [EpochOrder(getattr(ctx.bundle, "epoch", None)),
                 *resume_callbacks(ctx.resume_state, ctx.checkpoint), DivergenceGuard(ctx.run),
                 ctx.stopper, *extra, RestoreCallbackState(extra, resumed_state, ctx.checkpoint),
                 checkpoint]
    fit_args = {}
    for key in ("steps_per_epoch", "validation_steps", "validation_freq"):
        if key in train:
            fit_args[key] = train[key]
    data = ctx.bundle.train
    if train.get("class_weight"):  # fit's own class_weight refuses dict targets
        data = with_class_weights(data, train["class_weight"])
    history = {}
    with autoclustering(wants_autoclustering(train, model)):
        if ctx.initial_epoch < ctx.epochs:
            hist = model.fit(data, validation_data=ctx.bundle.validation,
                             epochs=ctx.epochs, initial_epoch=ctx.initial_epoch,
                             callbacks=callbacks, verbose=ctx.verbose, shuffle=False,
                             **fit_args)
            history = hist.history
        ctx.models = models
        if ctx.stopper.stopped:
            return {}
        final = {k: float(v[-1]) for k, v in history.items() if v}
        final.update(evaluate(model, ctx.bundle))
    return final
