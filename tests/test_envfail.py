"""Environment failures are clean errors with exit 5, never "a bug" (issue 15, finding 8)."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from modelspec.cli.util import OutputPath, handle_errors
from modelspec.envfail import environment_failure

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("exc, expected", [
    (OSError(errno.ENOSPC, "No space left on device", "runs/x/state.json"),
     "cannot write runs/x/state.json: no space left on device (ENOSPC) — free some disk"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/run"),
     "cannot write /mnt/ro/run: read-only file system (EROFS)"),
    (PermissionError(errno.EACCES, "Permission denied", "/srv/out"),
     "cannot write /srv/out: permission denied (EACCES)"),
    (OSError("Unable to synchronously create file (unable to open file: name = 'a/b.h5', "
             "errno = 27, error message = 'File too large')"),
     "cannot write a/b.h5: file too large (EFBIG) — a file-size limit"),
    (RuntimeError("{{function_node __wrapped__SaveV2_device_/job:localhost/task:0}} "
                  "/tmp/x/.tmp-export-1/variables/var; File too large"),
     "cannot write /tmp/x/.tmp-export-1/variables/var: file too large (EFBIG)"),
    (RuntimeError("No space left on device"),
     "a file operation failed: no space left on device (ENOSPC)"),
    (RuntimeError("runs/m/variables.data-00000; No space left on device"),
     "cannot write runs/m/variables.data-00000: no space left on device (ENOSPC)"),
])
def test_os_failures_are_recognised_with_path_and_cause(exc, expected):
    failure = environment_failure(exc)
    assert failure is not None and failure.exit_code == 5
    assert expected in str(failure)


def test_a_wrapped_os_error_is_found_in_the_chain():
    try:
        try:
            raise OSError(errno.ENOTDIR, "Not a directory", "out/file/x")
        except OSError as inner:
            raise ValueError("saving failed") from inner
    except ValueError as err:
        assert "cannot write out/file/x: not a directory (ENOTDIR)" in \
            str(environment_failure(err))
    assert environment_failure(ValueError("a real bug")) is None


def test_handle_errors_exits_5_without_calling_it_a_bug():
    @click.command()
    @handle_errors
    def command():
        raise OSError(errno.ENOSPC, "No space left on device", "runs/r/history.json")

    result = CliRunner().invoke(command, [])
    assert result.exit_code == 5
    assert "runs/r/history.json: no space left on device" in result.output
    assert "bug" not in result.output


def test_empty_output_is_a_usage_error():
    @click.command()
    @click.option("--output", type=OutputPath(file_okay=False, path_type=Path))
    def command(output):
        click.echo(f"wrote {output}")

    result = CliRunner().invoke(command, ["--output", ""])
    assert result.exit_code == 2 and "is empty" in result.output
    assert CliRunner().invoke(command, ["--output", "."]).exit_code == 0


def test_export_under_a_regular_file_exits_5(tmp_path):
    (tmp_path / "file").write_text("x")
    done = subprocess.run([sys.executable, "-m", "modelspec", "export",
                           str(REPO / "specs" / "perceptron.yaml"), "--output",
                           str(tmp_path / "file" / "sub")], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          timeout=300)
    assert done.returncode == 5, done.stderr
    assert "not a directory (ENOTDIR)" in done.stderr and "bug" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "modelspec", "export",
                           str(REPO / "specs" / "perceptron.yaml"), "--output", ""],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert done.returncode == 2 and "is empty" in done.stderr
    assert not (tmp_path / "1").exists()
