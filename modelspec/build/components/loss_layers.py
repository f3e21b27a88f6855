"""Built-in layers that add a loss term of their own, Keras's `Layer.add_loss` from a spec.

A spec holds no code, so the losses that depend on inner tensors rather than on a target —
a VAE's KL divergence, an activity penalty on one tensor — come from layers:

- `AddLoss(weight=1.0)`: passes its input through unchanged and adds `weight × mean(input)`
  to the model's loss (Keras adds the losses layers collect with `add_loss` to the compiled
  loss in `fit` and `evaluate`). With `in: [x, term]` it passes `x` through and adds the
  mean of `term`.
- `Sampling(kl_weight=1.0)`: the VAE's reparameterisation (Kingma & Welling 2014):
  `in: [z_mean, z_log_var]` → `z = z_mean + exp(z_log_var / 2) · ε`, ε ~ N(0, I), and adds
  `kl_weight × mean over the batch of KL(N(z_mean, σ²) ‖ N(0, I))`, summed over the latent
  dimensions — the `Sampling` layer and KL term of keras.io's VAE example. At inference
  (`training=False`, e.g. in an export) it returns `z_mean`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
from keras import ops

from modelspec.build.components.shapes import Shape

if TYPE_CHECKING:
    import tensorflow as tf


class AddLoss(keras.layers.Layer):
    """Identity on its (first) input; adds `weight × mean(term)` to the model's losses."""

    def __init__(self, weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, inputs: tf.Tensor | list[tf.Tensor]) -> tf.Tensor:
        if isinstance(inputs, (list, tuple)):
            passed, term = inputs[0], inputs[-1]
        else:
            passed = term = inputs
        self.add_loss(self.weight * ops.mean(ops.cast(term, "float32")))
        return passed

    def compute_output_shape(self, input_shape: Any) -> Shape:  # a shape or a list of them
        if isinstance(input_shape, (list, tuple)) and input_shape and \
                isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight": self.weight}


class Sampling(keras.layers.Layer):
    """z = z_mean + exp(z_log_var / 2) · ε, adding the KL term to N(0, I) as a loss."""

    def __init__(self, kl_weight: float = 1.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kl_weight = float(kl_weight)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: list[tf.Tensor], training: bool | None = None) -> tf.Tensor:
        z_mean, z_log_var = inputs
        kl = -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        self.add_loss(self.kl_weight * ops.mean(ops.sum(kl, axis=-1)))
        if not training:
            return z_mean
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape: list[Shape]) -> Shape:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kl_weight": self.kl_weight, "seed": self.seed}
