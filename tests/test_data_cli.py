"""`modelspec data SPEC`: the report, the image grid and errors with exit codes."""

from pathlib import Path

import pytest
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


SPECS = sorted((Path(__file__).resolve().parents[1] / "specs").glob("*.yaml"))


# Corpora whose whole pipeline (skip-gram pairs, lookups adapted on 32k rows) takes a minute:
# this test reads their first lines only; the other data sets are read whole.
TRUNCATED = {"republic/republic_clean.txt": 300, "tiny_shakespeare/input.txt": 3000,
             "adult/adult.data": 600, "adult/adult.test": 301}


@pytest.fixture(scope="module")
def quick_local_data(local_data, tmp_path_factory) -> Path:
    """The session's local copies, with the large text and table files cut to their start."""
    out = tmp_path_factory.mktemp("quick-data")
    for folder in local_data.iterdir():
        if not any(t.startswith(folder.name + "/") for t in TRUNCATED):
            (out / folder.name).symlink_to(folder, target_is_directory=True)
    for rel, lines in TRUNCATED.items():
        (out / rel).parent.mkdir(exist_ok=True)
        with open(local_data / rel, encoding="utf-8") as f:
            (out / rel).write_text("".join(f.readline() for _ in range(lines)), "utf-8")
    return out


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_shipped_spec_yields_a_batch_from_the_local_copies(path, quick_local_data):
    """`modelspec data` on each shipped spec (its small variant where it has one), reading
    the data sets from the local copies the session prepared (no network)."""
    from modelspec.lang.checks import load_and_check
    args = [str(path), "--take", "1", "--data-dir", str(quick_local_data)]
    if "small" in load_and_check(path).params:
        args += ["-p", "small=true"]
    result = CliRunner().invoke(data_command, args)
    assert result.exit_code == 0, result.output
    assert "first 1 examples of 'train':\n  [0] " in result.output
