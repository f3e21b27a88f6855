"""Adversarial examples by the fast gradient sign method (Goodfellow et al. 2015).

    x' = clip(x + ε · sign(∇ₓ J(θ, x, y)), low, high)

where J is the classifier's cross-entropy on the true label and `(low, high)` the range of
the input data. The targeted variant (Kurakin, Goodfellow & Bengio, "Adversarial Examples in
the Physical World", 2017, one step) moves towards a chosen class t instead:

    x' = clip(x − ε · sign(∇ₓ J(θ, x, t)), low, high)

and succeeds on an example when x' is classified as t. The gradient is computed once per
batch with `tf.GradientTape`; every ε reuses it. The lecture's example: a panda classified
at 57.7 % becomes a "gibbon" at 99.3 % after an imperceptible ε = 0.007 step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelspec.errors import UsageError

if TYPE_CHECKING:
    import tensorflow as tf
    from matplotlib.figure import Figure

    from modelspec.techniques.target import Classifier, Range

SHOWN = 8  # examples in the grid image


@dataclass
class AttackReport:
    """Accuracy of a classifier on clean and adversarial examples.

    Attributes:
        split: The data split attacked.
        examples: Number of examples.
        value_range: The input range images were clipped to.
        clean_accuracy: Accuracy on the unmodified examples.
        adversarial: ε → accuracy on the adversarial examples.
        shown: For the grid: `clean`, `labels`, `sign`, and per ε the images and predictions.
        target: The class a targeted attack aims at (None: untargeted).
        hits: ε → the fraction of the examples not of class `target` that the adversarial
            examples make the classifier call `target` (targeted attacks only).
        candidates: The number of examples not of class `target`.
    """

    split: str
    examples: int
    value_range: Range
    clean_accuracy: float
    adversarial: dict[float, float] = field(default_factory=dict)
    shown: dict[str, Any] = field(default_factory=dict, repr=False)
    target: int | None = None
    hits: dict[float, float] = field(default_factory=dict)
    candidates: int = 0

    def drop(self, epsilon: float) -> float:
        """Clean minus adversarial accuracy at `epsilon`."""
        return self.clean_accuracy - self.adversarial[epsilon]

    def as_dict(self) -> dict[str, Any]:
        return {"split": self.split, "examples": self.examples,
                "range": list(self.value_range), "clean_accuracy": self.clean_accuracy,
                "target": self.target, "targeted_candidates": self.candidates,
                "results": [{"epsilon": e, "adversarial_accuracy": a, "drop": self.drop(e)}
                            | ({"target_success": self.hits[e]} if self.target is not None
                               else {}) for e, a in self.adversarial.items()]}


def is_probability(scores: np.ndarray | tf.Tensor) -> bool:
    """True when a batch of class scores are probabilities (non-negative, rows sum to 1)."""
    scores = np.asarray(scores, np.float64)
    return bool(np.all(scores >= 0) and np.allclose(scores.sum(-1), 1.0, atol=1e-3))


def class_indices(labels: np.ndarray | tf.Tensor, num_classes: int) -> np.ndarray:
    """Integer class labels from sparse (`(n,)`, `(n, 1)`) or one-hot (`(n, classes)`) labels."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[-1] == num_classes and num_classes > 1:
        return labels.argmax(-1).astype(np.int64)
    return labels.reshape(len(labels), -1)[:, 0].astype(np.int64)


def loss_gradient(classifier: Classifier, images: np.ndarray | tf.Tensor, labels: np.ndarray,
                  from_logits: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """∇ₓ of the cross-entropy J(θ, x, y) for a batch; returns (gradient, scores).

    Args:
        classifier: A `Classifier`.
        images: Float images `(n, height, width, channels)`.
        labels: Integer class labels `(n,)`.
        from_logits: Whether the classifier's scores are logits (else probabilities).
    """
    import keras
    import tensorflow as tf
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = classifier.scores(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
            tf.convert_to_tensor(labels), scores, from_logits=from_logits))
    return tape.gradient(loss, x), scores


