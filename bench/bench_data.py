"""Data pipeline benchmark: throughput of spec pipelines, and training-step overhead.

Measures, on the real data in `../shared/data` (or `--data-dir`):

1. pipeline throughput (examples/s) of the CIFAR-10 image folder (JPEG decoding) and the
   MNIST IDX files, first epoch (reading, decoding, filling the cache) and later epochs;
2. the training time per epoch of a small CNN on MNIST (8,000 images) fed by the spec's
   pipeline, against `model.fit` on the same data already in memory as NumPy arrays
   (target: ratio ≤ 1.05).

Usage:
    python bench/bench_data.py [--data-dir ../shared/data] [--epochs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = """modelspec: 1
name: bench
model:
  inputs: {{image: {{shape: {shape}}}}}
  layers:
    - {{type: Conv2D, filters: 16, kernel_size: 3, activation: relu}}
    - {{type: MaxPooling2D, pool_size: 2}}
    - {{type: Conv2D, filters: 32, kernel_size: 3, activation: relu}}
    - {{type: GlobalAveragePooling2D}}
    - {{id: out, type: Dense, units: 10, activation: softmax}}
  outputs: {{label: out}}
data:
{data}"""


def make_bundle(folder: Path, shape, data: str):
    import modelspec
    from modelspec.build.compiler import model_io
    from modelspec.data.pipeline import build_datasets
    path = folder / "bench.yaml"
    path.write_text(MODEL.format(shape=shape, data=data))
    spec = modelspec.load_spec(path)
    model = modelspec.build_model(spec)
    return build_datasets(spec, *model_io(model)), model


def throughput(bundle, epochs: int) -> list[float]:
    """Examples per second of iterating the training split, per epoch."""
    rates = []
    for _ in range(epochs):
        start, n = time.perf_counter(), 0
        for x, _y in bundle.train:
            n += int(x["image"].shape[0])
        rates.append(n / (time.perf_counter() - start))
    return rates


def step_time(bundle, model, rounds: int) -> dict:
    """Seconds per epoch of `fit` on the pipeline vs on the same arrays in memory.

    Both sides train their own copy of the model, alternating epoch by epoch (ABBA order,
    `bench.common.alternate`) so that load from other processes hits both alike, `rounds`
    epochs each after one warm-up epoch per side. The ratio compares each side's fastest
    epoch, like the other benchmarks (this VM throttles whole runs, bench/README.md); the
    medians are reported beside it.
    """
    import keras
    import numpy as np

    from bench.common import alternate, median
    xs, ys = [], []
    for x, y in bundle.train:
        xs.append(x["image"].numpy())
        ys.append(y["label"].numpy())
    x_mem, y_mem = np.concatenate(xs), np.concatenate(ys)
    models = {}
    for side in ("pipeline", "in_memory"):
        models[side] = keras.models.clone_model(model)
        models[side].compile("adam", {"label": "sparse_categorical_crossentropy"})

    def pipeline():
        models["pipeline"].fit(bundle.train, epochs=1, verbose=0)

    def in_memory():
        models["in_memory"].fit({"image": x_mem}, {"label": y_mem},
                                batch_size=bundle.batch_size, epochs=1, verbose=0)
    pipeline(), in_memory()  # warm-up: tracing, cache filling
    times = alternate({"pipeline": pipeline, "in_memory": in_memory}, rounds)
    out = {"pipeline_s_per_epoch": min(times["pipeline"]),
           "in_memory_s_per_epoch": min(times["in_memory"]),
           "pipeline_median_s": median(times["pipeline"]),
           "in_memory_median_s": median(times["in_memory"]), "rounds": rounds}
    out["ratio"] = out["pipeline_s_per_epoch"] / out["in_memory_s_per_epoch"]
    out["ratio_of_medians"] = out["pipeline_median_s"] / out["in_memory_median_s"]
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(
        os.environ.get("MODELSPEC_SHARED_DATA", ROOT.parent / "shared" / "data")))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    cifar, mnist = args.data_dir / "cifar10" / "test", args.data_dir / "mnist"
    if not cifar.is_dir() or not mnist.is_dir():
        parser.error(f"no cifar10/test or mnist under {args.data_dir} (use --data-dir)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle, _ = make_bundle(tmp, [32, 32, 3], f"""  source:
    {{type: image_folder, path: {cifar}}}
  targets: {{label: label}}
  transforms: [{{type: rescale, field: image, scale: 0.00392156862}}]
  batch_size: 128
""")
        rates = throughput(bundle, args.epochs)
        results["cifar10_folder"] = {"examples": bundle.counts["train"],
                                     "first_epoch_examples_per_s": rates[0],
                                     "later_epochs_examples_per_s": max(rates[1:] or rates)}
        bundle, model = make_bundle(tmp, [28, 28, 1], f"""  source:
    type: idx
    images: {mnist}/t10k-images-idx3-ubyte.gz
    labels: {mnist}/t10k-labels-idx1-ubyte.gz
  features: {{image: image}}
  targets: {{label: label}}
  splits: {{train: "all[:8000]", test: "all[8000:]"}}
  transforms: [{{type: rescale, field: image, scale: 0.00392156862}}]
  batch_size: 128
""")
        rates = throughput(bundle, args.epochs)
        results["mnist_idx"] = {"examples": bundle.counts["train"],
                                "first_epoch_examples_per_s": rates[0],
                                "later_epochs_examples_per_s": max(rates[1:] or rates)}
        results["mnist_training"] = step_time(bundle, model, max(3, 2 * args.epochs))
    from bench.common import machine
    results["machine"] = machine()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
