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

import keras
import numpy as np
import tensorflow as tf

from modelspec.errors import UsageError
from modelspec.training import objects
from modelspec.training.callbacks import DivergenceGuard, EpochCheckpoint
from modelspec.training.rundir import load_models


def _io_names(model):
    ins = model._inputs_struct if isinstance(model._inputs_struct, dict) else {
        t.name: t for t in model.inputs}
    outs = model._outputs_struct if isinstance(model._outputs_struct, dict) else {
        t.name: t for t in model.outputs}
    return ins, outs


def _merge(batch) -> dict:
    if isinstance(batch, (tuple, list)):
        merged = {}
        for part in batch:
            if isinstance(part, dict):
                merged.update(part)
        return merged
    return dict(batch)


def save_grid(images: np.ndarray, path, columns: int = 8) -> None:
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

    def __init__(self, train, gen, disc):
        self.gen, self.disc = gen, disc
        g_in, g_out = _io_names(gen)
        d_in, d_out = _io_names(disc)
        noise = train.get("noise") or {}
        self.noise_name = noise.get("input")
        if self.noise_name and self.noise_name not in g_in:
            raise UsageError(f"train.noise.input '{self.noise_name}' is not an input of the "
                             f"generator (inputs: {', '.join(g_in)})")
        self.noise = noise
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
        self.loss = objects.make_loss(train.get("loss") or
                                      {"type": "BinaryCrossentropy", "from_logits": True})
        self.smoothing = float(train.get("label_smoothing", 0.0))
        rec = train.get("reconstruction") or {}
        self.rec_weight = float(rec.get("weight", 0.0)) if rec else 0.0
        self.rec_loss = objects.make_loss(rec.get("loss", "mae")) if rec else None

    def sample_noise(self, batch_size, seed=None):
        """A batch of the generator's noise input; None for a generator without one (pix2pix,
        whose only noise is dropout)."""
        if not self.noise_name:
            return None
        shape = (batch_size,) + self.noise_shape
        if self.noise.get("distribution", "normal") == "uniform":
            lo, hi = self.noise.get("minval", -1.0), self.noise.get("maxval", 1.0)
            return tf.random.uniform(shape, lo, hi, seed=seed)
        return tf.random.normal(shape, stddev=self.noise.get("stddev", 1.0), seed=seed)

    def generate(self, batch, noise, training):
        inputs = {n: batch[n] for n in self.g_conditions}
        if self.noise_name:
            inputs[self.noise_name] = noise
        return self.gen(inputs, training=training)

    def discriminate(self, images: dict, batch, training):
        inputs = dict(images)
        inputs.update({n: batch[n] for n in self.d_conditions})
        out = self.disc(inputs, training=training)
        return next(iter(out.values())) if isinstance(out, dict) else out

    def batch_size(self, batch):
        return tf.shape(next(iter(batch.values())))[0]

    def d_loss(self, batch, training=True):
        fake = self.generate(batch, self.sample_noise(self.batch_size(batch)), training)
        real_logit = self.discriminate({n: batch[n] for n in self.g_out}, batch, training)
        fake_logit = self.discriminate(fake, batch, training)
        real = self.loss(tf.ones_like(real_logit) * (1.0 - self.smoothing), real_logit)
        return real + self.loss(tf.zeros_like(fake_logit), fake_logit)

    def g_loss(self, batch, training=True):
        fake = self.generate(batch, self.sample_noise(self.batch_size(batch)), training)
        fake_logit = self.discriminate(fake, batch, training)
        loss = self.loss(tf.ones_like(fake_logit), fake_logit)
        if self.rec_loss is not None:
            for name in self.g_out:
                loss += self.rec_weight * self.rec_loss(batch[name], fake[name])
        return loss


def _step_fn(loss_fn, model, optimizer, batch):
    with tf.GradientTape() as tape:
        loss = loss_fn(batch)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


