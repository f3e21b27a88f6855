"""Runtime settings of a training run: seed and determinism, precision, threads, JIT.

These act on TensorFlow's and Keras's global state, so they are applied once, before the
models are built (thread pools must be configured before TensorFlow's runtime starts; when it
already runs, the request is reported as a warning and TensorFlow's pools are kept).
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf


def apply_threads(threads: dict | None) -> None:
    """Sets TensorFlow's CPU thread pools from `{intra_op: N, inter_op: M}` (0 = default)."""
    if not threads:
        return
    try:
        if threads.get("intra_op") is not None:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads["intra_op"]))
        if threads.get("inter_op") is not None:
            tf.config.threading.set_inter_op_parallelism_threads(int(threads["inter_op"]))
    except RuntimeError as err:  # the runtime is already initialised
        warnings.warn(f"train.threads not applied: {err}", stacklevel=2)


def apply_seed(seed: int | None, deterministic: bool | None = None) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras and, with a seed, turns on op determinism.

    Args:
        seed: The spec's `train.seed`; None leaves the random state alone.
        deterministic: Force op determinism on/off; by default on whenever a seed is given
            (bit-identical runs on the CPU, some GPU kernels become slower).
    """
    if seed is None:
        return
    keras.utils.set_random_seed(int(seed))
    if deterministic is None or deterministic:
        tf.config.experimental.enable_op_determinism()


def apply_precision(precision: str | None) -> None:
    """Sets Keras's global dtype policy (`float32`, `mixed_float16`, `mixed_bfloat16`)."""
    keras.mixed_precision.set_global_policy(precision or "float32")


def compile_options(train: dict) -> dict:
    """The `model.compile` runtime arguments taken from the `train:` section."""
    out = {}
    if "jit_compile" in train:
        out["jit_compile"] = train["jit_compile"]
    if "steps_per_execution" in train:
        out["steps_per_execution"] = int(train["steps_per_execution"])
    return out


def apply_runtime(train: dict) -> None:
    """Applies threads, precision and seed from a `train:` section, in that order."""
    apply_threads(train.get("threads"))
    apply_precision(train.get("precision"))
    apply_seed(train.get("seed"), train.get("deterministic"))
