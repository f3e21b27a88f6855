"""Usage mistakes answered before TensorFlow is imported (well under half a second).

Importing TensorFlow takes seconds, so the commands that need it are wrapped: after click
has parsed the command line (unknown options, missing arguments and click's own path checks
are answered by click itself), `check_before_tensorflow` reads the `-p NAME=VALUE`
overrides, checks that the spec or run path exists and, for a spec file, runs every check
that needs no TensorFlow (YAML, schema, semantics, parameters). Only then is TensorFlow
imported (quietly) and the command run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from modelspec.cli.params import parse_param_overrides
from modelspec.cli.util import handle_errors
from modelspec.errors import UsageError
from modelspec.tfenv import quiet_tensorflow

SPEC_SUFFIXES = (".yaml", ".yml")


def _first_argument(command: click.Command) -> str | None:
    for param in command.params:
        if isinstance(param, click.Argument):
            return param.name
    return None


def check_before_tensorflow(argument: str | None, values: Mapping[str, Any]) -> None:
    """Checks a command's spec/run path and `-p` overrides without importing TensorFlow.

    Args:
        argument: The name of the command's path argument (a spec file or a directory).
        values: The parsed command-line values.

    Raises:
        UsageError: A malformed `-p` or a path that does not exist.
        SpecError: The spec file does not pass the checks that need no TensorFlow.
    """
    overrides = parse_param_overrides(values.get("params") or ())
    given = values.get(argument) if argument else None
    for each in given if isinstance(given, (list, tuple)) else [given]:  # `compare RUN RUN...`
        if each is not None:
            _check_path(each, overrides)


def _check_path(given: Any, overrides: Mapping[str, Any]) -> None:
    path = Path(given)
    if not path.exists():
        raise UsageError(f"{given}: no such file or directory — expected a spec file (.yaml) "
                         "or a run directory written by `modelspec train`")
    if path.is_file() and path.suffix.lower() in SPEC_SUFFIXES:
        from modelspec.lang.checks import load_and_check
        load_and_check(path, overrides=dict(overrides) or None)
    elif overrides and path.is_dir():
        raise UsageError(f"-p/--param applies to a spec file; {given} is a directory (a run "
                         "keeps the parameters it was trained with)")


def preflight(command: click.Command) -> click.Command:
    """Wraps `command` so that usage mistakes are answered before TensorFlow loads."""
    callback: Callable[..., Any] | None = command.callback
    if callback is None or getattr(callback, "_preflight", False):
        return command
    argument = _first_argument(command)

    @functools.wraps(callback)
    @handle_errors
    def run(*args: Any, **kwargs: Any) -> Any:
        check_before_tensorflow(argument, kwargs)
        quiet_tensorflow()
        return callback(*args, **kwargs)

    run._preflight = True  # type: ignore[attr-defined]
    command.callback = run
    return command
