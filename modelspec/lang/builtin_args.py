"""Argument tables of modelspec's built-in layers and activations, as plain data.

The layers themselves live in `modelspec.build.components.builtin_layers`, which imports
TensorFlow. This module does not: `schema.py`, `registry.py` and `validate` read these tables
to check a spec's layer arguments before anything is built.

Each entry of `BUILTIN_LAYER_ARGS` maps a constructor argument name to a JSON Schema
(Draft 2020-12) for its value, including its `default` and a `description`. The schemas are
*plain*: wrap them with `modelspec.lang.schema.fragments.param_or` where `$name` / `$(expr)`
references are allowed. Like the Keras layers of the catalogue, every built-in layer also
accepts the base layer argument `dtype` (a dtype or dtype policy name, e.g. `mixed_float16`,
to override the global policy for one layer); `name` and `trainable` are handled by the
layer-graph schema. No argument is required: every one has a default.

Example:
>>> from modelspec.lang.builtin_args import BUILTIN_LAYER_ARGS
>>> sorted(BUILTIN_LAYER_ARGS["Step"])
['dtype', 'threshold']
>>> BUILTIN_LAYER_ARGS["LocalResponseNormalization"]["depth_radius"]["default"]
2
"""

from __future__ import annotations

from typing import Any

from modelspec.lang.application_layer_args import APPLICATION_LAYER_ARGS, APPLICATION_LAYER_DOCS

# The base `keras.layers.Layer` argument every layer (Keras's and ours) accepts.
DTYPE_ARG = {
    "enum": ["float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16",
             None],
    "default": None,
    "description": "dtype policy of this layer (null: the global policy)"}

BUILTIN_LAYER_ARGS: dict[str, dict[str, dict[str, Any]]] = {
    "LocalResponseNormalization": {
        "depth_radius": {
            "type": "integer", "minimum": 0, "default": 2,
            "description": "channels summed on each side of a channel; the paper's "
                           "n = 2 * depth_radius + 1 (AlexNet: n = 5, depth_radius = 2)"},
        "bias": {
            "type": "number", "exclusiveMinimum": 0, "default": 1.0,
            "description": "additive constant, the paper's k (AlexNet: k = 2)"},
        "alpha": {
            "type": "number", "minimum": 0, "default": 1e-4,
            "description": "scale of the sum of squares, the paper's alpha, NOT divided by n "
                         "(as tf.nn.local_response_normalization; Caffe's alpha is n times it)"},
        "beta": {
            "type": "number", "minimum": 0, "default": 0.75,
            "description": "exponent, the paper's beta (AlexNet: 0.75)"},
        "dtype": DTYPE_ARG,
    },
    "GradientReversal": {
        "factor": {
            "type": "number", "default": 1.0,
            "description": "the paper's lambda: the backward pass multiplies gradients by "
                           "-factor (a non-trainable variable a callback may schedule)"},
        "dtype": DTYPE_ARG,
    },
    "Step": {
        "threshold": {
            "type": "number", "default": 0.0,
            "description": "outputs 1.0 where input >= threshold, else 0.0; gradients pass "
                           "straight through (identity)"},
        "dtype": DTYPE_ARG,
    },
    "AddLoss": {
        "weight": {
            "type": "number", "default": 1.0,
            "description": "the loss term is weight × mean of the (last) input"},
        "dtype": DTYPE_ARG,
    },
    "Sampling": {
        "kl_weight": {
            "type": "number", "minimum": 0, "default": 1.0,
            "description": "weight of the KL divergence to N(0, I) added to the loss"},
        "seed": {"type": ["integer", "null"], "default": None,
                 "description": "seed of the noise ε"},
        "dtype": DTYPE_ARG,
    },
    "Maxout": {
        "units": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 240,
                  "description": "number of maxout units (outputs)"},
        "pieces": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 5,
                   "description": "affine pieces per unit, the paper's k"},
        "dtype": DTYPE_ARG,
    },
    "Subsampling": {
        "pool_size": {"type": "integer", "minimum": 1, "default": 2,
                      "description": "window side and stride of the sums (LeNet-5: 2)"},
        "dtype": DTYPE_ARG,
    },
    "PartialConv2D": {
        "filters": {"type": "integer", "minimum": 1, "default": 1,
                    "description": "output maps when connections is null"},
        "kernel_size": {"type": "integer", "minimum": 1, "default": 5,
                        "description": "side of the square kernel ('valid' padding)"},
        "connections": {"anyOf": [{"type": "null"}, {
            "type": "array", "minItems": 1,
            "items": {"type": "array", "minItems": 1,
                      "items": {"type": "integer", "minimum": 0}}}],
            "default": None,
            "description": "per output map, the input maps it sees (LeNet-5's C3 table); "
                           "null: all of them"},
        "dtype": DTYPE_ARG,
    },
    "RBFOutput": {
        "units": {"type": "integer", "minimum": 1, "default": 10,
                  "description": "classes: one RBF unit with a fixed ±1 prototype each"},
        "seed": {"type": "integer", "default": 0,
                 "description": "seed of the random ±1 prototypes"},
        "dtype": DTYPE_ARG,
    },
    "WinnerTakeAll": {
        "spatial": {
            "type": "boolean", "default": True,
            "description": "keep only the largest activation of each feature map"},
        "lifetime_rate": {
            "type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.05,
            "description": "training only: each map keeps its winner in this fraction of "
                           "the batch (the largest ones, at least one); 1.0: off"},
        "dtype": DTYPE_ARG,
    },
}

