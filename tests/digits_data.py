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
