"""Every malformed spec under tests/fixtures/bad fails with its exact, positioned message.

Each fixture starts with comment lines:
    # via: show            (optional: the error appears only when the model is built)
    # expect: LINE:COL: PATH: MESSAGE — EXPECTED (did you mean ...?)   (one per problem)
    # note: TEXT           (optional: lines printed under the message, e.g. input shapes)
`expect` lines are the complete first lines of the problems after `FILE:`, in the order they
are reported (sorted by line). They are checked through the Python API and the CLI.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelspec.checks import load_and_check
from modelspec.errors import SpecError

BAD = Path(__file__).resolve().parent / "fixtures" / "bad"
FILES = sorted(BAD.glob("*.yaml"))


def _header(path: Path):
    via, expects, notes = "validate", [], []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("# via:"):
            via = line.split(":", 1)[1].strip()
        elif line.startswith("# expect:"):
            expects.append(line.split(":", 1)[1].strip())
        elif line.startswith("# note:"):
            notes.append(line.split(":", 1)[1].strip())
    return via, expects, notes


VALIDATE = [f for f in FILES if _header(f)[0] == "validate"]
SHOW = [f for f in FILES if _header(f)[0] == "show"]


def test_there_are_enough_fixtures_and_each_has_expectations():
    assert len(FILES) >= 35
    for path in FILES:
        via, expects, _ = _header(path)
        assert via in ("validate", "show"), path.name
        assert expects, f"{path.name} has no '# expect:' line"


def _problems(path: Path, via: str):
    try:
        if via == "show":
            from modelspec.compiler import build_from_spec
            build_from_spec(str(path))
        else:
            load_and_check(str(path))
    except SpecError as err:
        return err.problems
    raise AssertionError(f"{path.name} was accepted")


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_python_api_reports_exact_messages(path):
    via, expects, notes = _header(path)
    started = time.perf_counter()
    problems = _problems(path, via)
    if via == "validate":
        assert time.perf_counter() - started < 2.0, "checking a bad spec must be quick"
    for problem in problems:
        assert problem.file == str(path)
    got = [p.format().split("\n")[0].split(":", 1)[1] for p in problems]
    assert got == expects
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    all_notes = [n for p in problems for n in p.notes]
    for note in notes:
        assert note in all_notes


def test_validate_cli_reports_every_fixture_with_exit_code_2():
    result = subprocess.run([sys.executable, "-m", "modelspec", "validate", "-q",
                             *map(str, VALIDATE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # -q: errors only
    for path in VALIDATE:
        for expect in _header(path)[1]:
            assert f"{path}:{expect}" in result.stderr
    assert f"{len(VALIDATE)} of {len(VALIDATE)} spec(s) invalid" in result.stderr


@pytest.mark.parametrize("path", VALIDATE[:3], ids=[f.stem for f in VALIDATE[:3]])
def test_validate_cli_exit_code_per_file(path):
    from modelspec.cli import main
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{_header(path)[1][0]}" in result.output


@pytest.mark.parametrize("path", SHOW, ids=[f.stem for f in SHOW])
def test_show_cli_reports_build_errors(path):
    from modelspec.cli import main
    _, expects, notes = _header(path)
    # `validate` accepts these specs: the mistake shows only when Keras builds the layers
    assert load_and_check(str(path)) is not None
    result = CliRunner().invoke(main, ["show", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    for expect in expects:
        assert f"{path}:{expect}" in lines
    for note in notes:
        assert f"    {note}" in lines


def test_several_errors_are_reported_together_sorted_by_line():
    path = BAD / "several_errors.yaml"
    problems = _problems(path, "validate")
    assert len(problems) == 4
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert SpecError(problems).format().endswith("4 errors")
