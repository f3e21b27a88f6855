"""Error types with source positions, and the one formatter every error goes through.

Every user mistake becomes a `Problem`: where it is (file, line, column, path inside the
document), what is wrong, what was expected and, when a close name exists, a suggestion.
A `SpecError` carries all problems of a file at once; the CLI prints them sorted by line
and exits with code 2. Other failures have their own exit codes (docs/DESIGN.md §2):
0 ok, 1 internal error, 2 invalid spec or usage, 3 training diverged, 4 state conflict,
5 environment failure (disk full, read-only file system, permission denied, ...).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from modelspec.source import PathT, SourceMap

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INVALID = 2
EXIT_DIVERGED = 3
EXIT_CONFLICT = 4
EXIT_ENVIRONMENT = 5



def format_path(path: Sequence[str | int]) -> str:
    """Formats a document path the way a reader writes it.

    Args:
        path: Keys (str) and list indices (int) from the document root.

    Returns:
        A string such as `model.layers[3].units`; `<root>` for the empty path.

    Example:
    >>> format_path(("model", "layers", 3, "units"))
    'model.layers[3].units'
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def did_you_mean(word: object, options: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Returns the option closest to `word`, or None when none is close enough.

    Case-insensitive matches win first, so `dense` suggests `Dense`.
    """
    if not isinstance(word, str):
        return None
    options = [o for o in options if isinstance(o, str)]
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    squashed = {o.lower().replace("_", ""): o for o in options}
    key = word.lower().replace("_", "")
    if key in squashed and squashed[key] != word:
        return squashed[key]
    close = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    if close:
        return close[0]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[close[0]] if close else None


@dataclass(frozen=True)
class Problem:
    """One user mistake at one place of a spec.

    Args:
        file: The spec's file name as the user gave it (or `<string>`).
        line: 1-based line of the offending node (0 when unknown).
        col: 1-based column of the offending node (0 when unknown).
        path: The node's path inside the document, formatted (`model.layers[3]`).
        message: What is wrong.
        expected: What was expected instead (optional).
        suggestion: A close valid name for "did you mean ...?" (optional).
        notes: Extra lines printed under the message (input shapes, block path, ...).
    """

    file: str
    line: int
    col: int
    path: str
    message: str
    expected: str | None = None
    suggestion: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def format(self) -> str:
        """Renders `file:line:col: path: what is wrong — expected (did you mean X?)`."""
        text = f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"
        if self.expected:
            text += f" — expected {self.expected}"
        if self.suggestion:
            text += f" (did you mean '{self.suggestion}'?)"
        for note in self.notes:
            text += f"\n    {note}"
        return text

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.path, self.message)


class ModelspecError(Exception):
    """Base of all errors modelspec reports to users; `exit_code` is what the CLI returns."""

    exit_code = EXIT_INTERNAL


class SpecError(ModelspecError):
    """One or more problems in a spec (or in how a command was used); exit code 2.

    Args:
        problems: The problems, in any order; they are de-duplicated and sorted by line.
    """

    exit_code = EXIT_INVALID

    def __init__(self, problems: Iterable[Problem]) -> None:
        unique = {p: None for p in problems}
        self.problems = sorted(unique, key=Problem.sort_key)
        super().__init__(self.format())

    def format(self) -> str:
        lines = [p.format() for p in self.problems]
        count = len(self.problems)
        if count > 1:
            lines.append(f"{count} errors")
        return "\n".join(lines)


class UsageError(ModelspecError):
    """A command was given something it cannot use (a missing file, a bad option); exit 2."""

    exit_code = EXIT_INVALID


class DivergedError(ModelspecError):
    """Training produced a NaN or infinite loss; exit code 3."""

    exit_code = EXIT_DIVERGED


class StateConflictError(ModelspecError):
    """The run directory holds state that does not fit the request (e.g. a changed spec); exit 4."""

    exit_code = EXIT_CONFLICT


class EnvironmentFailure(ModelspecError):
    """The machine refused an operation (disk full, read-only file system, permission
    denied, a path under a regular file, a file-size limit, ...); exit code 5. Not a bug of
    modelspec and not a mistake in the spec: the message names the path and the cause."""

    exit_code = EXIT_ENVIRONMENT


class Collector:
    """Collects problems of one spec so that all of them are reported at once.

    Example:
    >>> errs = Collector(source)
    >>> errs.add(("model", "layers", 0), "unknown layer type 'Dense2'", expected="a Keras layer")
    >>> errs.raise_if_any()
    """

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, path: PathT, message: str, expected: str | None = None,
            suggestion: str | None = None, notes: Sequence[str] = (), key: bool = False,
            at: PathT | None = None) -> None:
        """Adds a problem at `path` (the key's position when `key`, else the value's).

        `at` overrides the position lookup (e.g. the position of a block invocation).
        """
        line, col = self.source.position(at if at is not None else path, key=key)
        self.problems.append(Problem(self.source.filename, line, col, format_path(path),
                                     message, expected, suggestion, tuple(notes)))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise SpecError(self.problems)

    def __bool__(self) -> bool:
        return bool(self.problems)
