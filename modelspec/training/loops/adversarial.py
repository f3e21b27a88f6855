"""The adversarial loop: GANs and conditional GANs from a `models:` spec, no user code.

The generator's outputs feed the discriminator inputs of the same names; every other
discriminator input and every generator input except the noise are *conditions* taken from
the data batch (cGAN labels, pix2pix edge maps). Per generator step the discriminator takes
`discriminator_steps` steps; real labels are smoothed one-sidedly (`label_smoothing`).
An optional `reconstruction` loss pulls generator outputs towards the real samples of the
same names (pix2pix's L1 term). A grid of generated samples is saved per epoch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from modelspec.errors import UsageError
from modelspec.training import objects
from modelspec.training.callbacks import DivergenceGuard, EpochCheckpoint
from modelspec.training.config import AdversarialConfig, SamplesConfig
from modelspec.training.context import TrainContext
from modelspec.training.rundir import RunDir, load_models


def _io_names(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    ins = model._inputs_struct if isinstance(model._inputs_struct, dict) else {
        t.name: t for t in model.inputs}
    outs = model._outputs_struct if isinstance(model._outputs_struct, dict) else {
        t.name: t for t in model.outputs}
    return ins, outs


def _merge(batch: Any) -> dict[str, Any]:
    if isinstance(batch, (tuple, list)):
        merged: dict[str, Any] = {}
        for part in batch:
            if isinstance(part, dict):
                merged.update(part)
        return merged
    return dict(batch)


def save_grid(images: np.ndarray, path: str, columns: int = 8) -> None:
    """Saves generated samples (N, H, W[, C]) as one PNG grid, written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    images = np.asarray(images, dtype="float32")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.min() < 0:
        images = (images + 1.0) / 2.0
    images = np.clip(images, 0.0, 1.0)
    count = len(images)
    cols = min(columns, count)
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image in zip(axes.flat, images):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    fig.tight_layout(pad=0.1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=72)
    plt.close(fig)
    os.replace(tmp, path)


class _Gan:
    """The two compiled train steps of one generator/discriminator pair."""

    def __init__(self, config: AdversarialConfig, gen: Any, disc: Any) -> None:
        self.gen, self.disc = gen, disc
        g_in, g_out = _io_names(gen)
        d_in, d_out = _io_names(disc)
        self.noise = config.noise
        self.noise_name = config.noise.input
        if self.noise_name and self.noise_name not in g_in:
            raise UsageError(f"train.noise.input '{self.noise_name}' is not an input of the "
                             f"generator (inputs: {', '.join(g_in)})")
        self.noise_shape = tuple(g_in[self.noise_name].shape[1:]) if self.noise_name else ()
        missing = [n for n in g_out if n not in d_in]
        if missing:
            raise UsageError(f"generator output(s) {', '.join(missing)} are not inputs of the "
                             f"discriminator (inputs: {', '.join(d_in)}); name them alike")
        if len(d_out) != 1:
            raise UsageError("the discriminator must have exactly one output (real/fake)")
        self.g_out = list(g_out)
        self.g_conditions = [n for n in g_in if n != self.noise_name]
        self.d_conditions = [n for n in d_in if n not in g_out]
        self.loss = objects.make_loss(config.loss)
        self.smoothing = config.label_smoothing
        rec = config.reconstruction
        self.rec_weight = rec.weight if rec else 0.0
        self.rec_loss = objects.make_loss(rec.loss) if rec else None

    def sample_noise(self, batch_size: Any, seed: int | None = None) -> Any:
        """A batch of the generator's noise input; None for a generator without one (pix2pix,
        whose only noise is dropout)."""
        if not self.noise_name:
            return None
        shape = (batch_size,) + self.noise_shape
        if self.noise.distribution == "uniform":
            return tf.random.uniform(shape, self.noise.minval, self.noise.maxval, seed=seed)
        return tf.random.normal(shape, stddev=self.noise.stddev, seed=seed)

    def generate(self, batch: dict[str, Any], noise: Any, training: bool) -> Any:
        inputs = {n: batch[n] for n in self.g_conditions}
        if self.noise_name:
            inputs[self.noise_name] = noise
        return self.gen(inputs, training=training)

    def discriminate(self, images: dict[str, Any], batch: dict[str, Any],
                     training: bool) -> Any:
        inputs = dict(images)
        inputs.update({n: batch[n] for n in self.d_conditions})
        out = self.disc(inputs, training=training)
        return next(iter(out.values())) if isinstance(out, dict) else out

    def batch_size(self, batch: dict[str, Any]) -> Any:
        return tf.shape(next(iter(batch.values())))[0]

    def d_loss(self, batch: dict[str, Any], training: bool = True) -> Any:
        fake = self.generate(batch, self.sample_noise(self.batch_size(batch)), training)
        real_logit = self.discriminate({n: batch[n] for n in self.g_out}, batch, training)
        fake_logit = self.discriminate(fake, batch, training)
        real = self.loss(tf.ones_like(real_logit) * (1.0 - self.smoothing), real_logit)
        return real + self.loss(tf.zeros_like(fake_logit), fake_logit)

    def g_loss(self, batch: dict[str, Any], training: bool = True) -> Any:
        fake = self.generate(batch, self.sample_noise(self.batch_size(batch)), training)
        fake_logit = self.discriminate(fake, batch, training)
        loss = self.loss(tf.ones_like(fake_logit), fake_logit)
        if self.rec_loss is not None:
            for name in self.g_out:
                loss += self.rec_weight * self.rec_loss(batch[name], fake[name])
        return loss


