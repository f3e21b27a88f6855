"""Pictures and per-class figures of a supervised run's test evaluation.

After training, each output is judged by its loss: a classifier (categorical or binary
cross-entropy, hinge; up to 100 classes) gets a confusion matrix (`confusion.png`, or
`confusion_<output>.png` with several outputs) and per-class precision, recall and F1 with
their macro averages
(scikit-learn's `confusion_matrix` and `precision_recall_fscore_support`); a regression
output with a few values per example (mse, mae, huber, ...) gets a predicted-vs-true plot
(`predicted_vs_true.png`). Drawn with matplotlib, written atomically.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelspec.training.config import TrainConfig

_CLASSIFICATION = ("crossentropy", "hinge")
_REGRESSION = ("squared_error", "absolute_error", "huber", "log_cosh", "mse", "mae", "mape",
               "logcosh", "MeanSquared", "MeanAbsolute", "Huber", "LogCosh")
MAX_REGRESSION_VALUES = 4      # values per example for a predicted-vs-true plot
MAX_ANNOTATED_CLASSES = 20     # counts written in the cells up to this many classes
MAX_CLASSES = 100              # beyond (a vocabulary), no matrix and no per-class table


@dataclass
class Diagnostics:
    """What the evaluation added: flat metrics, per-class figures and picture paths."""

    metrics: dict[str, float] = field(default_factory=dict)
    per_class: dict[str, dict] = field(default_factory=dict)
    pictures: list[Path] = field(default_factory=list)


def _loss_name(loss: Any) -> str:
    if isinstance(loss, dict):
        return str(loss.get("type", ""))
    return str(loss or "")


def output_kind(loss: Any) -> str | None:
    """'classification', 'regression' or None (no picture) for an output's loss."""
    name = _loss_name(loss)
    if any(word in name.lower() for word in _CLASSIFICATION):
        return "classification"
    if any(word.lower() in name.lower() for word in _REGRESSION):
        return "regression"
    return None


def collect(model: Any, dataset: Any) -> tuple[dict, dict]:
    """Targets and predictions of every output over a dataset, as numpy arrays."""
    trues: dict[str, list] = {}
    preds: dict[str, list] = {}
    for batch in dataset:
        inputs, targets = batch[0], batch[1]
        outputs = model(inputs, training=False)
        outputs = outputs if isinstance(outputs, dict) else {"output": outputs}
        targets = targets if isinstance(targets, dict) else {next(iter(outputs)): targets}
        for name, value in targets.items():
            trues.setdefault(name, []).append(np.asarray(value))
            preds.setdefault(name, []).append(np.asarray(outputs[name], dtype="float32"))
    return ({k: np.concatenate(v) for k, v in trues.items()},
            {k: np.concatenate(v) for k, v in preds.items()})


def class_decisions(y_true: np.ndarray, y_pred: np.ndarray, loss: Any) -> tuple:
    """Integer true and predicted classes (argmax; a single sigmoid/logit at 0.5/0)."""
    from_logits = isinstance(loss, dict) and bool(loss.get("from_logits"))
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        cut = 0.0 if from_logits else 0.5
        return (y_true.reshape(-1) > 0.5).astype(int), (y_pred.reshape(-1) > cut).astype(int)
    true = y_true.reshape(-1) if y_true.ndim == 1 or y_true.shape[-1] == 1 else \
        y_true.reshape(-1, y_true.shape[-1]).argmax(-1)
    return true.astype(int), y_pred.reshape(-1, y_pred.shape[-1]).argmax(-1)


def per_class_figures(true: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    """Precision, recall, F1 and support per class (scikit-learn), keyed by class name."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(range(len(names)))
    p, r, f, s = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    return {names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                       "support": int(s[i])} for i in labels}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_confusion(true: np.ndarray, pred: np.ndarray, names: list[str], path: Path,
                   title: str) -> Path:
    """A confusion matrix: counts in the cells, colour by the share of the true class."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(true, pred, labels=list(range(len(names))))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(4.0 + 0.45 * len(names), 16.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right"
                  if max(map(len, names)) > 3 else "center")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if len(names) <= MAX_ANNOTATED_CLASSES:
        for i in ticks:
            for j in ticks:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.5 else "black")
    accuracy = float(np.trace(matrix)) / max(int(matrix.sum()), 1)
    ax.set_title(f"{title}\naccuracy {accuracy:.3f} on {int(matrix.sum())} examples")
    fig.tight_layout()
    return _save(fig, path)


