"""The benchmark networks written by hand (Keras and PyTorch) and the data they train on.

The Keras models are independent of modelspec: plain `keras.layers` calls, written the way a
course would, with the same layer names as the bench specs so that weights can be copied
layer by layer. The PyTorch models are the same networks in `torch.nn` (channels-first).
"""

from __future__ import annotations

import gzip

import numpy as np

from bench.common import SPECS, shared_data

KINDS = ("mlp", "lenet5", "resnet_small")
SPEC_FILES = {k: SPECS / f"{k}.yaml" for k in KINDS}
BATCH = {"mlp": 128, "lenet5": 128, "resnet_small": 64}


def keras_mlp():
    """784 → 256 → 128 → 10, ReLU, logits."""
    import keras
    x = inp = keras.Input((784,), name="image")
    x = keras.layers.Dense(256, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(128, activation="relu", name="fc2")(x)
    out = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inp, out, name="hand_mlp")


def keras_lenet5():
    """LeNet-5 (ReLU, max pooling, 'same' first convolution) on 28×28×1."""
    import keras
    L = keras.layers
    x = inp = keras.Input((28, 28, 1), name="image")
    x = L.Conv2D(6, 5, padding="same", activation="relu", name="c1")(x)
    x = L.MaxPooling2D(2, name="s2")(x)
    x = L.Conv2D(16, 5, activation="relu", name="c3")(x)
    x = L.MaxPooling2D(2, name="s4")(x)
    x = L.Flatten()(x)
    x = L.Dense(120, activation="relu", name="f5")(x)
    x = L.Dense(84, activation="relu", name="f6")(x)
    out = L.Dense(10, name="logits")(x)
    return keras.Model(inp, out, name="hand_lenet5")


def _basic(x, filters, stride, prefix):
    import keras
    L = keras.layers
    y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                 name=f"{prefix}_conv1")(x)
    y = L.BatchNormalization(name=f"{prefix}_bn1")(y)
    y = L.ReLU()(y)
    y = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{prefix}_conv2")(y)
    y = L.BatchNormalization(name=f"{prefix}_bn2")(y)
    if stride != 1:
        x = L.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{prefix}_proj")(x)
        x = L.BatchNormalization(name=f"{prefix}_proj_bn")(x)
    y = L.Add()([y, x])
    return L.ReLU()(y)


def keras_resnet_small():
    """ResNet-8 for 32×32×3: stem, three basic blocks (16/32/64), pooling, classifier."""
    import keras
    L = keras.layers
    x = inp = keras.Input((32, 32, 3), name="image")
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU()(x)
    x = _basic(x, 16, 1, "stage1")
    x = _basic(x, 32, 2, "stage2")
    x = _basic(x, 64, 2, "stage3")
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(10, name="logits")(x)
    return keras.Model(inp, out, name="hand_resnet_small")


KERAS = {"mlp": keras_mlp, "lenet5": keras_lenet5, "resnet_small": keras_resnet_small}


def copy_weights(src, dst) -> int:
    """Copies every weighted layer of `src` into the layer of the same name in `dst`.

    Returns:
        The number of layers copied.
    """
    count = 0
    for layer in src.layers:
        if layer.weights:
            dst.get_layer(layer.name).set_weights(layer.get_weights())
            count += 1
    return count


def read_idx(path) -> np.ndarray:
    """Reads a gzip-compressed IDX file (MNIST format)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


def mnist(n: int = 10000):
    """The real MNIST test set as float32 images in [0, 1] (N, 28, 28, 1) and int64 labels.

    Falls back to seeded random digits of the same shape when `../shared/data` is absent
    (timings only; the report says which was used).
    """
    root = shared_data() / "mnist"
    try:
        x = read_idx(root / "t10k-images-idx3-ubyte.gz")[:n].astype("float32") / 255.0
        y = read_idx(root / "t10k-labels-idx1-ubyte.gz")[:n].astype("int64")
        return x[..., None], y, "MNIST (real)"
    except OSError:
        rng = np.random.default_rng(0)
        return (rng.random((n, 28, 28, 1), dtype="float32"),
                rng.integers(0, 10, n).astype("int64"), "random digits (no shared data)")


def arrays(kind: str, n: int):
    """Training arrays for a model kind: MNIST for MLP/LeNet-5, seeded CIFAR-size noise for
    the ResNet (its timing and loss agreement do not depend on image content)."""
    if kind == "resnet_small":
        rng = np.random.default_rng(0)
        return (rng.random((n, 32, 32, 3), dtype="float32"),
                rng.integers(0, 10, n).astype("int64"), "random 32×32×3 images")
    x, y, what = mnist(n)
    if kind == "mlp":
        x = x.reshape(len(x), 784)
    return x, y, what


def torch_model(kind: str):
    """The same MLP or LeNet-5 in plain PyTorch (NCHW for LeNet-5)."""
    from torch import nn
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if kind == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))
    raise ValueError(f"no PyTorch model for {kind!r}")
