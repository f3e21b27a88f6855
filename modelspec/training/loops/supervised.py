"""The supervised loop: Keras `fit` with the spec's optimizer, losses, metrics and callbacks.

Several outputs get one loss each (`loss: {digit: ..., parity: ...}`) and `loss_weights`;
`class_weight` maps class indices to weights; `weighted_metrics` are weighted by the
`data.sample_weights` the datasets yield (per output). The loop resumes from a checkpoint with the
optimizer's state and continues at the next epoch (`initial_epoch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.training import objects
from modelspec.training.callbacks import (
    CompletedEpochsCSVLogger,
    DivergenceGuard,
    EpochCheckpoint,
    spec_callbacks,
)
from modelspec.training.class_weights import with_class_weights
from modelspec.training.config import TrainConfig
from modelspec.training.context import TrainContext
from modelspec.training.exact import (
    EpochOrder,
    RestoreCallbackState,
    load_random_state,
    random_variables,
)
from modelspec.training.midepoch import resume_callbacks
from modelspec.training.rundir import load_models
from modelspec.training.runtime import autoclustering, compile_options, wants_autoclustering


def output_names(model: Any) -> list[str]:
    """The names of a model's outputs (the spec's `outputs:` keys for a dict-output model)."""
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, dict):
        return list(struct)
    return list(model.output_names)


def compile_model(model: Any, train: TrainConfig | Mapping[str, Any]) -> Any:
    """Compiles `model` from a `train:` section and returns its (possibly wrapped) optimizer.

    `train` is a `TrainConfig` (a raw section is read through `TrainConfig.from_section`:
    the multi-worker loop passes one).
    """
    config = TrainConfig.of(train)
    outs = output_names(model)
    weights = config.loss_weights
    if isinstance(weights, list):
        weights = dict(zip(outs, weights))
    model.compile(optimizer=objects.make_optimizer(config.optimizer),
                  loss=objects.losses_for(config.loss, outs), loss_weights=weights,
                  metrics=objects.metrics_for(config.metrics, outs),
                  weighted_metrics=objects.metrics_for(config.weighted_metrics, outs),
                  **compile_options(config.runtime, model))
    return model.optimizer


def evaluate(model: Any, bundle: Any, verbose: int | str = 0) -> dict[str, float]:
    """Evaluates on the test split (else validation); returns `{test_loss: ...}` style keys."""
    for split in ("test", "validation"):
        data = getattr(bundle, split, None)
        if data is not None:
            result = model.evaluate(data, return_dict=True, verbose=verbose)
            return {f"{split}_{k}": float(v) for k, v in result.items()}
    return {}


def _build_and_restore(ctx: TrainContext) -> tuple[dict[str, Any], str, Any, list[Any]]:
    """Builds and compiles the trained model inside the strategy's scope and, on a resume,
    loads its checkpoint; returns (models, trained model's name, its optimizer, the random
    state carried across a resume)."""
    config = ctx.config
    with ctx.strategy.scope():
        models = ctx.build()
        name = config.model or next(iter(models))
        if name not in models or (len(models) > 1 and config.model is None):
            raise ctx.usage(f"the supervised loop trains one model, the spec has "
                            f"{len(models)} ({', '.join(models)}); name it with "
                            "train.model, or pick train.type: adversarial")
        model = models[name]  # the others share its layers and are saved with it
        optimizer = compile_model(model, config)
        randomness = random_variables(models, getattr(ctx.bundle, "random_layers", None))
        if ctx.checkpoint is not None:
            optimizer.build(model.trainable_variables)
            load_models(ctx.checkpoint, models, {name: optimizer})
            load_random_state(ctx.checkpoint, randomness)
    return models, name, optimizer, randomness


def _callbacks(ctx: TrainContext, models: dict[str, Any], optimizers: dict[str, Any],
               randomness: list[Any]) -> list[Any]:
    """`fit`'s callbacks: epoch order, divergence, signals, the spec's, the checkpoint."""
    has_val = ctx.bundle.validation is not None
    callbacks = ctx.config.callbacks
    extra = spec_callbacks(ctx.run, callbacks, has_val, resumed=ctx.initial_epoch > 0)
    checkpoint = EpochCheckpoint(ctx.run, models, optimizers, ctx.base_state,
                                 monitor=callbacks.checkpoint.monitor_for(has_val),
                                 mode=callbacks.checkpoint.mode, stopper=ctx.stopper,
                                 random_state=randomness, carried=extra,
                                 data_random=random_variables(
                                     {}, getattr(ctx.bundle, "random_layers", None)),
                                 keep=callbacks.checkpoint.keep)
    for callback in extra:
        if isinstance(callback, CompletedEpochsCSVLogger):  # skips an interrupted epoch
            callback.checkpoint = checkpoint
    resumed = ctx.resume_state or {}
    # counters continue across a resume, except after early stopping: training longer then
    # starts a fresh patience window (else it would stop again after one epoch)
    resumed_state = None if resumed.get("stopped_early") else resumed.get("callbacks")
    # the checkpoint comes last: it saves the counters of the spec's callbacks after them
    return [EpochOrder(getattr(ctx.bundle, "epoch", None)),
            *resume_callbacks(ctx.resume_state, ctx.checkpoint), DivergenceGuard(ctx.run),
            ctx.stopper, *extra, RestoreCallbackState(extra, resumed_state, ctx.checkpoint),
            checkpoint]


def run_supervised(ctx: TrainContext) -> dict[str, float]:
    """Trains the single model of `ctx` with `fit`; returns the final metrics.

    Args:
        ctx: A `modelspec.training.context.TrainContext`.

    Returns:
        Final metrics: the last epoch's logs plus the test (or validation) evaluation.

    Raises:
        DivergedError: At the first non-finite loss (the last checkpoint is kept).
    """
    config = ctx.config
    models, name, optimizer, randomness = _build_and_restore(ctx)
    model = models[name]
    callbacks = _callbacks(ctx, models, {name: optimizer}, randomness)
    data = ctx.bundle.train
    if config.class_weight:  # fit's own class_weight refuses dict targets
        data = with_class_weights(data, config.class_weight)
    history: dict[str, list[Any]] = {}
    with autoclustering(wants_autoclustering(config.runtime, model)):
        if ctx.initial_epoch < ctx.epochs:
            hist = model.fit(data, validation_data=ctx.bundle.validation,
                             epochs=ctx.epochs, initial_epoch=ctx.initial_epoch,
                             callbacks=callbacks, verbose=ctx.verbose, shuffle=False,
                             **config.fit_arguments)
            history = hist.history
        ctx.models = models
        if ctx.stopper.stopped:
            return {}
        final = {k: float(v[-1]) for k, v in history.items() if v}
        final.update(evaluate(model, ctx.bundle))
    return final
