"""An item's control keys — `if:`, `repeat:`, `vary:`, `first:` — and parameter values.

`Values` resolves `$name`/`$(expression)` references against the parameters in scope and
reports what fails at its document path; `modelspec.lang.expand` builds on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.expr import ExpressionError
from modelspec.lang.spec import resolve_value
from modelspec.source import PathT, YamlMap

MAX_REPEAT = 1000    # the schema's own bound on `repeat`, enforced here before expanding

Expansion = tuple[str, ...]  # the block-expansion path of an item, outermost first
Overrides = dict[str, tuple[Any, PathT]]  # `first:`/`vary:` values of one copy, with their paths


class Values:
    """Resolves an item's values and control keys; problems go to `errs`."""

    def __init__(self, errs: Collector) -> None:
        self.errs = errs

    def resolve(self, value: Any, names: Mapping[str, Any], path: PathT) -> tuple[Any, bool]:
        """(value with its references resolved, True), or (None, False) once reported."""
        try:
            return resolve_value(value, names), True
        except ExpressionError as err:
            self.errs.add(path, str(err), expected=err.expected,
                          suggestion=did_you_mean(err.name, names) if err.name else None)
            return None, False

    def condition(self, item: YamlMap, ipath: PathT, names: Mapping[str, Any],
                  expansion: Expansion) -> bool | None:
        """The item's `if:` value, or None when it is not a boolean (reported)."""
        cond, ok = self.resolve(item["if"], names, ipath + ("if",))
        if not ok:
            return None
        if not isinstance(cond, bool):
            self.errs.add(ipath + ("if",), f"'if' must be true or false, got {cond!r}",
                          expected="a boolean or a comparison", notes=expansion)
            return None
        return cond

    def repeat_count(self, item: YamlMap, ipath: PathT, names: Mapping[str, Any],
                     expansion: Expansion) -> int | None:
        """The item's `repeat:` (1 without one), or None when it is invalid (reported)."""
        if "repeat" not in item:
            return 1
        repeat, ok = self.resolve(item["repeat"], names, ipath + ("repeat",))
        if not ok or not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            if ok:
                self.errs.add(ipath + ("repeat",), f"'repeat' must be a positive integer, "
                              f"got {repeat!r}", expected="an integer ≥ 1", notes=expansion)
            return None
        if repeat > MAX_REPEAT:
            self.errs.add(ipath + ("repeat",), f"'repeat' is {repeat}, more than "
                          f"{MAX_REPEAT}", expected=f"an integer from 1 to {MAX_REPEAT}",
                          notes=expansion)
            return None
        return repeat

    def check_vary(self, vary: YamlMap, repeat: int, ipath: PathT, names: Mapping[str, Any],
                   expansion: Expansion) -> bool:
        """True when every `vary:` entry resolves to a list of `repeat` values."""
        for key, values in vary.items():
            values, ok = self.resolve(values, names, ipath + ("vary", key))
            if not ok:
                return False
            if not isinstance(values, list) or len(values) != repeat:
                got = len(values) if isinstance(values, list) else "not a list"
                self.errs.add(ipath + ("vary", key), f"'vary.{key}' has {got} values but "
                              f"'repeat' is {repeat}", expected=f"a list of {repeat} values, "
                              "one per copy", notes=expansion)
                return False
        return True

    def copy_overrides(self, item: YamlMap, ipath: PathT, names: Mapping[str, Any],
                       vary: YamlMap, copy: int) -> Overrides:
        """The `first:` (copy 0) and `vary:` values of one copy, with their paths."""
        overrides: Overrides = {}
        if copy == 0 and isinstance(item.get("first"), dict):
            overrides.update({k: (v, ipath + ("first", k)) for k, v in item["first"].items()})
        for key, values in vary.items():
            values, _ = self.resolve(values, names, ipath + ("vary", key))
            overrides[key] = (values[copy], ipath + ("vary", key, copy))
        return overrides
