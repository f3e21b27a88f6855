"""Structural multi-task regularisers (modelspec.build.components.regularizers) against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from modelspec.build.components.regularizers import GroupSparsity, TaskClusters, TraceNorm

W = np.random.default_rng(0).standard_normal((6, 4)).astype("float32")


@pytest.mark.parametrize("q,groups", [(2.0, "rows"), (1.0, "rows"), (3.0, "columns")])
def test_group_sparsity_is_the_l1_q_norm(q, groups):
    axis = 1 if groups == "rows" else 0
    expected = 0.5 * np.sum(np.sum(np.abs(W) ** q, axis=axis) ** (1 / q))
    assert float(GroupSparsity(l=0.5, q=q, groups=groups)(W)) == pytest.approx(expected,
                                                                              rel=1e-5)


def test_group_sparsity_has_a_finite_gradient_at_a_zero_row():
    import tensorflow as tf
    w = tf.Variable(np.vstack([np.zeros((1, 4)), W[1:]]).astype("float32"))
    with tf.GradientTape() as tape:
        value = GroupSparsity(l=1.0)(w)
    assert np.all(np.isfinite(tape.gradient(value, w).numpy()))


def test_trace_norm_is_the_sum_of_singular_values():
    expected = 0.1 * np.linalg.svd(W, compute_uv=False).sum()
    assert float(TraceNorm(l=0.1)(W)) == pytest.approx(expected, rel=1e-4)


def test_task_clusters_penalty_decomposes_as_jacob_et_al():
    clusters = [0, 0, 1, 1]
    columns = W.T
    mean = columns.mean(0)
    centres = np.stack([columns[:2].mean(0), columns[2:].mean(0)])
    expected = (0.3 * 4 * np.sum(mean ** 2)
                + 0.2 * sum(2 * np.sum((c - mean) ** 2) for c in centres)
                + 0.1 * sum(np.sum((columns[t] - centres[clusters[t]]) ** 2) for t in range(4)))
    value = TaskClusters(clusters, mean=0.3, between=0.2, within=0.1)(W)
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_task_clusters_needs_one_index_per_task():
    with pytest.raises(ValueError, match="3 cluster indices but the kernel has 4 tasks"):
        TaskClusters([0, 1, 1])(W)


def test_regularizers_round_trip_through_keras_config():
    import keras
    for reg in (GroupSparsity(0.2, 3.0, "columns"), TraceNorm(0.3), TaskClusters([0, 1, 0, 1])):
        config = keras.saving.serialize_keras_object(reg)
        again = keras.saving.deserialize_keras_object(config)
        assert type(again) is type(reg) and again.get_config() == reg.get_config()


def test_a_spec_names_them_and_a_misspelt_argument_is_reported(spec_problems):
    text = """
    modelspec: 1
    model:
      inputs: {x: {shape: [4]}}
      layers:
        - {id: dense, type: Dense, units: 3,
           kernel_regularizer: {type: GroupSparsity, l: 0.1, qq: 2}}
      outputs: {y: dense}
    """
    problems = spec_problems(text)
    assert len(problems) == 1 and "'qq'" in problems[0], problems
    assert spec_problems(text.replace("qq", "q"), build=True) == []


@pytest.mark.parametrize("name,count", [("multitask_group_sparsity", 650),
                                        ("multitask_low_rank", 650),
                                        ("multitask_robust", 1_290),
                                        ("multitask_clustered", 650)])
def test_structural_multitask_specs_build_with_their_counts(repo_root, name, count):
    from modelspec.build.compiler import build_models
    from modelspec.lang.checks import load_and_check
    models = build_models(load_and_check(repo_root / "specs" / f"{name}.yaml"))
    model = models["model"]
    assert model.count_params() == count
    assert len(model.losses) == (2 if name == "multitask_robust" else 1)
