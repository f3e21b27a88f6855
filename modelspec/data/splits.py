"""Split expressions: `train`, `train[:80%]`, `all[8000:]`, `train[10%:20%]+test` (TFDS syntax).

Parsing needs no TensorFlow, so `check_data` can report a bad split at its spec line. Array
sources apply the slices themselves (`slice_indices`); TFDS sources hand the expression to
`tfds.load`, which understands the same syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PART = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?\s*$")


@dataclass(frozen=True)
class SplitPart:
    """One `name[start:end]` term; bounds are ('12', '80%') strings or None."""

    name: str
    start: str | None = None
    end: str | None = None


def parse_split(expr: str) -> list[SplitPart]:
    """Parses a split expression into its `+`-joined parts.

    Args:
        expr: E.g. `"train[:80%]"`, `"all[8000:]"`, `"train+test"`.

    Returns:
        The parts, in order.

    Raises:
        ValueError: With a short reason when the expression is malformed.

    Example:
    >>> parse_split("train[:80%]")
    [SplitPart(name='train', start=None, end='80%')]
    """
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("a split expression must be a non-empty string")
    parts = []
    for term in expr.split("+"):
        match = _PART.match(term)
        if not match:
            raise ValueError(f"cannot parse '{term.strip()}'")
        name, start, end = match.groups()
        for bound in (start, end):
            if bound and bound.endswith("%") and not -100 <= int(bound[:-1]) <= 100:
                raise ValueError(f"percentage '{bound}' is outside -100%..100%")
        parts.append(SplitPart(name, start, end))
    return parts


def _bound(text: str | None, n: int, default: int) -> int:
    if text is None:
        return default
    if text.endswith("%"):
        value = int(text[:-1])
        index = round(n * abs(value) / 100)
        return n - index if value < 0 else index
    value = int(text)
    return max(0, n + value) if value < 0 else min(value, n)


def slice_indices(part: SplitPart, n: int) -> tuple[int, int]:
    """Returns the [start, end) row range of `part` in a split of `n` rows."""
    start = _bound(part.start, n, 0)
    end = _bound(part.end, n, n)
    return start, max(start, end)


def default_splits(available: list[str]) -> dict[str, str]:
    """The splits used when the spec gives none: train/validation/test as the source has them."""
    out: dict[str, str] = {}
    for name in ("train", "validation", "test"):
        if name in available:
            out[name] = name
    if not out:
        out["train"] = available[0] if available else "all"
    return out
