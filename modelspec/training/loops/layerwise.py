"""Greedy layer-wise pretraining of stacked (denoising) autoencoders, then fine-tuning.

The lectures' algorithm (Bengio et al. 2007; Vincent et al. 2008): for each listed Dense layer,
from the input upwards, train a one-hidden-layer autoencoder whose encoder *is* that layer
(weights shared), on the representation computed by the layers below it (frozen), with the
input optionally corrupted (Gaussian noise or dropout masking) during training only. Then the
whole network is fine-tuned with the supervised loop (`fit`, the spec's loss and metrics).

```yaml
train:
  type: layerwise
  pretrain: {layers: [h1, h2, h3], epochs: 5, noise: 0.2, corruption: dropout,
             optimizer: {type: Adam, learning_rate: 0.001}, loss: mse}
  epochs: 10                      # fine-tuning
  optimizer: adam
  loss: sparse_categorical_crossentropy
```
"""

from __future__ import annotations

from typing import Any

import keras

from modelspec.errors import UsageError
from modelspec.training import objects
from modelspec.training.callbacks import DivergenceGuard, EpochCheckpoint
from modelspec.training.config import PretrainConfig
from modelspec.training.context import TrainContext
from modelspec.training.loops.supervised import run_supervised
from modelspec.training.rundir import RunDir


def _autoencoder(layer: Any, config: PretrainConfig) -> Any:
    shape = tuple(layer.input.shape[1:])
    if len(shape) != 1:
        raise UsageError(f"layer '{layer.name}' reads inputs of shape {shape}; layer-wise "
                         "pretraining needs Dense layers on flat features (add a Flatten)")
    x = keras.Input(shape=shape, name=f"{layer.name}_pretrain_input")
    corrupted = x
    noise = config.noise
    if noise > 0:
        if config.corruption == "dropout":
            corrupted = keras.layers.Dropout(noise)(x)
        else:
            corrupted = keras.layers.GaussianNoise(noise)(x)
    code = layer(corrupted)
    decoded = keras.layers.Dense(shape[0], activation=config.decoder_activation,
                                 name=f"{layer.name}_decoder")(code)
    return keras.Model(x, decoded, name=f"{layer.name}_autoencoder")


def pretrain(model: Any, dataset: Any, config: PretrainConfig, run: RunDir,
             verbose: int | str = 0) -> dict[str, float]:
    """Pretrains the listed Dense layers of `model` greedily; returns their final losses.

    Args:
        model: The functional model whose layers are pretrained in place.
        dataset: Batches of `(inputs, targets)` or inputs; only the inputs are used.
        config: The spec's `train.pretrain`.
        run: The run directory (for the divergence message).
        verbose: Keras progress output.

    Returns:
        `{"pretrain_<layer>_loss": value}` per layer.

    Raises:
        UsageError: For a layer id that does not exist or is not a Dense layer.
        DivergedError: For a NaN loss while pretraining.
    """
    inputs_only = dataset.map(lambda *parts: parts[0])
    out = {}
    for layer_id in config.layers:
        try:
            layer = model.get_layer(layer_id)
        except ValueError:
            names = [lay.name for lay in model.layers]
            raise UsageError(f"train.pretrain.layers: no layer '{layer_id}' in the model "
                             f"(layers: {', '.join(names)})") from None
        if not isinstance(layer, keras.layers.Dense):
            raise UsageError(f"train.pretrain.layers: '{layer_id}' is a "
                             f"{type(layer).__name__}; only Dense layers are pretrained")
        # the layers below, as a model used only inside `dataset.map` (no gradient reaches
        # them there); not frozen: `trainable = False` would freeze the shared layers of
        # `model` itself for fine-tuning too
        features = keras.Model(model.inputs, layer.input)
        data = inputs_only.map(lambda inp, f=features: (f(inp, training=False),) * 2)
        auto = _autoencoder(layer, config)
        auto.compile(optimizer=objects.make_optimizer(config.optimizer),
                     loss=objects.make_loss(config.loss))
        hist = auto.fit(data, epochs=config.epochs, verbose=verbose, shuffle=False,
                        callbacks=[DivergenceGuard(run)])
        out[f"pretrain_{layer_id}_loss"] = float(hist.history["loss"][-1])
        if verbose != 0:
            loss = out[f"pretrain_{layer_id}_loss"]
            print(f"pretrained {layer_id}: reconstruction loss {loss:.4f}", flush=True)
    return out


def run_layerwise(ctx: TrainContext) -> dict[str, float]:
    """Pretrains layer by layer (once per run), then fine-tunes with `fit`.

    A resumed run whose pretraining finished continues with fine-tuning from its checkpoint.
    """
    models = ctx.build()
    if len(models) != 1:
        raise UsageError("the layer-wise loop trains one model; use 'model:' in the spec")
    (name, model), = models.items()
    results: dict[str, float] = {}
    if ctx.checkpoint is None:
        assert ctx.config.pretrain is not None  # the section's check requires it
        results = pretrain(model, ctx.bundle.train, ctx.config.pretrain, ctx.run,
                           verbose=0 if ctx.verbose == 0 else 2)
        EpochCheckpoint(ctx.run, models, {}, dict(ctx.base_state, pretrain=results)).save(0, None)
        ctx.base_state = dict(ctx.base_state, pretrain=results)
    else:
        results = (ctx.run.state() or {}).get("pretrain", {})
        ctx.base_state = dict(ctx.base_state, pretrain=results)
    final = run_supervised(ctx)
    if final:
        final.update(results)
    return final
