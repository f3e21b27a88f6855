"""Importing TensorFlow and the process settings it needs.

`quiet_tensorflow()` imports it without its C++ start-up chatter; `prepare()` sets the XLA
flags that let `modelspec train` auto-cluster element-wise ops on the CPU.

TensorFlow reads `TF_XLA_FLAGS` once, when it is imported, so the flags are added here, at
`import modelspec`, before TensorFlow is (the CLI and `python -m modelspec` always import
modelspec first). They change nothing by themselves: `--tf_xla_cpu_global_jit` allows XLA
auto-clustering on the CPU and `--tf_xla_ops_to_cluster` limits it to element-wise,
reduction, batch-normalisation and shape ops, which XLA fuses, leaving convolutions to
TensorFlow's oneDNN kernels (XLA's own CPU convolutions were 4–9× slower here). Clustering is
switched on only around `fit` for the models that gained from it (`runtime.autoclustering`).

A user's own `TF_XLA_FLAGS` naming `tf_xla_ops_to_cluster` or `tf_xla_auto_jit` is left as it
is, and so is the environment when TensorFlow was imported before modelspec (then `active()`
is False and no auto-clustering is used).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping

# PW: point-wise ops, RED: reductions, PWRED: ops XLA turns into both, BN: FusedBatchNorm*,
# MISC: shape and data-movement ops (Concat, Pad, Slice, ...). Without MISC the clusters
# stayed too small to gain (measured with ResNet-8, bench/README.md).
OPS_TO_CLUSTER = "PW,RED,PWRED,BN,MISC"
FLAGS = ("--tf_xla_cpu_global_jit", f"--tf_xla_ops_to_cluster={OPS_TO_CLUSTER}")

_active = False


def prepare(environ: MutableMapping[str, str] | None = None,
            modules: Mapping[str, object] | None = None) -> bool:
    """Adds `FLAGS` to `TF_XLA_FLAGS` unless TensorFlow is imported or the user set them.

    Args:
        environ: The environment to change (default `os.environ`, and then the result is
            what `active()` reports).
        modules: The loaded modules (default `sys.modules`).

    Returns:
        Whether auto-clustering with these flags is available with that environment.

    Example:
    >>> env = {}
    >>> prepare(env, modules={})
    True
    >>> env["TF_XLA_FLAGS"]
    '--tf_xla_cpu_global_jit --tf_xla_ops_to_cluster=PW,RED,PWRED,BN,MISC'
    """
    global _active
    own = environ is None
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    current = environ.get("TF_XLA_FLAGS", "")
    if all(flag in current.split() for flag in FLAGS):
        result = True  # already there (a child process, or set by hand)
    elif "tensorflow" in modules or "tf_xla_ops_to_cluster" in current \
            or "tf_xla_auto_jit" in current:
        result = False  # too late, or the user's own choice: leave it alone
    else:
        environ["TF_XLA_FLAGS"] = " ".join([current, *FLAGS]).strip()
        result = True
    if own:
        _active = result
    return result


def active() -> bool:
    """True when `prepare` put the flags in place before TensorFlow was imported."""
    return _active


def quiet_tensorflow() -> None:
    """Imports TensorFlow without its C++ start-up chatter on the terminal.

    TensorFlow's absl logging writes INFO lines (oneDNN, CUDA probing) to file descriptor 2
    before any log level applies, so stderr is pointed at /dev/null while TensorFlow loads
    and probes its devices, then restored. Python exceptions are unaffected. Set
    `MODELSPEC_DEBUG=1` to see everything.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log lines; Python errors still raise
    if "tensorflow" in sys.modules or os.environ.get("MODELSPEC_DEBUG"):
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf
            tf.config.list_physical_devices()
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
