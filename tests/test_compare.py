"""`modelspec compare`: runs side by side, their spec differences and overlaid curves."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from digits_data import digits_data

SPEC = """\
modelspec: 1
name: tiny_compare
params: {width: 4}
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: hidden, type: Dense, units: $width, activation: relu}
    - {id: probs, type: Dense, units: 10, activation: softmax}
  outputs: {digit: probs}
""" + digits_data('{train: "all[:50%]", validation: "all[50%:75%]", test: "all[75%:]"}') + """\
train:
  epochs: 2
  seed: 0
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from modelspec.lang.checks import load_and_check
    from modelspec.training.run import train_spec

    root = tmp_path_factory.mktemp("compare")
    path = root / "spec.yaml"
    path.write_text(SPEC)
    runs = []
    for width in (4, 32):
        out = root / f"width{width}"
        train_spec(load_and_check(path, overrides={"width": width}), output=out, verbose=0)
        runs.append(out)
    return runs


def test_compare_table_differences_and_plot(two_runs, tmp_path):
    from modelspec.compare.cli import compare_command

    plot = tmp_path / "curves.png"
    result = CliRunner().invoke(compare_command, [*map(str, two_runs), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    out = result.output
    # parameters: 64·4+4 + 4·10+10 = 310 and 64·32+32 + 32·10+10 = 2,410 (from the .h5 files)
    assert "parameters" in out and "310" in out and "2,410" in out
    assert "val_accuracy" in out and "test_loss" in out and "wall time (s)" in out
    lines = out.splitlines()
    diff = lines[lines.index("spec differences") + 3]
    assert diff.split() == ["params.width", "4", "32"]
    assert plot.read_bytes()[:4] == b"\x89PNG" and f"learning curves: {plot}" in out


def test_compare_json_and_errors(two_runs, tmp_path):
    from modelspec.compare.cli import compare_command

    result = CliRunner().invoke(compare_command, [*map(str, two_runs), "--json", "--plot",
                                                  str(tmp_path / "c.png")])
    data = json.loads(result.output)
    assert [r["parameters"] for r in data["runs"]] == [310, 2410]
    assert data["differences"] == {"params.width": [4, 32]}
    assert all(r["epochs"] == 2 and r["seconds"] > 0 for r in data["runs"])
    result = CliRunner().invoke(compare_command, [str(two_runs[0]), str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output
    result = CliRunner().invoke(compare_command, [str(two_runs[0])])
    assert result.exit_code == 2 and "at least two run directories" in result.output
