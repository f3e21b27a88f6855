"""Measures what the structural multi-task regularisers do to W (lecture T, "Multi-task Learning").

Trains `specs/multitask_group_sparsity.yaml` and `specs/multitask_low_rank.yaml` with their
λ and with λ = 0, then reports the structure of the learned W (64 pixel features × 10 tasks):
the number of feature rows whose norm is below 1 % of the largest row's (rows the tasks
dropped together), and Σσ/σ₁, the sum of W's singular values over the largest (an effective
rank, at most 10), with the test accuracy of each run.

Usage:
    python examples/multitask_structure.py [--epochs 40]
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


def measure(name: str, overrides: dict, epochs: int, out: Path) -> dict:
    from modelspec.lang.checks import load_and_check
    from modelspec.training.run import train_spec
    spec = load_and_check(SPECS / f"{name}.yaml", overrides=overrides or None)
    result = train_spec(spec, epochs=epochs, output=out, restart=True, verbose=0)
    kernel = result.models["model"].get_layer("W").kernel.numpy()
    dropped, rank = structure(kernel)
    return {"spec": name, "overrides": overrides, "dropped_rows": dropped, "rank": rank,
            "test_accuracy": result.metrics.get("test_categorical_accuracy")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("multitask_group_sparsity", {}), ("multitask_group_sparsity", {"l": 0.0}),
                ("multitask_low_rank", {}), ("multitask_low_rank", {"l": 0.0})]
        for name, overrides in runs:
            row = measure(name, overrides, args.epochs, Path(tmp) / "run")
            print(f"{row['spec']:26s} {str(row['overrides']):12s} rows dropped "
                  f"{row['dropped_rows']:2d}/64  Σσ/σ₁ {row['rank']:.2f}  "
                  f"test accuracy {row['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
