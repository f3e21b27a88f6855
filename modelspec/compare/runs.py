"""Comparing runs (`modelspec compare RUN RUN...`): one table, the spec differences and the
learning curves overlaid in one PNG (what Ludwig's `compare_performance` and TensorBoard's
run overlay show). Reads only the run directories (no TensorFlow): parameter counts come
from the final weights file through h5py, wall times from `state.json`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelspec.errors import UsageError
from modelspec.training.rundir import read_json

_SKIP = ("description", "references", "tune")  # tune: drives searches, not runs


@dataclass(frozen=True)
class RunSummary:
    """What `compare` shows of one run directory."""

    label: str
    path: Path
    name: str
    epochs: int
    parameters: int | None
    seconds: float | None
    metrics: dict[str, Any]
    history: dict[str, list[float]]
    document: dict[str, Any]


def weight_count(directory: Path) -> int | None:
    """Floating-point weights in a run's `final/*.weights.h5` (Keras's count_params; seed
    generator states, which are integers, are not parameters)."""
    files = sorted(Path(directory).glob("*.weights.h5"))
    if not files:
        return None
    import h5py

    total = 0

    def visit(name: str, item: Any) -> None:  # layers/<layer>/vars/<i>; not optimizer/
        nonlocal total
        if name.startswith("layers/") and isinstance(item, h5py.Dataset) \
                and item.dtype.kind == "f":
            total += int(item.size)

    for path in files:
        with h5py.File(path, "r") as handle:
            handle.visititems(visit)
    return total


def load_summary(path: str | Path, label: str | None = None) -> RunSummary:
    """Reads a run directory written by `modelspec train`.

    Raises:
        UsageError: When `path` is not a run directory.
    """
    root = Path(path)
    state = read_json(root / "state.json")
    if not isinstance(state, dict):
        raise UsageError(f"{root}: not a run directory (no state.json); pass directories "
                         "written by `modelspec train`")
    seconds = state.get("seconds")
    if seconds is None and (root / "metrics.json").is_file() and (root / "spec.yaml").is_file():
        seconds = (root / "metrics.json").stat().st_mtime - (root / "spec.yaml").stat().st_mtime
    return RunSummary(label or root.name, root, str(state.get("name", root.name)),
                      int(state.get("epoch", 0)), weight_count(root / "final"),
                      float(seconds) if seconds is not None else None,
                      read_json(root / "metrics.json", {}) or {},
                      read_json(root / "history.json", {}) or {},
                      read_json(root / "resolved.json", {}) or {})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """`{a: {b: [1, 2]}}` → `{"a.b[0]": 1, "a.b[1]": 2}` (leaves only)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not prefix and key in _SKIP:
                continue
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def spec_differences(runs: list[RunSummary]) -> dict[str, list[Any]]:
    """Document paths whose resolved values differ between the runs → one value per run."""
    flat = [flatten(run.document) for run in runs]
    keys = sorted(set().union(*flat))
    missing = object()
    out = {}
    for key in keys:
        values = [f.get(key, missing) for f in flat]
        if any(v != values[0] for v in values[1:]):
            out[key] = ["—" if v is missing else v for v in values]
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _table(title: str, head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(row, widths, strict=True))) for row in rows]
    return "\n".join(lines)


def comparison_table(runs: list[RunSummary]) -> str:
    """The runs side by side: spec, epochs, parameters, wall time, final metrics, and the
    spec values that differ."""
    head = [""] + [run.label for run in runs]
    rows = [["spec"] + [run.name for run in runs],
            ["epochs"] + [str(run.epochs) for run in runs],
            ["parameters"] + [f"{run.parameters:,}" if run.parameters is not None else "—"
                              for run in runs],
            ["wall time (s)"] + [_fmt(run.seconds) for run in runs]]
    names = sorted({k for run in runs for k, v in run.metrics.items()
                    if isinstance(v, (int, float))})
    rows += [[name] + [_fmt(run.metrics.get(name)) for run in runs] for name in names]
    text = _table("runs", head, rows)
    diffs = spec_differences(runs)
    if diffs:
        text += "\n\n" + _table("spec differences", head,
                                [[k] + [_fmt(v) for v in vs] for k, vs in diffs.items()])
    else:
        text += "\n\nspec differences: none (the same resolved spec)"
    return text


def plot_overlaid_curves(runs: list[RunSummary], path: Path) -> Path | None:
    """One panel per metric; each run one colour, training solid, validation dashed."""
    names = sorted({k[4:] if k.startswith("val_") else k for run in runs
                    for k, v in run.history.items() if v and k != "learning_rate"})
    if not names:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.6 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes.flat, names, strict=False):
        for i, run in enumerate(runs):
            colour = colours[i % len(colours)]
            for key, style, what in ((name, "-", "train"), ("val_" + name, "--", "val")):
                values = run.history.get(key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, style, color=colour,
                            label=f"{run.label} ({what})")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("learning curves: " + " vs ".join(run.label for run in runs))
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=".compare", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return Path(path)


def unique_labels(paths: list[Path]) -> list[str]:
    """Short run labels: directory names, with parents added where names repeat."""
    labels = [p.name for p in paths]
    if len(set(labels)) == len(labels):
        return labels
    return [str(p) for p in paths]
