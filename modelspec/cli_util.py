"""Shared plumbing for click commands: error → exit code mapping and quiet TensorFlow.

Every command body runs under `handle_errors`, so a user mistake prints its positioned
message(s) on stderr and exits with the error's code (2 invalid, 3 diverged, 4 conflict),
never with a traceback. Failures of the machine (disk full, read-only file system, permission
denied, ...) exit 5 naming the path and the cause (`modelspec.envfail`). Unexpected
exceptions exit 1 with a one-line summary; set `MODELSPEC_DEBUG=1` to see the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback

import click

from modelspec.envfail import environment_failure, report_file_size_limits
from modelspec.errors import EXIT_INTERNAL, ModelspecError


class OutputPath(click.Path):
    """`click.Path` that refuses an empty value (click turns '' into '.', and `export
    --output ''` then wrote `./1`): a usage error, exit 2."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("is empty — expected a path (use '.' for the current directory)",
                      param, ctx)
        return super().convert(value, param, ctx)


def quiet_tensorflow() -> None:
    """Imports TensorFlow without its C++ start-up chatter on the terminal.

    TensorFlow's absl logging writes INFO lines (oneDNN, CUDA probing) to file descriptor 2
    before any log level applies, so stderr is pointed at /dev/null while TensorFlow loads
    and probes its devices, then restored. Python exceptions are unaffected. Set
    `MODELSPEC_DEBUG=1` to see everything.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log lines; Python errors still raise
    if "tensorflow" in sys.modules or os.environ.get("MODELSPEC_DEBUG"):
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf
            tf.config.list_physical_devices()
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def handle_errors(func):
    """Decorator for click command callbacks: maps modelspec errors to exit codes."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        report_file_size_limits()
        try:
            return func(*args, **kwargs)
        except ModelspecError as err:
            click.echo(str(err), err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as err:  # an internal error: a bug in modelspec, not the user's
            failure = environment_failure(err)
            if failure is not None:  # disk full, read-only, ...: the machine, not a bug
                click.echo(str(failure), err=True)
                sys.exit(failure.exit_code)
            if os.environ.get("MODELSPEC_DEBUG"):
                traceback.print_exc()
            click.echo(f"internal error: {type(err).__name__}: {err}\n"
                       "(this is a bug in modelspec; set MODELSPEC_DEBUG=1 for the traceback)",
                       err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper
