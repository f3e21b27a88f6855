"""Shared pytest fixtures: writing spec text to files, building specs, collecting problems."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

import modelspec  # noqa: F401  before TensorFlow, as the CLI does (modelspec/tfenv.py)

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = Path(os.environ.get("MODELSPEC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _has_shared_data() -> bool:
    return (SHARED_DATA / "mnist").is_dir()


def _prepared_data_dir(tmp_path_factory) -> Path:
    """The local copies prepared once per test run: under pytest-xdist the workers share the
    run's base folder and the first worker to take the lock fills it (the others wait)."""
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    from prepare_local_data import prepare
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return prepare(SHARED_DATA, tmp_path_factory.mktemp("modelspec-data"))
    shared = tmp_path_factory.getbasetemp().parent  # .../pytest-N/, beside popen-gwK/
    folder = shared / "modelspec-data"
    with open(shared / "modelspec-data.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (shared / "modelspec-data.done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            prepare(SHARED_DATA, folder)
            (shared / "modelspec-data.done").touch()
    return folder


@pytest.fixture(scope="session", autouse=True)
def _local_data_dir(tmp_path_factory):
    """Every test reads the specs' data sets from local copies, never from the network:
    MODELSPEC_DATA_DIR is a folder prepared from ../shared/data once per test run (stand-ins
    for MNIST and CIFAR-10, see tools/prepare_local_data.py), or an empty one without it."""
    saved = os.environ.get("MODELSPEC_DATA_DIR")
    if _has_shared_data():
        folder = _prepared_data_dir(tmp_path_factory)
    else:
        folder = tmp_path_factory.mktemp("no-local-data")
    os.environ["MODELSPEC_DATA_DIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("MODELSPEC_DATA_DIR", None)
    else:
        os.environ["MODELSPEC_DATA_DIR"] = saved


@pytest.fixture(scope="session")
def local_data(_local_data_dir) -> Path:
    """The prepared MODELSPEC_DATA_DIR; skips the test when ../shared/data is absent."""
    if not _has_shared_data():
        pytest.skip(f"../shared/data is absent ({SHARED_DATA}): no local copies of the specs' "
                    "data sets (set MODELSPEC_SHARED_DATA)")
    return _local_data_dir


@pytest.fixture
def repo_root() -> Path:
    """The repository's root directory."""
    return REPO_ROOT


@pytest.fixture
def write_spec(tmp_path):
    """Writes dedented YAML text to `tmp_path/<name>` and returns the path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture
def build_spec():
    """Builds dedented YAML text into its Keras model (dict of models for `models:`)."""

    def build(text: str, **overrides):
        from modelspec.build.compiler import build_from_spec
        return build_from_spec(textwrap.dedent(text).lstrip("\n"), overrides or None)

    return build


@pytest.fixture
def spec_problems():
    """Returns the formatted problems of dedented YAML text, ([] when valid).

    With `build=True` the model is also built (Keras errors, size guard).
    """

    def problems(text: str, build: bool = False, filename: str = "spec.yaml") -> list[str]:
        from modelspec.errors import SpecError
        from modelspec.lang.checks import load_and_check
        text = textwrap.dedent(text).lstrip("\n")
        try:
            checked = load_and_check(text if "\n" in text else text + "\n", filename=filename)
            if build:
                from modelspec.build.compiler import build_models
                build_models(checked)
        except SpecError as err:
            return [p.format() for p in err.problems]
        return []

    return problems


@pytest.fixture(scope="session")
def tiny_digits_run(tmp_path_factory) -> tuple[Path, Path]:
    """A finished run of the tiny digits spec (`tiny_digits_spec` with `tiny_train()`),
    trained once per session by `modelspec train SPEC --output RUN --quiet`: (spec file, run
    directory). Read it; to change it, use `tiny_digits_run_copy` (tests/README.md)."""
    from click.testing import CliRunner
    from digits_data import TINY_SPLITS, tiny_digits_spec, tiny_train

    from modelspec.training.cli import train_command
    root = tmp_path_factory.mktemp("tiny_digits")
    spec = root / "spec.yaml"
    spec.write_text(tiny_digits_spec("tiny_digits", TINY_SPLITS, tiny_train()))
    result = CliRunner().invoke(train_command, [str(spec), "--output", str(root / "run"),
                                                "--quiet"])
    assert result.exit_code == 0, result.output
    return spec, root / "run"


@pytest.fixture
def tiny_digits_run_copy(tiny_digits_run, tmp_path) -> Path:
    """A copy of the session's tiny digits run, at `tmp_path / "run"`, free to change."""
    return Path(shutil.copytree(tiny_digits_run[1], tmp_path / "run"))
