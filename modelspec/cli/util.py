"""Shared plumbing for click commands: error → exit code mapping.

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
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click

from modelspec.envfail import environment_failure, report_file_size_limits
from modelspec.errors import EXIT_INTERNAL, ModelspecError

P = ParamSpec("P")
R = TypeVar("R")


class OutputPath(click.Path):
    """`click.Path` that refuses an empty value (click turns '' into '.', and `export
    --output ''` then wrote `./1`): a usage error, exit 2."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty — expected a path (use '.' for the current directory)",
                      param, ctx)
        return super().convert(value, param, ctx)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator for click command callbacks: maps modelspec errors to exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
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


def data_dir_option(func: Callable[..., R]) -> Callable[..., R]:
    """Adds `--data-dir DIR` (default: env MODELSPEC_DATA_DIR) to a command that reads data.

    The folder holds local copies of downloaded data sets, one sub-folder per data set
    (`DIR/mnist/...`); see `modelspec.data.fetch`. The option must sit below `@click.command`.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, data_dir: str | None = None, **kwargs: Any) -> R:
        from modelspec.data.fetch import using_data_dir
        with using_data_dir(data_dir):
            return func(*args, **kwargs)

    return click.option(
        "--data-dir", type=click.Path(file_okay=False), envvar="MODELSPEC_DATA_DIR",
        help="Folder of local copies of data sets (DIR/<name>/...), used instead of "
             "downloading; default: $MODELSPEC_DATA_DIR.")(wrapper)
