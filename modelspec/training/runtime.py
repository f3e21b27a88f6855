"""Runtime settings of a training run: seed and determinism, precision, threads, JIT.

These act on TensorFlow's and Keras's global state, so they are applied once, before the
models are built (thread pools must be configured before TensorFlow's runtime starts; when it
already runs, the request is reported as a warning and TensorFlow's pools are kept).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

from modelspec import tfenv
from modelspec.training.config import RuntimeConfig, ThreadsConfig


def apply_threads(threads: ThreadsConfig | None, explicit: bool = True) -> None:
    """Sets TensorFlow's CPU thread pools from `train.threads` (0 = default).

    When TensorFlow's runtime already runs, the pools cannot change: a warning says so for
    settings the spec asked for (`explicit`), and defaults are silently skipped.
    """
    if not threads:
        return
    try:
        if threads.intra_op is not None:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads.intra_op))
        if threads.inter_op is not None:
            tf.config.threading.set_inter_op_parallelism_threads(int(threads.inter_op))
    except RuntimeError as err:  # the runtime is already initialised
        if explicit:
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


# Defaults chosen by measurement (bench/README.md, `python -m bench`, 2-core CPU): XLA made
# convolutional models 4–9× slower on the CPU (plus compile time) but helped dense-only
# models; one inter-op thread made convolutional models 1.3–2.9× faster than TensorFlow's
# default pools; running 8 steps per `train_function` call (Keras's `steps_per_execution`)
# was a further 1.2–2.3× faster for small models, whose steps are short next to the Python
# dispatch of each call. Batch-level callbacks then see groups of 8 steps: a NaN is reported
# as "steps 9–16", SIGTERM stops at the end of a group, and an epoch whose last group
# completes is saved as complete (`EpochCheckpoint`). Under a multi-replica strategy Keras's
# default (1) stays: its multi-step loop failed with MirroredStrategy here.
#
# Convolutional models with batch normalisation (ResNet-8 here) trained 1.1–1.2× faster with
# XLA auto-clustering limited to element-wise, reduction, batch-norm and shape ops
# (`modelspec.tfenv`): the many small ops between convolutions fuse while the convolutions stay
# TensorFlow's oneDNN kernels; LeNet-5 (no batch normalisation) did not gain, so it keeps none.
DEFAULT_STEPS_PER_EXECUTION = 8
DEFAULT_CPU_THREADS = ThreadsConfig(inter_op=1)
_CONV_LAYERS = ("Conv", "Pooling", "Pool")
_NORM_LAYERS = ("BatchNormalization",)


def has_gpu() -> bool:
    """True when TensorFlow sees a GPU (then Keras's own defaults are kept)."""
    return bool(tf.config.list_physical_devices("GPU"))


def _replicated() -> bool:
    """True inside a tf.distribute strategy with several replicas."""
    return tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1


def _layer_types(model: Any) -> set[str]:
    """Class names of every layer of `model`, nested models and blocks included."""
    def layers(m: Any) -> Iterator[Any]:
        for layer in getattr(m, "layers", []):
            yield layer
            yield from layers(layer)
    return {type(layer).__name__ for layer in layers(model)}


def _dense_only(model: Any) -> bool:
    return not any(part in name for name in _layer_types(model) for part in _CONV_LAYERS)


def _tuned_for_cpu(runtime: RuntimeConfig) -> bool:
    """True when the CPU defaults apply: no GPU, one replica, no seeded determinism."""
    return not has_gpu() and not _replicated() and not runtime.seeded_determinism


def compile_options(runtime: RuntimeConfig, model: Any = None) -> dict[str, Any]:
    """The `model.compile` runtime arguments: the `train:` section's, else measured defaults.

    Without an explicit `jit_compile`, on a CPU-only machine with one replica XLA is on for
    dense-only models and off for convolutional ones (on a GPU, or under a multi-replica
    strategy, Keras's "auto" stays), and never forced on in a seeded (deterministic) run.
    Without an explicit `steps_per_execution`, one replica runs
    `DEFAULT_STEPS_PER_EXECUTION` steps per call (Keras's 1 under a distribution strategy).

    Args:
        runtime: The runtime part of the spec's `train:` section.
        model: The model to compile (decides XLA by its layers); None skips that choice.

    Returns:
        Keyword arguments for `model.compile`.

    Example:
    >>> compile_options(RuntimeConfig(steps_per_execution=4))["steps_per_execution"]
    4
    """
    out: dict[str, Any] = {}
    if runtime.steps_per_execution is not None:
        out["steps_per_execution"] = int(runtime.steps_per_execution)
    elif not tf.distribute.has_strategy():
        out["steps_per_execution"] = DEFAULT_STEPS_PER_EXECUTION
    if runtime.jit_compile is not None:
        out["jit_compile"] = runtime.jit_compile
    elif model is not None and not has_gpu() and not _replicated():
        out["jit_compile"] = _dense_only(model) and _tuned_for_cpu(runtime)
    return out


def wants_autoclustering(runtime: RuntimeConfig, model: Any) -> bool:
    """Whether `fit` runs with XLA auto-clustering of element-wise ops (see `modelspec.tfenv`).

    Only by default (no `jit_compile` in the spec), on a CPU-only machine with one replica,
    outside seeded (deterministic) runs, for convolutional models with batch normalisation,
    and when `modelspec.tfenv` took effect before TensorFlow was imported.

    Example:
    >>> wants_autoclustering(RuntimeConfig(jit_compile=False), None)
    False
    """
    if runtime.jit_compile is not None or model is None or not tfenv.active():
        return False
    if not _tuned_for_cpu(runtime) or _dense_only(model):
        return False
    return any(part in name for name in _layer_types(model) for part in _NORM_LAYERS)


@contextlib.contextmanager
def autoclustering(enabled: bool) -> Iterator[None]:
    """Turns TensorFlow's XLA auto-clustering on inside the block (restored afterwards).

    TensorFlow's jit level is process-wide; functions called inside the block are
    instantiated with it, so `fit`, its validation and `evaluate` inside the block use it.
    """
    if not enabled:
        yield
        return
    previous = tf.config.optimizer.get_jit()
    tf.config.optimizer.set_jit("autoclustering")
    try:
        yield
    finally:
        tf.config.optimizer.set_jit(previous or False)


def apply_runtime(runtime: RuntimeConfig) -> None:
    """Applies threads, precision and seed from a `train:` section, in that order."""
    if runtime.threads is None and not has_gpu():
        apply_threads(DEFAULT_CPU_THREADS, explicit=False)
    else:
        apply_threads(runtime.threads)
    apply_precision(runtime.precision)
    apply_seed(runtime.seed, runtime.deterministic)
