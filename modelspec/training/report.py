"""What a run shows a person: learning curves as a PNG and a final metrics table."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def plot_curves(history: dict, path: Path, title: str = "") -> Path | None:
    """Draws each metric of `history` against the epoch (train and `val_` side by side).

    Args:
        history: Metric name → list of per-epoch values (as in `history.json`).
        path: Where the PNG goes (written atomically).
        title: A title for the figure (the spec name).

    Returns:
        The path, or None when the history is empty.
    """
    names = sorted({k[4:] if k.startswith("val_") else k for k in history
                    if k != "learning_rate" and history[k]})
    if not names:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for key, label in ((name, "train"), ("val_" + name, "validation")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3,
                        label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".curves", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def metrics_table(metrics: dict, title: str = "final metrics") -> str:
    """Formats a metrics dict as an aligned two-column table.

    Example:
    >>> print(metrics_table({"loss": 0.1234, "accuracy": 0.97}))
    """
    metrics = {k: v for k, v in metrics.items() if not isinstance(v, dict)}  # per_class
    if not metrics:
        return f"{title}: none"
    width = max(len(k) for k in metrics)
    lines = [title, "-" * (width + 14)]
    for key in sorted(metrics):
        value = metrics[key]
        text = f"{value:.6g}" if isinstance(value, (int, float)) else str(value)
        lines.append(f"{key.ljust(width)}  {text:>12}")
    return "\n".join(lines)