def _step_fn(loss_fn: Callable[[Any], Any], model: Any, optimizer: Any, batch: Any) -> Any:
    with tf.GradientTape() as tape:
        loss = loss_fn(batch)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


def _build(ctx: TrainContext) -> tuple[Any, Any, dict[str, Any]]:
    """The generator, the discriminator and their optimizers (restored on a resume)."""
    config = ctx.config.adversarial
    gname, dname = config.generator, config.discriminator
    models = ctx.build()
    for name in (gname, dname):
        if name not in models:
            raise UsageError(f"no model named '{name}' (models: {', '.join(models)})")
    gen, disc = models[gname], models[dname]
    with ctx.strategy.scope():
        g_opt = objects.make_optimizer(config.generator_optimizer)
        d_opt = objects.make_optimizer(config.discriminator_optimizer)
        g_opt.build(gen.trainable_variables)
        d_opt.build(disc.trainable_variables)
    optimizers = {gname: g_opt, dname: d_opt}
    if ctx.checkpoint is not None:
        load_models(ctx.checkpoint, {gname: gen, dname: disc}, optimizers)
    return gen, disc, optimizers


class _Samples:
    """The grid of generated samples saved every `samples.every` epochs, always from the same
    noise and the same conditions (the first training batch's)."""

    def __init__(self, gan: _Gan, config: SamplesConfig, first: dict[str, Any]) -> None:
        self.gan, self.config = gan, config
        count = min(config.count, int(gan.batch_size(first)))
        self.noise = gan.sample_noise(count, seed=1234) if gan.noise_name else None
        self.batch = {k: v[:count] for k, v in first.items()}

    def save(self, run: RunDir, epoch: int, last: int) -> None:
        """Writes `samples/epoch-NNNN.png` after `epoch` when it is due (and after the last)."""
        if (epoch + 1) % self.config.every != 0 and epoch + 1 != last:
            return
        fake = self.gan.generate(self.batch, self.noise, training=False)
        key = self.config.output or self.gan.g_out[0]
        n = int(tf.shape(fake[key])[0])
        save_grid(np.asarray(fake[key])[:n], str(run.path("samples", f"epoch-{epoch + 1:04d}.png")))


def _epoch(ctx: TrainContext, steps: tuple[Callable[[Any], Any], Callable[[Any], Any]],
           guard: DivergenceGuard) -> dict[str, float]:
    """One pass over the training split: `discriminator_steps` discriminator steps, then
    `generator_steps` generator steps per batch; returns the epoch's mean losses."""
    config = ctx.config.adversarial
    d_step, g_step = steps
    d_mean, g_mean = keras.metrics.Mean(), keras.metrics.Mean()
    for step, batch in enumerate(ctx.bundle.train):
        batch = _merge(batch)
        for _ in range(config.discriminator_steps):
            d_mean.update_state(d_step(batch))
        for _ in range(config.generator_steps):
            g_mean.update_state(g_step(batch))
        guard.check({"d_loss": d_mean.result(), "g_loss": g_mean.result()}, step)
        if ctx.stopper.stopped:
            break
    return {"d_loss": float(d_mean.result()), "g_loss": float(g_mean.result())}


def run_adversarial(ctx: TrainContext) -> dict[str, float]:
    """Trains a generator and a discriminator against each other; returns final metrics.

    Args:
        ctx: A `modelspec.training.context.TrainContext` whose models include the generator
            and the discriminator named by `train.generator` / `train.discriminator`.

    Returns:
        The last epoch's `d_loss` and `g_loss`.
    """
    config = ctx.config.adversarial
    gen, disc, optimizers = _build(ctx)
    models = {config.generator: gen, config.discriminator: disc}
    gan = _Gan(config, gen, disc)
    g_opt, d_opt = optimizers[config.generator], optimizers[config.discriminator]
    steps = (tf.function(lambda b: _step_fn(gan.d_loss, disc, d_opt, b)),
             tf.function(lambda b: _step_fn(gan.g_loss, gen, g_opt, b)))
    guard = DivergenceGuard(ctx.run)
    checkpoint = EpochCheckpoint(ctx.run, models, optimizers, ctx.base_state,
                                 monitor="g_loss", mode="min", stopper=ctx.stopper)
    samples = _Samples(gan, config.samples, _merge(next(iter(ctx.bundle.train))))
    writer = tf.summary.create_file_writer(str(ctx.run.path("logs", "train")))
    logs: dict[str, float] = {}
    for epoch in range(ctx.initial_epoch, ctx.epochs):
        guard.on_epoch_begin(epoch)
        logs = _epoch(ctx, steps, guard)
        if ctx.stopper.stopped:
            checkpoint.on_epoch_end(epoch, logs)
            break
        with writer.as_default():
            for key, value in logs.items():
                tf.summary.scalar(key, value, step=epoch + 1)
        if ctx.verbose != 0:
            print(f"epoch {epoch + 1}/{ctx.epochs} - d_loss: {logs['d_loss']:.4f} - "
                  f"g_loss: {logs['g_loss']:.4f}", flush=True)
        samples.save(ctx.run, epoch, ctx.epochs)
        checkpoint.on_epoch_end(epoch, logs)
    writer.close()
    ctx.models = models
    return {} if ctx.stopper.stopped else logs