def run_adversarial(ctx) -> dict:
    """Trains a generator and a discriminator against each other; returns final metrics.

    Args:
        ctx: A `modelspec.training.run.TrainContext` whose models include the generator
            and the discriminator named by `train.generator` / `train.discriminator`.

    Returns:
        The last epoch's `d_loss` and `g_loss`.
    """
    train = ctx.train
    gname = train.get("generator", "generator")
    dname = train.get("discriminator", "discriminator")
    models = ctx.build()
    for name in (gname, dname):
        if name not in models:
            raise UsageError(f"no model named '{name}' (models: {', '.join(models)})")
    gen, disc = models[gname], models[dname]
    opts = train.get("optimizers") or {}
    with ctx.strategy.scope():
        g_opt = objects.make_optimizer(opts.get("generator", train.get("optimizer")))
        d_opt = objects.make_optimizer(opts.get("discriminator", train.get("optimizer")))
        g_opt.build(gen.trainable_variables)
        d_opt.build(disc.trainable_variables)
    optimizers = {gname: g_opt, dname: d_opt}
    if ctx.checkpoint is not None:
        load_models(ctx.checkpoint, {gname: gen, dname: disc}, optimizers)
    gan = _Gan(train, gen, disc)
    d_step = tf.function(lambda b: _step_fn(gan.d_loss, disc, d_opt, b))
    g_step = tf.function(lambda b: _step_fn(gan.g_loss, gen, g_opt, b))
    d_steps = int(train.get("discriminator_steps", 1))
    g_steps = int(train.get("generator_steps", 1))
    guard = DivergenceGuard(ctx.run)
    checkpoint = EpochCheckpoint(ctx.run, {gname: gen, dname: disc}, optimizers,
                                 ctx.base_state, monitor="g_loss", mode="min",
                                 stopper=ctx.stopper)
    samples = train.get("samples") or {}
    first = _merge(next(iter(ctx.bundle.train)))
    every = int(samples.get("every", 1))
    count = min(int(samples.get("count", 16)), int(gan.batch_size(first)))
    fixed_noise = gan.sample_noise(count, seed=1234) if gan.noise_name else None
    fixed_batch = {k: v[:count] for k, v in first.items()}
    writer = tf.summary.create_file_writer(str(ctx.run.path("logs", "train")))
    logs = {}
    for epoch in range(ctx.initial_epoch, ctx.epochs):
        guard.on_epoch_begin(epoch)
        d_mean, g_mean = keras.metrics.Mean(), keras.metrics.Mean()
        for step, batch in enumerate(ctx.bundle.train):
            batch = _merge(batch)
            for _ in range(d_steps):
                d_mean.update_state(d_step(batch))
            for _ in range(g_steps):
                g_mean.update_state(g_step(batch))
            guard.check({"d_loss": d_mean.result(), "g_loss": g_mean.result()}, step)
            if ctx.stopper.stopped:
                break
        logs = {"d_loss": float(d_mean.result()), "g_loss": float(g_mean.result())}
        if ctx.stopper.stopped:
            checkpoint.on_epoch_end(epoch, logs)
            break
        with writer.as_default():
            for key, value in logs.items():
                tf.summary.scalar(key, value, step=epoch + 1)
        if ctx.verbose != 0:
            print(f"epoch {epoch + 1}/{ctx.epochs} - d_loss: {logs['d_loss']:.4f} - "
                  f"g_loss: {logs['g_loss']:.4f}", flush=True)
        if (epoch + 1) % every == 0 or epoch + 1 == ctx.epochs:
            fake = gan.generate(fixed_batch, fixed_noise, training=False)
            key = samples.get("output", gan.g_out[0])
            n = int(tf.shape(fake[key])[0])
            save_grid(np.asarray(fake[key])[:n],
                      str(ctx.run.path("samples", f"epoch-{epoch + 1:04d}.png")))
        checkpoint.on_epoch_end(epoch, logs)
    writer.close()
    ctx.models = {gname: gen, dname: disc}
    return {} if ctx.stopper.stopped else logs
