"""Shared plumbing for click commands: error → exit code mapping.

Every command body runs under `handle_errors`, so a user mistake prints its positioned
message(s) on stderr and exits with the error's code (2 invalid, 3 diverged, 4 conflict),
never with a traceback. Unexpected exceptions exit 1 with a one-line summary; set
`MODELSPEC_DEBUG=1` to see the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from modelspec.errors import EXIT_INTERNAL, ModelspecError

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator for click command callbacks: maps modelspec errors to exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
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
            if os.environ.get("MODELSPEC_DEBUG"):
                traceback.print_exc()
            click.echo(f"internal error: {type(err).__name__}: {err}\n"
                       "(this is a bug in modelspec; set MODELSPEC_DEBUG=1 for the traceback)",
                       err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper
