"""`-p NAME=VALUE` overrides of a spec's params, shared by every command that reads a spec."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelspec.errors import UsageError


def parse_param_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parses `NAME=VALUE` overrides; values are read as YAML 1.2 scalars (10, 0.5, true)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--param '{item}': expected NAME=VALUE, e.g. num_classes=10")
        name, value = item.split("=", 1)
        out[name.strip()] = parse_scalar(value.strip())
    return out


def parse_scalar(text: str) -> Any:
    """Reads one YAML 1.2 core-schema scalar (int, float, bool, null or string)."""
    from modelspec.lang.yamlio import load_text

    loaded = load_text(f"v: {text}\n", filename="--param")
    return loaded.data["v"]
