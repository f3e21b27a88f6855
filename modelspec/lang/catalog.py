"""The static catalogue of Keras components, read without importing TensorFlow.

`lang/keras_catalog.json` is generated from the installed Keras by
`tools/gen_catalog.py` (a test checks it is current). It lists constructor arguments and
defaults of every layer, optimizer, loss, metric, initialiser, regulariser, constraint and
learning-rate schedule, plus activation and application names. Checking a spec needs only
this file, so `modelspec validate` starts fast.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

REQUIRED = "__required__"
CATALOG_PATH = Path(__file__).resolve().parent / "keras_catalog.json"

KINDS = ("layers", "optimizers", "losses", "metrics", "initializers", "regularizers",
         "constraints", "schedules", "applications", "callbacks")


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    """Returns the parsed catalogue (cached)."""
    parsed: dict[str, Any] = json.loads(CATALOG_PATH.read_text())
    return parsed


def names(kind: str) -> list[str]:
    """Names of the components of `kind` (e.g. "optimizers" → ["Adadelta", ...])."""
    return sorted(catalog()[kind])


def arguments(kind: str, name: str) -> dict[str, Any]:
    """Constructor arguments of a component: name → default (`REQUIRED` if none)."""
    entry: dict[str, Any] = catalog()[kind][name]
    return entry["args"] if kind == "layers" else entry


def call_arguments(layer: str) -> dict[str, Any]:
    """Arguments of a Keras layer's `call`: name → default (`REQUIRED` if none)."""
    call: dict[str, Any] = catalog()["layers"][layer]["call"]
    return call


def string_names(kind: str) -> list[str]:
    """Lower-case names Keras accepts as strings for `kind` (e.g. "he_normal", "mse")."""
    cat = catalog()
    if kind == "activations":
        return list(cat["activations"])
    if kind == "initializers":
        return list(cat["initializer_names"])
    if kind == "regularizers":
        return list(cat["regularizer_names"])
    if kind == "constraints":
        return list(cat["constraint_names"])
    if kind == "losses":
        return list(cat["loss_functions"]) + ["mse", "mae", "mape", "msle"]
    if kind == "metrics":
        return list(cat["metric_functions"]) + ["accuracy", "acc", "mse", "mae", "mape", "msle"]
    if kind == "optimizers":
        return [n.lower() for n in cat["optimizers"]]
    return []
