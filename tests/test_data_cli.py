"""`modelspec data SPEC`: the report, the image grid and errors with exit codes."""

from click.testing import CliRunner
from digits_data import digits_data

from modelspec.data.cli import data_command

SPEC = """modelspec: 1
name: digits_cli
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:80%]", validation: "all[80%:]"}', batching=False) + """\
"""


def test_report_and_grid(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(data_command, [str(spec), "--split", "validation", "--take",
                                               "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "splits: train 1,438 examples, validation 359 examples" in result.output
    assert "image            <- images           shape (8, 8, 1)  float32" in result.output
    assert "digit            <- label            shape ()  int64" in result.output
    assert "image: rescale(images)" in result.output
    assert "first 2 examples of 'validation':" in result.output
    assert "[1] image=[" in result.output and "[2]" not in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_field_exits_2_with_position(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("features: {image: images}", "features: {image: data}"))
    result = CliRunner().invoke(data_command, [str(spec)])
    assert result.exit_code == 2
    assert "s.yaml:11:21: data.features.image: field 'data' has shape (64,) but model input " \
           "'image' expects (8, 8, 1)" in result.output


def test_missing_split_is_a_usage_error(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    result = CliRunner().invoke(data_command, [str(spec), "--split", "test"])
    assert result.exit_code == 2
    assert "the spec has no 'test' split" in result.output
