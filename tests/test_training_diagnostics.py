"""Confusion matrices, per-class figures and predicted-vs-true plots of a run's evaluation."""

from __future__ import annotations

import json

import numpy as np
from digits_data import digits_data

from modelspec.training import diagnostics as dg

CLASSIFIER = """\
modelspec: 1
name: tiny_classifier
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: probs, type: Dense, units: 10, activation: softmax}
  outputs: {digit: probs}
""" + digits_data('{train: "all[:60%]", test: "all[60%:]"}') + """\
train:
  epochs: 2
  seed: 0
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
export:
  labels: [zero, one, two, three, four, five, six, seven, eight, nine]
"""

REGRESSION = """\
modelspec: 1
name: tiny_regression
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: value, type: Dense, units: 1}
  outputs: {digit: value}
""" + digits_data('{train: "all[:60%]", test: "all[60%:]"}') + """\
train:
  epochs: 1
  seed: 0
  optimizer: adam
  loss: mse
"""


def test_output_kind_follows_the_loss():
    assert dg.output_kind("sparse_categorical_crossentropy") == "classification"
    assert dg.output_kind({"type": "BinaryCrossentropy", "from_logits": True}) == \
        "classification"
    assert dg.output_kind("mse") == "regression"
    assert dg.output_kind({"type": "Huber"}) == "regression"
    assert dg.output_kind("kl_divergence") is None


def test_class_decisions_for_softmax_one_hot_and_sigmoid():
    true, pred = dg.class_decisions(np.array([2, 0]), np.array([[0.1, 0.2, 0.7],
                                                                [0.8, 0.1, 0.1]]), "x")
    assert true.tolist() == [2, 0] and pred.tolist() == [2, 0]
    true, pred = dg.class_decisions(np.eye(3)[[1, 2]], np.eye(3)[[1, 0]], "x")
    assert true.tolist() == [1, 2] and pred.tolist() == [1, 0]
    true, pred = dg.class_decisions(np.array([[1], [0]]), np.array([[0.9], [0.6]]), "x")
    assert true.tolist() == [1, 0] and pred.tolist() == [1, 1]
    _, pred = dg.class_decisions(np.array([1, 0]), np.array([[0.3], [-0.2]]),
                                 {"type": "BinaryCrossentropy", "from_logits": True})
    assert pred.tolist() == [1, 0]


def test_per_class_figures_match_hand_counts():
    figures = dg.per_class_figures(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b"])
    assert figures["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert figures["b"]["precision"] == 2 / 3 and figures["b"]["recall"] == 1.0


def test_classifier_run_writes_confusion_png_and_per_class_metrics(write_spec, tmp_path,
                                                                   capsys):
    from modelspec.training.run import train_spec

    result = train_spec(write_spec(CLASSIFIER), output=tmp_path / "run", verbose=2)
    assert (tmp_path / "run" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    per_class = metrics["per_class"]["digit"]
    assert {"zero", "one", "nine"} <= set(per_class)       # export.labels name the classes
    assert sum(c["support"] for c in per_class.values()) == 719   # 40% of 1,797
    f1 = np.mean([c["f1"] for c in per_class.values()])
    assert abs(metrics["test_macro_f1"] - f1) < 1e-9 and result.metrics["test_macro_f1"] == f1
    out = capsys.readouterr().out
    assert "pictures in" in out and "curves.png, confusion.png" in out
    assert "per_class" not in out


def test_regression_run_writes_predicted_vs_true(write_spec, tmp_path):
    from modelspec.training.run import train_spec

    result = train_spec(write_spec(REGRESSION), output=tmp_path / "run", verbose=0)
    assert (tmp_path / "run" / "predicted_vs_true.png").is_file()
    assert not (tmp_path / "run" / "confusion.png").exists()
    assert "per_class" not in result.metrics
