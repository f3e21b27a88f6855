"""Built-in regularisers for multi-task learning by structural regularisation (lecture T).

A multi-task linear layer has a kernel W of shape (d, T): one column per task, one row per
input feature (`Dense(units=T)` on d features; convolution kernels are read as
(everything but the last axis, last axis)). The lecture's structural regularisers couple the
tasks through W:

- `GroupSparsity(l, q, groups)`: λ·‖W‖₁,q = λ·Σᵢ ‖wᵢ‖_q over the rows (joint feature
  selection: a feature is used by all tasks or by none; "when q > 1 we have group sparsity"),
  or over the columns (`groups: columns`, whole tasks switched off: robust MTL's ‖Qᵀ‖₁,₂).
- `TraceNorm(l)`: λ·‖W‖_* = λ·Σ singular values (tasks share a low-rank structure).
- `TaskClusters(clusters, mean, between, within)`: Jacob, Vert & Bach's (NIPS 2009)
  decomposition of the clustered-MTL penalty for a given assignment of tasks to clusters:
  ε_M·T‖w̄‖² + ε_B·Σ_c m_c‖w̄_c − w̄‖² + ε_W·Σ_c Σ_{t∈c} ‖w_t − w̄_c‖².

Keras has L1, L2, L1L2 and OrthogonalRegularizer only. These are registered serialisable
(`package="modelspec"`), are plain `keras.regularizers.Regularizer`s (a spec names them as
`kernel_regularizer: {type: GroupSparsity, l: 0.01}`), and their norms are smoothed by 1e-12
inside the root so that a zero row has a finite gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

_SMOOTH = 1e-12


def _matrix(x: tf.Tensor) -> tf.Tensor:
    """The kernel as (rows, tasks): every axis but the last flattened."""
    x = tf.convert_to_tensor(x)
    return tf.reshape(x, [-1, x.shape[-1]]) if x.shape.rank != 2 else x


@keras.saving.register_keras_serializable(package="modelspec")
class GroupSparsity(keras.regularizers.Regularizer):
    """λ·Σ_groups ‖w_g‖_q: the ℓ1/ℓq norm of the kernel's rows (or columns).

    Args:
        l: λ, the regularisation factor.
        q: The norm inside each group (q > 1 gives group sparsity; q = 1 is plain ℓ1).
        groups: "rows" (a feature across all tasks) or "columns" (a task across features).
    """

    def __init__(self, l: float = 0.01,  # noqa: E741 (Keras's own name: L1(l1=...))
                 q: float = 2.0, groups: str = "rows") -> None:
        if groups not in ("rows", "columns"):
            raise ValueError(f"groups must be 'rows' or 'columns', not {groups!r}")
        if q < 1:
            raise ValueError(f"q must be at least 1, not {q}")
        self.l, self.q, self.groups = float(l), float(q), groups

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        w = _matrix(x)
        axis = 1 if self.groups == "rows" else 0
        inner = tf.reduce_sum(tf.abs(w) ** self.q, axis=axis) + _SMOOTH
        return self.l * tf.reduce_sum(inner ** (1.0 / self.q))

    def get_config(self) -> dict[str, Any]:
        return {"l": self.l, "q": self.q, "groups": self.groups}


@keras.saving.register_keras_serializable(package="modelspec")
class TraceNorm(keras.regularizers.Regularizer):
    """λ·‖W‖_*: the sum of the kernel's singular values (low-rank multi-task learning).

    Args:
        l: λ, the regularisation factor.
    """

    def __init__(self, l: float = 0.01) -> None:  # noqa: E741 (Keras's own name: L1(l1=...))
        self.l = float(l)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        w = tf.cast(_matrix(x), tf.float32)
        gram = tf.matmul(w, w, transpose_a=True)  # (T, T): ‖W‖_* = Σ √eig(WᵀW)
        eigenvalues = tf.linalg.eigvalsh(gram)
        return self.l * tf.reduce_sum(tf.sqrt(tf.nn.relu(eigenvalues) + _SMOOTH))

    def get_config(self) -> dict[str, Any]:
        return {"l": self.l}


@keras.saving.register_keras_serializable(package="modelspec")
class TaskClusters(keras.regularizers.Regularizer):
    """Clustered multi-task penalty for a fixed assignment of the kernel's columns (tasks).

    Args:
        clusters: One cluster index per task (column), e.g. [0, 0, 1, 1, 1].
        mean: ε_M, weight of T·‖w̄‖² (all tasks near zero).
        between: ε_B, weight of Σ_c m_c‖w̄_c − w̄‖² (cluster means near the overall mean).
        within: ε_W, weight of Σ_c Σ_{t∈c}‖w_t − w̄_c‖² (tasks near their cluster's mean).
    """

    def __init__(self, clusters: Sequence[int] = (0,), mean: float = 0.0,
                 between: float = 0.0, within: float = 0.01) -> None:
        self.clusters = [int(c) for c in clusters]
        self.mean, self.between, self.within = float(mean), float(between), float(within)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        w = _matrix(x)
        tasks = w.shape[-1]
        if len(self.clusters) != tasks:
            raise ValueError(f"TaskClusters has {len(self.clusters)} cluster indices but the "
                             f"kernel has {tasks} tasks (columns)")
        ids = tf.constant(self.clusters, tf.int32)
        count = max(self.clusters) + 1
        columns = tf.transpose(w)                                     # (T, d)
        sizes = tf.math.unsorted_segment_sum(tf.ones([tasks], w.dtype), ids, count)
        centres = tf.math.unsorted_segment_sum(columns, ids, count) / \
            tf.maximum(sizes, 1.0)[:, None]                           # (C, d)
        overall = tf.reduce_mean(columns, axis=0)                     # (d,)
        mean_term = tasks * tf.reduce_sum(overall ** 2)
        between_term = tf.reduce_sum(sizes * tf.reduce_sum((centres - overall) ** 2, axis=1))
        within_term = tf.reduce_sum((columns - tf.gather(centres, ids)) ** 2)
        return (self.mean * mean_term + self.between * between_term
                + self.within * within_term)

    def get_config(self) -> dict[str, Any]:
        return {"clusters": self.clusters, "mean": self.mean, "between": self.between,
                "within": self.within}


BUILTIN_REGULARIZERS = {"GroupSparsity": GroupSparsity, "TraceNorm": TraceNorm,
                        "TaskClusters": TaskClusters}
