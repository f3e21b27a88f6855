"""GPU benchmarks: ResNet-50 training throughput (bf16 + XLA) and CIFAR-10 time to 94 %.

Run unchanged on a machine with a GPU: `python -m bench.gpu` (or as section 7 of
`python -m bench`). Without a GPU it prints `skipped: no GPU` and exits 0.

Reference figures to compare with: TensorFlow ResNet-50 with AMP + XLA on one A100:
2,375 images/s; CIFAR-10 to 94 % test accuracy: 3.3 s on an A100 in PyTorch (airbench94).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# Peak dense bf16 tensor-core FLOP/s by device name fragment (vendor data sheets).
PEAK_BF16_TFLOPS = {"H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
                    "V100": 125.0, "T4": 65.0, "RTX 4090": 165.0, "RTX 3090": 71.0}
# ResNet-50 at 224×224: 4.09 GMACs forward = 8.2 GFLOPs; training ≈ 3× forward.
RESNET50_TRAIN_FLOPS = 3 * 2 * 4.09e9
REFERENCE = {"resnet50_images_per_s": 2375, "cifar10_94_seconds": 3.3}


def gpus() -> list[str]:
    """Names of the visible GPUs (empty on a CPU-only machine)."""
    import tensorflow as tf
    out = []
    for dev in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(dev)
        out.append(details.get("device_name", dev.name))
    return out


def peak_flops(name: str) -> float | None:
    """Peak bf16 FLOP/s of a GPU from its name, or None when unknown."""
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def resnet50_throughput(batch: int = 256, steps: int = 50, warmup: int = 10) -> dict:
    """Images/s and MFU of ResNet-50 training, mixed bfloat16, XLA, synthetic ImageNet data."""
    import keras
    import tensorflow as tf
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = keras.applications.ResNet50(weights=None, classes=1000)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                  jit_compile=True, steps_per_execution=10)
    x = tf.random.uniform((batch, 224, 224, 3))
    y = tf.random.uniform((batch,), maxval=1000, dtype=tf.int32)
    ds = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(tf.data.AUTOTUNE)
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    ips = batch * steps / seconds
    keras.mixed_precision.set_global_policy("float32")
    name = gpus()[0]
    peak = peak_flops(name)
    return {"gpu": name, "batch": batch, "images_per_s": ips,
            "mfu": ips * RESNET50_TRAIN_FLOPS / peak if peak else None,
            "reference_images_per_s": REFERENCE["resnet50_images_per_s"]}


def cifar10_time_to_94(data_dir: str, spec: str, max_epochs: int = 60,
                       target: float = 0.94) -> dict:
    """Trains a spec on CIFAR-10 image folders (`train/`, `test/`) until test accuracy ≥ target.

    Args:
        data_dir: A folder with `train/<class>/*.png|jpg` and `test/<class>/...` (the full
            50,000 / 10,000 CIFAR-10; `../shared/data` only has the test set).
        spec: The model spec (32×32×3 input, 10-class logits output `label`).
        max_epochs: Give up after this many epochs.
        target: Test accuracy to reach.

    Returns:
        Seconds from start to the target (None when missed), epochs and final accuracy.
    """
    import keras
    import tensorflow as tf

    from modelspec.build.compiler import build_from_spec
    start = time.perf_counter()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")

    def load(split, shuffle):
        ds = keras.utils.image_dataset_from_directory(f"{data_dir}/{split}", image_size=(32, 32),
                                                      batch_size=None, shuffle=shuffle, seed=0)
        return ds.map(lambda x, y: ({"image": x / 255.0}, {"label": y}))

    train = load("train", True).cache().shuffle(50000).batch(512).prefetch(tf.data.AUTOTUNE)
    test = load("test", False).cache().batch(1024).prefetch(tf.data.AUTOTUNE)
    aug = keras.Sequential([keras.layers.RandomFlip("horizontal"),
                            keras.layers.RandomTranslation(0.125, 0.125)])
    train = train.map(lambda x, y: ({"image": aug(x["image"], training=True)}, y))
    model = build_from_spec(spec)
    model.compile(optimizer=keras.optimizers.SGD(0.2, momentum=0.9, nesterov=True,
                                                 weight_decay=5e-4),
                  loss={"label": keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
                  metrics={"label": ["accuracy"]}, jit_compile=True)
    acc = 0.0
    for epoch in range(1, max_epochs + 1):
        model.fit(train, epochs=1, verbose=0)
        logs = model.evaluate(test, return_dict=True, verbose=0)
        acc = max(v for k, v in logs.items() if k.endswith("accuracy"))
        if acc >= target:
            return {"seconds": time.perf_counter() - start, "epochs": epoch, "accuracy": acc,
                    "reference_seconds": REFERENCE["cifar10_94_seconds"]}
    return {"seconds": None, "epochs": max_epochs, "accuracy": acc,
            "reference_seconds": REFERENCE["cifar10_94_seconds"]}


def main(argv=None) -> int:
    """`python -m bench.gpu [--cifar-dir DIR] [--cifar-spec SPEC]`: prints JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar-dir", help="CIFAR-10 folders train/ and test/ (full set)")
    parser.add_argument("--cifar-spec", default="bench/specs/resnet18_cifar.yaml",
                        help="spec trained to 94 %% (default: bench/specs/resnet18_cifar.yaml)")
    args = parser.parse_args(argv)
    found = gpus()
    if not found:
        print("skipped: no GPU")
        print(json.dumps({"gpu": None}))
        return 0
    result = {"gpus": found, "resnet50": resnet50_throughput()}
    if args.cifar_dir:
        result["cifar10"] = cifar10_time_to_94(args.cifar_dir, args.cifar_spec)
    else:
        result["cifar10"] = "skipped: pass --cifar-dir with the full CIFAR-10 train/ and test/"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
