"""The file-access policy `MODELSPEC_CONFINE=1` / `--confine` (issue 15, finding 12)."""

from __future__ import annotations

import os
import textwrap

import pytest
from click.testing import CliRunner

from modelspec.cli.main import main
from modelspec.errors import SpecError
from modelspec.lang.checks import load_and_check

SPEC = """\
modelspec: 1
name: leak
model:
  inputs: {x: {shape: [4]}}
  layers:
    - {type: Dense, units: 2}
data:
  source: {type: csv, path: PATH}
  features: {x: a}
  targets: {output: y}
"""


@pytest.fixture
def folder(tmp_path):
    spec_dir = tmp_path / "course" / "student"
    spec_dir.mkdir(parents=True)
    (tmp_path / "secret.csv").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (spec_dir / "link").symlink_to(tmp_path)
    (spec_dir / "ok.csv").write_text("a,y\n1,0\n")
    return spec_dir


def _write(folder, path: str):
    spec = folder / "s.yaml"
    spec.write_text(SPEC.replace("PATH", path))
    return spec


@pytest.mark.parametrize("path", ["{secret}", "../../secret.csv", "link/secret.csv",
                                  "~/../../{secret}"])
def test_confined_paths_outside_the_spec_folder_are_positioned_errors(folder, monkeypatch,
                                                                       path):
    monkeypatch.setenv("MODELSPEC_CONFINE", "1")
    secret = folder.parent.parent / "secret.csv"
    spec = _write(folder, f'"{path.format(secret=secret)}"')
    with pytest.raises(SpecError) as err:
        load_and_check(spec)
    [problem] = err.value.problems
    assert (problem.line, problem.path) == (8, "data.source.path")
    assert "is outside the spec's folder (MODELSPEC_CONFINE=1" in problem.message
    assert "root:" not in err.value.format()  # nothing of the file is quoted


def test_paths_inside_the_folder_or_the_data_folder_pass(folder, monkeypatch, tmp_path):
    monkeypatch.setenv("MODELSPEC_CONFINE", "1")
    load_and_check(_write(folder, "ok.csv"))
    monkeypatch.setenv("MODELSPEC_DATA_DIR", str(tmp_path))
    spec = _write(folder, "link/secret.csv")
    with pytest.raises(SpecError) as err:  # allowed now; the CSV's columns do not fit
        load_and_check(spec)
    assert "outside the spec's folder" not in err.value.format()


def test_without_confinement_any_readable_path_is_allowed(folder, monkeypatch):
    monkeypatch.delenv("MODELSPEC_CONFINE", raising=False)
    spec = _write(folder, "../../secret.csv")
    with pytest.raises(SpecError) as err:
        load_and_check(spec)
    assert "outside the spec's folder" not in err.value.format()


def test_confine_option_and_export_directory(folder, monkeypatch):
    monkeypatch.delenv("MODELSPEC_CONFINE", raising=False)
    spec = folder / "e.yaml"
    spec.write_text(textwrap.dedent("""\
        modelspec: 1
        name: e
        model:
          inputs: {x: {shape: [4]}}
          layers:
            - {type: Dense, units: 2}
        export:
          directory: /tmp/elsewhere
        """))
    result = CliRunner().invoke(main, ["--confine", "validate", str(spec)])
    try:
        assert result.exit_code == 2, result.output
        assert "e.yaml:8:14: export.directory: '/tmp/elsewhere' is outside" in result.output
    finally:
        os.environ.pop("MODELSPEC_CONFINE", None)
