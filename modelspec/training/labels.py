"""Labels checked against the model's outputs and losses before training (issue 15, #11).

Keras trains on whatever it is given: a label 7 for a sigmoid output with binary
cross-entropy, a class index ≥ the number of classes, a `1e400` parsed as infinity — each
gives a loss that is wrong (or `inf`) without a word. After the pipeline is built, the
targets of each split are read once (which also fills the pipeline's cache) and checked per
output against its loss: finite everywhere; sparse categorical cross-entropy: integers in
[0, classes); binary / categorical cross-entropy and the hinge family on a probability
output: values in [0, 1]. A problem is a positioned `SpecError` (exit 2) naming the split,
the example (row) and the value. Splits with more than `MAX_EXAMPLES` examples are not
read here (their cost would exceed the check's worth).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelspec.errors import Collector

MAX_EXAMPLES = 200_000
_SPARSE = {"sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
           "sparse_categorical_focal_crossentropy"}
_PROBABILITY = {"binary_crossentropy", "BinaryCrossentropy", "categorical_crossentropy",
                "CategoricalCrossentropy", "binary_focal_crossentropy",
                "BinaryFocalCrossentropy", "kl_divergence", "KLDivergence"}


def loss_name(loss: Any) -> str | None:
    """The name of one loss entry (`"mse"`, `{type: Huber, ...}`), or None."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, dict) and isinstance(loss.get("type"), str):
        return loss["type"]
    return None


def losses_by_output(loss: Any, outputs: list[str]) -> dict[str, str | None]:
    """Output name → its loss's name, for a single loss or a per-output mapping."""
    if isinstance(loss, dict) and "type" not in loss:
        return {name: loss_name(loss.get(name)) for name in outputs}
    return {name: loss_name(loss) for name in outputs}


def _targets(dataset: Any) -> dict[str, np.ndarray]:
    """All targets of a batched `(x, y[, w])` dataset, concatenated per output."""
    parts: dict[str, list] = {}
    for element in dataset.map(lambda *e: e[1]).as_numpy_iterator():
        for name, value in element.items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values) for name, values in parts.items()}


def label_problem(values: np.ndarray, loss: str | None, classes: int | None) -> tuple | None:
    """(index of the first bad example, its value, what was expected), or None."""
    flat = values.reshape(len(values), -1) if len(values) else values
    if np.issubdtype(values.dtype, np.floating):
        bad = ~np.isfinite(flat).all(axis=-1) if flat.ndim > 1 else ~np.isfinite(flat)
        if bad.any():
            i = int(np.argmax(bad))
            return i, values[i], "finite numbers (no NaN, no infinity)"
    if loss in _SPARSE and classes:
        bad = (flat != np.round(flat)) | (flat < 0) | (flat >= classes)
        bad = bad.any(axis=-1) if bad.ndim > 1 else bad
        if bad.any():
            i = int(np.argmax(bad))
            return i, values[i], f"an integer class index from 0 to {classes - 1} for " \
                f"{loss} on a {classes}-unit output"
    if loss in _PROBABILITY:
        bad = (flat < 0) | (flat > 1)
        bad = bad.any(axis=-1) if bad.ndim > 1 else bad
        if bad.any():
            i = int(np.argmax(bad))
            return i, values[i], f"values from 0 to 1 for {loss}"
    return None


def check_labels(bundle: Any, model: Any, loss: Any, errs: Collector) -> None:
    """Adds a problem per output whose labels do not fit its loss (`train.loss`: one loss, or
    output → loss; see the module doc)."""
    outputs = model.output if isinstance(model.output, dict) else {}
    losses = losses_by_output(loss, list(outputs))
    for split in ("train", "validation", "test"):
        dataset = getattr(bundle, split, None)
        count = (getattr(bundle, "counts", {}) or {}).get(split)
        if dataset is None or count is None or count > MAX_EXAMPLES:
            continue
        for name, values in _targets(dataset).items():
            if name not in outputs:
                continue
            classes = outputs[name].shape[-1]
            found = label_problem(values, losses.get(name), classes)
            if found is not None:
                index, value, expected = found
                field = bundle.targets.get(name, name)
                errs.add(("data", "targets", name), f"label {_show(value)} of example "
                         f"{index + 1} in split '{split}' (field '{field}') does not fit "
                         f"output '{name}'", expected=expected)
                return  # one is enough to act on; the others are alike


def _show(value: Any) -> str:
    array = np.asarray(value)
    text = str(array.tolist() if array.ndim else array.item())
    return text if len(text) <= 40 else text[:37] + "..."
