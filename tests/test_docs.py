"""docs/LANGUAGE.md's YAML examples are valid: whole specs through `modelspec validate`, and
each section example (`data:`, `train:`, `export:`) inside a host spec whose model fits it."""

from __future__ import annotations

import re

from click.testing import CliRunner
from conftest import REPO_ROOT

from modelspec.cli.main import main

LANGUAGE = REPO_ROOT / "docs" / "LANGUAGE.md"
SNIPPETS = re.findall(r"```yaml\n(.*?)```", LANGUAGE.read_text(encoding="utf-8"), re.S)

# A model with the inputs and outputs the section examples name (image; digit, parity,
# is_five), so that a section example is checked against a model it fits.
HOST = """\
modelspec: 1
name: host
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: hidden, type: Dense, units: 16, activation: relu}
    - {id: digit, type: Dense, units: 10, activation: softmax, in: hidden}
    - {id: parity, type: Dense, units: 1, activation: sigmoid, in: hidden}
    - {id: is_five, type: Dense, units: 1, activation: sigmoid, in: hidden}
  outputs: {digit: digit, parity: parity, is_five: is_five}
"""


def _is_sketch(snippet: str) -> bool:
    """Examples with `[...]` / `- ...` placeholders show a shape, not a spec."""
    return "[...]" in snippet or "- ..." in snippet


def _validate(tmp_path, text: str, name: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["validate", str(path)])


def test_the_examples_are_found():
    whole = [s for s in SNIPPETS if s.startswith("modelspec:")]
    sections = [s.split(":")[0] for s in SNIPPETS if s.split(":")[0] in ("data", "train",
                                                                           "export")]
    assert len(whole) >= 1 and sections == ["data", "train", "export"]
    assert all(_is_sketch(s) for s in SNIPPETS if s.split(":")[0] in ("model", "blocks"))


def test_whole_specs_validate(tmp_path):
    for i, snippet in enumerate(s for s in SNIPPETS if s.startswith("modelspec:")):
        result = _validate(tmp_path, snippet, f"whole_{i}.yaml")
        assert result.exit_code == 0, result.output


def test_section_examples_validate_in_a_host_spec(tmp_path):
    for snippet in SNIPPETS:
        key = snippet.split(":")[0]
        if key in ("data", "train", "export") and not _is_sketch(snippet):
            result = _validate(tmp_path, HOST + snippet, f"{key}.yaml")
            assert result.exit_code == 0, (key, result.output)


def test_a_broken_section_example_would_fail(tmp_path):
    result = _validate(tmp_path, HOST + "train:\n  epochs: -1\n", "bad.yaml")
    assert result.exit_code == 2 and "bad.yaml:" in result.output