def plot_predicted_vs_true(true: np.ndarray, pred: np.ndarray, path: Path,
                           title: str) -> Path:
    """Predicted against true values (one colour per output value), with the diagonal."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = true.reshape(len(true), -1).astype("float32")
    pred = pred.reshape(len(pred), -1)
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    for k in range(true.shape[1]):
        ax.scatter(true[:, k], pred[:, k], s=8, alpha=0.5,
                   label=f"value {k}" if true.shape[1] > 1 else None)
    low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="predicted = true")
    rmse = float(np.sqrt(np.mean((pred - true) ** 2)))
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(f"{title}\nRMSE {rmse:.4g} on {len(true)} examples")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def _labels_for(labels: Any, output: str, count: int) -> list[str]:
    chosen = labels.get(output) if isinstance(labels, dict) else labels
    if isinstance(chosen, list) and len(chosen) == count:
        return [str(x) for x in chosen]
    return [str(i) for i in range(count)]


def _losses(loss: Any, outputs: list[str]) -> dict[str, Any]:
    if isinstance(loss, dict) and "type" not in loss:
        return {name: loss.get(name) for name in outputs}
    return {name: loss for name in outputs}


def evaluation_diagnostics(model: Any, dataset: Any, loss: Any, directory: Path, *,
                           split: str = "test", labels: Any = None) -> Diagnostics:
    """Confusion matrices and per-class figures (classifiers) and predicted-vs-true plots
    (regressions) of `model` on `dataset`, written into `directory`.

    Args:
        model: The trained single-model `keras.Model` (dict outputs).
        dataset: The evaluation split (yields `(inputs, targets[, weights])`).
        loss: `train.loss`: one loss, or output → loss (they decide each output's kind).
        directory: The run directory.
        split: The split's name, which prefixes the flat metrics (`test_macro_f1`).
        labels: Class names (`export.labels`: a list, or output → list).
    """
    found = Diagnostics()
    trues, preds = collect(model, dataset)
    several = len(trues) > 1
    for output, output_loss in _losses(loss, list(trues)).items():
        kind = output_kind(output_loss)
        if output not in trues or kind is None:
            continue
        suffix = f"_{output}" if several else ""
        title = f"{model.name}: {output} ({split})"
        if kind == "classification" and preds[output].ndim > 2:
            continue  # one class per position (a sequence output): no per-example matrix
        if kind == "classification":
            true, pred = class_decisions(trues[output], preds[output], output_loss)
            width = preds[output].shape[-1] if preds[output].ndim > 1 else 1
            names = _labels_for(labels, output, max(width, 2, int(true.max()) + 1))
            if len(names) > MAX_CLASSES:
                continue
            figures = per_class_figures(true, pred, names)
            found.per_class[output] = figures
            for key in ("precision", "recall", "f1"):
                found.metrics[f"{split}{suffix}_macro_{key}"] = float(np.mean(
                    [f[key] for f in figures.values()]))
            found.pictures.append(plot_confusion(true, pred, names,
                                                 directory / f"confusion{suffix}.png", title))
        elif np.prod(trues[output].shape[1:]) <= MAX_REGRESSION_VALUES:
            found.pictures.append(plot_predicted_vs_true(
                trues[output], preds[output], directory / f"predicted_vs_true{suffix}.png",
                title))
    return found


def run_diagnostics(models: dict[str, Any], bundle: Any, train: TrainConfig, directory: Path,
                    labels: Any = None) -> Diagnostics | None:
    """The diagnostics of a finished supervised run on its test split (else validation);
    None for other loops, several models or no evaluation split."""
    if train.kind == "adversarial" or len(models) != 1:
        return None
    for split in ("test", "validation"):
        dataset = getattr(bundle, split, None)
        if dataset is not None:
            (model,) = models.values()
            return evaluation_diagnostics(model, dataset, train.loss, Path(directory),
                                          split=split, labels=labels)
    return None