def fgsm(classifier: Classifier, images: np.ndarray, labels: np.ndarray, epsilon: float,
         value_range: Range,
         from_logits: bool | None = None) -> np.ndarray:
    """Adversarial examples `clip(x + ε·sign(∇ₓJ(x, y)))` for one batch.

    Args:
        classifier: A `Classifier`.
        images: Float images `(n, height, width, channels)` in `value_range`.
        labels: Integer class labels `(n,)`.
        epsilon: Step size in input units (e.g. 0.1 for images in [0, 1]).
        value_range: `(low, high)` the result is clipped to.
        from_logits: Whether the scores are logits; detected from the scores when None.

    Returns:
        The adversarial images, same shape as `images`.

    Example:
    >>> adversarial = fgsm(clf, x, y, 0.1, (0.0, 1.0))
    """
    if from_logits is None:
        from_logits = not is_probability(classifier.scores(images))
    gradient, _ = loss_gradient(classifier, images, labels, from_logits)
    step = epsilon * np.sign(gradient.numpy())
    return np.clip(np.asarray(images, np.float32) + step, *value_range).astype(np.float32)


def attack(classifier: Classifier, epsilons: Iterable[float], split: str = "test",
           limit: int | None = None, value_range: Sequence[float] | None = None,
           target: int | None = None) -> AttackReport:
    """Runs FGSM on a split of the classifier's data and measures the accuracy drop.

    Args:
        classifier: A `Classifier` whose spec has a `data:` section.
        epsilons: The step sizes, in input units.
        split: "test", "validation" or "train" (no augmentation is applied to the split).
        limit: Attack at most this many examples (all when None).
        value_range: `(low, high)`; measured on the data when None.
        target: A class index for a targeted attack (x − ε·sign(∇ₓJ(x, target))); None for
            the untargeted one.

    Returns:
        An `AttackReport`.

    Raises:
        UsageError: The split does not exist, a negative ε, or the data has no labels for
            the classifier's output.

    Example:
    >>> report = attack(load_classifier("runs/lenet5"), [0.05, 0.1, 0.2])
    >>> report.drop(0.1)
    """
    epsilons = _checked_epsilons(classifier, epsilons, target)
    bundle = classifier.datasets()
    data = getattr(bundle, split, None)
    if data is None:
        present = [s for s in ("train", "validation", "test") if getattr(bundle, s) is not None]
        raise UsageError(f"--split {split}: the spec's data has no {split} split — expected "
                         f"one of {', '.join(present)}")
    low_high = classifier.ensure_range(value_range)
    tally = _Tally(epsilons, target)
    from_logits: bool | None = None
    for element in data:
        if not isinstance(element, tuple) or classifier.output not in element[1]:
            raise UsageError(f"{classifier.origin}: the data has no labels for output "
                             f"'{classifier.output}' — expected data.targets to name it")
        inputs, targets = element[0], element[1]
        images = np.asarray(inputs[classifier.image], np.float32)
        labels = class_indices(targets[classifier.output], classifier.num_classes)
        if limit is not None:
            images, labels = images[:limit - tally.seen], labels[:limit - tally.seen]
        if from_logits is None:
            from_logits = not is_probability(classifier.scores(images))
        tally.add(classifier, images, labels, low_high, from_logits)
        if limit is not None and tally.seen >= limit:
            break
    if tally.seen == 0:
        raise UsageError(f"--split {split}: the split is empty")
    return tally.report(split, low_high)


def _checked_epsilons(classifier: Classifier, epsilons: Iterable[float],
                      target: int | None) -> list[float]:
    """The step sizes as floats, after checking them and the target class."""
    checked = [float(e) for e in epsilons]
    if target is not None and not 0 <= target < classifier.num_classes:
        raise UsageError(f"--target {target}: expected a class index from 0 to "
                         f"{classifier.num_classes - 1}")
    for e in checked:
        if not np.isfinite(e) or e < 0:
            raise UsageError(f"--epsilon {e:g}: expected a non-negative number (in input "
                             "units, e.g. 0.1 for images in [0, 1])")
    return checked


