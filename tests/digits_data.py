"""The `data:` section shared by the small test specs that classify scikit-learn's digits.

scikit-learn ships its 1,797 8×8 digits inside the wheel, so specs using this section train on
any machine. Imported by the test modules (pytest puts `tests/` on `sys.path`).
"""

from __future__ import annotations


def digits_data(splits: str, *, batching: bool = True) -> str:
    """YAML text of a `data:` section: digits as `image` (scaled to [0, 1]), labels as `digit`.

    Args:
        splits: The flow mapping of `data.splits`, e.g. `'{train: "all[:40%]"}'`.
        batching: Whether to add `batch_size: 64` and `seed: 0`.

    Returns:
        The section's lines, each ending in a newline.

    Example:
    >>> digits_data('{train: "all[:40%]"}').splitlines()[4]
    '  splits: {train: "all[:40%]"}'
    """
    text = ("data:\n"
            "  source: {type: sklearn, name: digits}\n"
            "  features: {image: images}\n"
            "  targets: {digit: label}\n"
            f"  splits: {splits}\n"
            "  transforms: [{type: rescale, field: images, scale: 0.0625}]\n")
    return text + ("  batch_size: 64\n  seed: 0\n" if batching else "")


# Train / validation / test: 1,257 / 270 / 270 digits.
TINY_SPLITS = '{train: "all[:70%]", validation: "all[70%:85%]", test: "all[85%:]"}'


TINY_OPTIMIZER = "{type: Adam, learning_rate: 0.01}"


def tiny_train(optimizer: str = TINY_OPTIMIZER) -> str:
    """The `train:` lines of the tiny digits runs: 2 epochs, seeded, early stopping, no
    TensorBoard."""
    return ("  epochs: 2\n"
            "  seed: 1\n"
            f"  optimizer: {optimizer}\n"
            "  loss: sparse_categorical_crossentropy\n"
            "  metrics: [accuracy]\n"
            "  callbacks: {tensorboard: false, early_stopping: {patience: 2, "
            "restore_best_weights: true}}\n")


def tiny_digits_spec(name: str, splits: str, train: str, *, out_args: str = "") -> str:
    """YAML text of a whole spec: the tiny digits classifier most training tests train.

    `image` (8, 8, 1) → Flatten → Dense `h1` (16, relu) → Dense `out` (10, softmax) → `digit`,
    on `digits_data(splits)`; trains in about a second per epoch.

    Args:
        name: The spec's `name:`.
        splits: The flow mapping of `data.splits`.
        train: The `train:` section's lines (each indented by two spaces, newline-ended).
        out_args: Extra arguments of the output layer, e.g. `", dtype: float32"`.

    Example:
    >>> tiny_digits_spec("t", '{train: "all"}', "  epochs: 1\\n").splitlines()[7]
    '    - {id: out, type: Dense, units: 10, activation: softmax}'
    """
    return ("modelspec: 1\n"
            f"name: {name}\n"
            "model:\n"
            "  inputs: {image: {shape: [8, 8, 1]}}\n"
            "  layers:\n"
            "    - {type: Flatten}\n"
            "    - {id: h1, type: Dense, units: 16, activation: relu}\n"
            f"    - {{id: out, type: Dense, units: 10, activation: softmax{out_args}}}\n"
            "  outputs: {digit: out}\n"
            + digits_data(splits) + "train:\n" + train)
