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

from modelspec.errors import SpecError
from modelspec.lang.checks import load_and_check

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
            from modelspec.build.compiler import build_from_spec
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
        assert time.perf_counter() - started < 10.0, "checking a bad spec must never hang"
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
    from modelspec.cli.main import main
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{_header(path)[1][0]}" in result.output


@pytest.mark.parametrize("path", SHOW, ids=[f.stem for f in SHOW])
def test_show_cli_reports_build_errors(path):
    from modelspec.cli.main import main
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


GOOD = sorted((Path(__file__).resolve().parent / "fixtures" / "good").glob("*.yaml"))
_JUNK = [None, 0, -1, 1.5, "x", "$nope", "$(1/0)", "$(", [], {}, [1, "a"], {"type": "Dense"},
         True, 10 ** 20, "input", "a.b.c", "__delete__"]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, path + (i,))


def test_mangled_specs_give_problems_never_tracebacks():
    """Random structural damage to valid specs: only SpecErrors, never another exception."""
    import copy
    import random

    from modelspec.lang import yamlio
    from modelspec.lang.checks import check
    from modelspec.source import LoadedSpec

    rng = random.Random(7)
    for path in GOOD:
        loaded = yamlio.load(path)
        paths = [p for p in _paths(loaded.data) if p]
        for _ in range(30):
            doc = copy.deepcopy(loaded.data)
            for _ in range(rng.randint(1, 3)):
                where, junk = rng.choice(paths), copy.deepcopy(rng.choice(_JUNK))
                parent = doc
                try:
                    for part in where[:-1]:
                        parent = parent[part]
                    if junk == "__delete__":
                        del parent[where[-1]]
                    else:
                        parent[where[-1]] = junk
                except (KeyError, IndexError, TypeError):
                    continue
            try:
                check(LoadedSpec(doc, loaded.source, loaded.path, loaded.text))
            except SpecError as err:
                assert all(p.line >= 0 and p.message for p in err.problems)


def test_damaged_yaml_text_gives_problems_never_tracebacks():
    import random
    rng = random.Random(3)
    text = (GOOD[0]).read_text()
    for _ in range(150):
        cut = rng.randrange(len(text))
        damaged = text[:cut] + rng.choice(["", ":", "{", "]", "\t", "- ", "&a", "*a", "!!",
                                            "'", '"', "#", "\n  ", "%", "@"]) + text[cut + 1:]
        try:
            load_and_check(damaged + "\n", filename="d.yaml")
        except SpecError as err:
            assert err.problems and all(p.file == "d.yaml" for p in err.problems)