@dataclass
class _Tally:
    """The running counts of an attack over the batches of a split."""

    epsilons: list[float]
    target: int | None
    correct: dict[float, int] = field(default_factory=dict)  # ε → adversarial hits of labels
    hits: dict[float, int] = field(default_factory=dict)     # ε → examples sent to `target`
    clean_correct: int = 0
    seen: int = 0
    candidates: int = 0
    shown: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.correct = {e: 0 for e in self.epsilons}
        self.hits = {e: 0 for e in self.epsilons}

    def add(self, classifier: Classifier, images: np.ndarray, labels: np.ndarray,
            low_high: Range, from_logits: bool) -> None:
        """Attacks one batch at every ε and counts the results."""
        target = self.target
        aim = labels if target is None else np.full_like(labels, target)
        gradient, scores = loss_gradient(classifier, images, aim, from_logits)
        # untargeted: up the loss of the true class; targeted: down the loss of the target
        sign = np.sign(gradient.numpy()) * (1.0 if target is None else -1.0)
        others = labels != target if target is not None else np.ones(len(labels), bool)
        self.candidates += int(others.sum())
        clean_pred = np.asarray(scores).argmax(-1)
        self.clean_correct += int((clean_pred == labels).sum())
        shown = self.shown
        if not shown:
            k = min(SHOWN, len(images))
            shown.update({"clean": images[:k], "labels": labels[:k], "sign": sign[:k],
                          "clean_pred": _top(scores[:k], from_logits), "eps": {}})
        for e in self.epsilons:
            adversarial = np.clip(images + e * sign, *low_high).astype(np.float32)
            adv_scores = classifier.scores(adversarial)
            adv_pred = np.asarray(adv_scores).argmax(-1)
            self.correct[e] += int((adv_pred == labels).sum())
            self.hits[e] += int(((adv_pred == target) & others).sum())
            if e not in shown["eps"]:
                k = len(shown["clean"])
                shown["eps"][e] = (adversarial[:k], _top(adv_scores[:k], from_logits))
        self.seen += len(images)

    def report(self, split: str, low_high: Range) -> AttackReport:
        seen, epsilons = self.seen, self.epsilons
        return AttackReport(split, seen, low_high, self.clean_correct / seen,
                            {e: self.correct[e] / seen for e in epsilons}, self.shown,
                            self.target,
                            {e: self.hits[e] / max(self.candidates, 1) for e in epsilons}
                            if self.target is not None else {}, self.candidates)


def _top(scores: np.ndarray | tf.Tensor, from_logits: bool) -> list[tuple[int, float]]:
    """(predicted class, its probability) per row."""
    import tensorflow as tf
    probs = tf.nn.softmax(scores).numpy() if from_logits else np.asarray(scores)
    return [(int(p.argmax()), float(p.max())) for p in probs]


def attack_figure(report: AttackReport, class_names: Sequence[str] | None = None) -> Figure:
    """A matplotlib Figure: rows are examples; columns clean, sign(∇ₓJ), one per ε."""
    from matplotlib.figure import Figure

    from modelspec.techniques.images import show
    shown = report.shown
    rows, cols = len(shown["clean"]), 2 + len(shown["eps"])
    figure = Figure(figsize=(1.6 * cols, 2.0 * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)

    def name(index: int) -> str:
        if class_names and 0 <= index < len(class_names):
            return str(class_names[index])
        return str(index)

    low, high = report.value_range
    for r in range(rows):
        label = name(shown["labels"][r])
        pred, prob = shown["clean_pred"][r]
        show(axes[r][0], shown["clean"][r], report.value_range,
             f"label {label}\n→ {name(pred)} {prob:.0%}")
        sign_title = "sign(∇ₓJ)" if report.target is None else \
            f"−sign(∇ₓJ(x, {name(report.target)}))"
        show(axes[r][1], low + (high - low) * (0.5 + 0.5 * shown["sign"][r]), report.value_range,
             sign_title if r == 0 else "")
        for c, (e, (images, preds)) in enumerate(shown["eps"].items(), start=2):
            pred, prob = preds[r]
            show(axes[r][c], images[r], report.value_range,
                 (f"ε={e:g}\n" if r == 0 else "") + f"→ {name(pred)} {prob:.0%}")
    return figure
