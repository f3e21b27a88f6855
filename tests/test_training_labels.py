"""Labels checked against outputs and losses before training (issue 15, finding 11)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from modelspec.training.labels import label_problem, losses_by_output


@pytest.mark.parametrize("values, loss, classes, found", [
    ([0, 1, 7], "binary_crossentropy", 1, (2, "values from 0 to 1")),
    ([0.0, np.inf], "mse", 1, (1, "finite numbers")),
    ([0.0, np.nan], "mse", 1, (1, "finite numbers")),
    ([0, 3, 10], "sparse_categorical_crossentropy", 10, (2, "from 0 to 9")),
    ([0, 1.5], "sparse_categorical_crossentropy", 10, (1, "an integer class index")),
    ([-1, 2], "sparse_categorical_crossentropy", 10, (0, "an integer class index")),
    ([[0, 1], [0.5, 0.5]], "categorical_crossentropy", 2, None),
    ([0, 1, 9], "sparse_categorical_crossentropy", 10, None),
    ([3.5, -2.0], "mse", 1, None),
])
def test_label_problem(values, loss, classes, found):
    result = label_problem(np.asarray(values, dtype="float32"), loss, classes)
    if found is None:
        assert result is None
    else:
        assert result[0] == found[0] and found[1] in result[2]


def test_losses_by_output():
    assert losses_by_output("mse", ["a", "b"]) == {"a": "mse", "b": "mse"}
    assert losses_by_output({"a": "mse", "b": {"type": "Huber"}}, ["a", "b"]) == \
        {"a": "mse", "b": "Huber"}
    assert losses_by_output({"type": "Huber", "delta": 2}, ["a"]) == {"a": "Huber"}


SPEC = """\
modelspec: 1
name: labels
model:
  inputs: {x: {shape: [1]}}
  layers:
    - {id: out, type: Dense, units: 1, activation: sigmoid}
  outputs: {y: out}
data:
  source: {type: csv, path: data.csv}
  features: {x: a}
  targets: {y: label}
  splits: {train: "all[:75%]", test: "all[75%:]"}
  transforms: [{type: reshape, field: a, shape: [1]}]
train:
  epochs: 1
  loss: binary_crossentropy
  callbacks: {tensorboard: false}
"""


def test_a_label_7_for_a_sigmoid_output_is_an_error_before_training(tmp_path):
    rows = "\n".join(f"{i},{i % 3},{7 if i == 5 else i % 2}" for i in range(12))
    (tmp_path / "data.csv").write_text("a,b,label\n" + rows + "\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    from modelspec.training.cli import train_command
    result = CliRunner().invoke(train_command, [str(spec), "--output", str(tmp_path / "run"),
                                                "--quiet"])
    assert result.exit_code == 2, result.output
    assert "s.yaml:11:" in result.output and "data.targets.y: label 7.0 of example" in \
        result.output
    assert "expected values from 0 to 1 for binary_crossentropy" in result.output
    assert not (tmp_path / "run" / "state.json").exists()