BUILTIN_LAYER_DOCS: dict[str, str] = {
    "AddLoss": "Keras's add_loss from a spec: passes its first input through and adds "
               "weight × mean(last input) to the model's loss",
    "Sampling": "a VAE's reparameterisation, in: [z_mean, z_log_var] → z, adding the KL "
                "divergence to N(0, I) as a loss (z_mean at inference)",
    "LocalResponseNormalization": "AlexNet's local response normalization across channels "
                                  "(channels last, no weights)",
    "GradientReversal": "identity forward, gradient times -factor backward (Ganin & "
                        "Lempitsky 2015, domain-adversarial training)",
    "Step": "the perceptron's hard step (1.0 where x >= threshold) with a straight-through "
            "gradient so it trains by gradient descent",
    "Maxout": "maxout units: the maximum of `pieces` affine functions per unit "
              "(Goodfellow et al. 2013)",
    "Subsampling": "LeNet-5's trainable subsampling: 2×2 sums × a coefficient + a bias "
                   "per map",
    "PartialConv2D": "a convolution whose output maps see chosen input maps (LeNet-5's C3)",
    "RBFOutput": "LeNet-5's Euclidean RBF output units with fixed ±1 prototypes (−distance)",
    "WinnerTakeAll": "spatial and lifetime winner-take-all sparsity of feature maps "
                     "(Makhzani & Frey 2015)",
}

BUILTIN_LAYER_ARGS.update(APPLICATION_LAYER_ARGS)  # Keras's LayerScale, CustomScaleLayer
BUILTIN_LAYER_DOCS.update(APPLICATION_LAYER_DOCS)

# Regularisers of structural multi-task learning (`modelspec.build.components.regularizers`):
# `kernel_regularizer: {type: GroupSparsity, l: 0.01}`.
BUILTIN_REGULARIZER_ARGS: dict[str, dict[str, dict[str, Any]]] = {
    "GroupSparsity": {
        "l": {"type": "number", "minimum": 0, "default": 0.01,
              "description": "lambda: the penalty is l * sum over groups of ||w_g||_q"},
        "q": {"type": "number", "minimum": 1, "default": 2.0,
              "description": "the norm inside a group (q > 1: group sparsity; 1: plain L1)"},
        "groups": {"enum": ["rows", "columns"], "default": "rows",
                   "description": "rows: one feature across all tasks (joint feature "
                                  "selection); columns: one task across all features"},
    },
    "TraceNorm": {
        "l": {"type": "number", "minimum": 0, "default": 0.01,
              "description": "lambda: the penalty is l * the sum of the kernel's singular "
                             "values (low-rank multi-task learning)"},
    },
    "TaskClusters": {
        "clusters": {"type": "array", "items": {"type": "integer", "minimum": 0},
                     "minItems": 1, "default": [0],
                     "description": "one cluster index per task (kernel column)"},
        "mean": {"type": "number", "minimum": 0, "default": 0.0,
                 "description": "weight of T * ||mean of all tasks||^2"},
        "between": {"type": "number", "minimum": 0, "default": 0.0,
                    "description": "weight of sum_c m_c ||cluster mean - overall mean||^2"},
        "within": {"type": "number", "minimum": 0, "default": 0.01,
                   "description": "weight of sum_c sum_(t in c) ||w_t - cluster mean||^2"},
    },
}

BUILTIN_ACTIVATION_DOCS: dict[str, str] = {
    "step": "hard step: 1.0 where x >= 0 else 0.0, straight-through (identity) gradient",
    "lecun_tanh": "LeNet-5's squashing function 1.7159 * tanh(2x/3)",
}

BUILTIN_ACTIVATION_NAMES: tuple[str, ...] = tuple(BUILTIN_ACTIVATION_DOCS)


def layer_arguments(name: str) -> dict[str, dict[str, Any]]:
    """Returns the argument schemas of a built-in layer.

    Args:
        name: A key of `BUILTIN_LAYER_ARGS`, e.g. `"Step"`.

    Returns:
        A new dict argument name → JSON Schema (copies; callers may modify them).

    Raises:
        KeyError: If `name` is not a built-in layer.
    """
    return {arg: {k: list(v) if isinstance(v, list) else v for k, v in schema.items()}
            for arg, schema in BUILTIN_LAYER_ARGS[name].items()}


def layer_defaults(name: str) -> dict[str, Any]:
    """Returns the default value of every argument of a built-in layer that has one
    (`LayerScale`'s arguments, like its constructor's, have none: they are required).

    Example:
    >>> layer_defaults("Step")
    {'threshold': 0.0, 'dtype': None}
    """
    return {arg: schema["default"] for arg, schema in BUILTIN_LAYER_ARGS[name].items()
            if "default" in schema}
