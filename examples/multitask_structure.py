"""Measures what the structural multi-task regularisers do to W (lecture T, "Multi-task Learning").

Trains `specs/multitask_group_sparsity.yaml` and `specs/multitask_low_rank.yaml` with their
λ and with λ = 0, then reports the structure of the learned W (64 pixel features × 10 tasks):
the number of feature rows whose norm is below 1 % of the largest row's (rows the tasks
dropped together), and Σσ/σ₁, the sum of W's singular values over the largest (an effective
rank, at most 10), W's singular values, and the test accuracy of each run.

The spec trains by Adam on a smoothed trace norm (a subgradient method): it shrinks every
singular value but sets none to zero. For comparison, `--proximal` also fits the same
objective (½·mean squared error + λ‖W‖_*, the same digits split) by the proximal gradient
method of Ji & Ye (ICML 2009, without acceleration): a gradient step on the squared error,
then singular value thresholding σ ← max(σ − ηλ, 0), which gives exact zeros (NumPy's SVD).

Usage:
    python examples/multitask_structure.py [--epochs 40] [--proximal]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

SPECS = Path(__file__).resolve().parents[1] / "specs"


def structure(kernel: np.ndarray) -> tuple[int, float]:
    """(rows below 1 % of the largest row norm, Σσ/σ₁: the trace norm over the spectral norm,
    a rank measure that counts small singular values by their size)."""
    rows = np.linalg.norm(kernel, axis=1)
    singular = np.linalg.svd(kernel, compute_uv=False)
    return int((rows < 0.01 * rows.max()).sum()), float(singular.sum() / singular[0])


def proximal_trace_norm(lam: float, steps: int = 3000) -> tuple[np.ndarray, float]:
    """(singular values of W, test accuracy) of min ½‖XW + b − Y‖²/(N·T) + λ‖W‖_* by the
    proximal gradient method on the specs' digits split (first 80 % of the shuffled rows)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, labels = digits.images.reshape(-1, 64) / 16.0, digits.target
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[: int(0.8 * len(x))], order[int(0.8 * len(x)):]
    xs, ys = x[train], np.eye(10)[labels[train]]
    n, t = ys.shape
    eta = n * t / np.linalg.norm(xs, 2) ** 2          # 1 / the gradient's Lipschitz constant
    w, b = np.zeros((64, 10)), ys.mean(0)
    for _ in range(steps):
        residual = xs @ w + b - ys
        u, sigma, vt = np.linalg.svd(w - eta * xs.T @ residual / (n * t), full_matrices=False)
        w = (u * np.maximum(sigma - eta * lam, 0.0)) @ vt
        b = b - eta * residual.mean(0) / t
    accuracy = float(((x[test] @ w + b).argmax(1) == labels[test]).mean())
    return np.linalg.svd(w, compute_uv=False), accuracy


def measure(name: str, overrides: dict, epochs: int, out: Path) -> dict:
    from modelspec.lang.checks import load_and_check
    from modelspec.training.run import train_spec
    spec = load_and_check(SPECS / f"{name}.yaml", overrides=overrides or None)
    result = train_spec(spec, epochs=epochs, output=out, restart=True, verbose=0)
    kernel = result.models["model"].get_layer("W").kernel.numpy()
    dropped, rank = structure(kernel)
    return {"spec": name, "overrides": overrides, "dropped_rows": dropped, "rank": rank,
            "singular": np.linalg.svd(kernel, compute_uv=False),
            "test_accuracy": result.metrics.get("test_categorical_accuracy")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--proximal", action="store_true",
                        help="also the proximal gradient method for λ = 0, 0.005, 0.007, 0.01")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("multitask_group_sparsity", {}), ("multitask_group_sparsity", {"l": 0.0}),
                ("multitask_low_rank", {}), ("multitask_low_rank", {"l": 0.0})]
        for name, overrides in runs:
            row = measure(name, overrides, args.epochs, Path(tmp) / "run")
            print(f"{row['spec']:26s} {str(row['overrides']):12s} rows dropped "
                  f"{row['dropped_rows']:2d}/64  Σσ/σ₁ {row['rank']:.2f}  "
                  f"test accuracy {row['test_accuracy']:.4f}")
            print("  singular values " + " ".join(f"{v:.3g}" for v in row["singular"]))
    for lam in (0.0, 0.005, 0.007, 0.01) if args.proximal else ():
        singular, accuracy = proximal_trace_norm(lam)
        rank = int((singular > 1e-6 * singular[0]).sum())
        print(f"proximal λ={lam:<6g} rank {rank:2d}  test accuracy {accuracy:.4f}  singular "
              "values " + " ".join(f"{v:.3g}" for v in singular))


if __name__ == "__main__":
    main()
