"""Fills a folder of local data-set copies (a `MODELSPEC_DATA_DIR`) from `../shared/data`.

The shipped specs name their data sets by public origin (`download:`); on a machine without
internet, `MODELSPEC_DATA_DIR/<name>/` holds the files as the specs read them. Our machines
have `../shared/data`, a repackaged subset, from which this writes:

- `mnist/`: the four IDX files (gzip). **Stand-in**: MNIST's *test* set only; its first
  8,000 images are written as the training files and its last 2,000 as the test files.
- `cifar10/cifar-10-batches-bin/`: `data_batch_1.bin`, `test_batch.bin`, `batches.meta.txt`.
  **Stand-in**: CIFAR-10's *test* set only (JPEGs, decoded), shuffled (seed 0): 8,000 images
  as training data, 2,000 as test data.
- `tiny_shakespeare/input.txt`: the origin's file (the sha256 TFDS records).
- `republic/`, `sunspots/`, `banknote_authentication/`: copies under the origins' file names.
- `adult/adult.data`, `adult/adult.test`: copies; `adult.test` gets back the origin's first
  line, which the copy lacks.

Every figure measured on a stand-in must say so. Used by `tests/conftest.py` (a session
fixture) and `examples/run_all.sh`:

    python tools/prepare_local_data.py ../shared/data /tmp/modelspec-data
    MODELSPEC_DATA_DIR=/tmp/modelspec-data modelspec train specs/lenet5.yaml
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import struct
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
MNIST_TRAIN = 8000
CIFAR_TRAIN = 8000
COPIES = {  # target (data set / file) ← source under ../shared/data
    "tiny_shakespeare/input.txt": "text/tinyshakespeare.txt",
    "republic/republic_clean.txt": "text/republic_clean.txt",
    "sunspots/monthly-sunspots.csv": "timeseries/monthly-sunspots.csv",
    "banknote_authentication/data_banknote_authentication.txt":
        "tabular/banknote_authentication.csv",
    "adult/adult.data": "tabular/adult-train.csv",
}


def _read_idx(path: Path) -> tuple[bytes, np.ndarray]:
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return raw[:4], data


def _write_idx(path: Path, magic: bytes, data: np.ndarray) -> None:
    header = magic + struct.pack(f">{data.ndim}I", *data.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(data).tobytes())


def write_mnist(shared: Path, out: Path) -> None:
    """MNIST stand-in: the test set's first 8,000 digits as `train`, the rest as `test`."""
    folder = out / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for kind, name in (("images", "idx3"), ("labels", "idx1")):
        magic, data = _read_idx(shared / "mnist" / f"t10k-{kind}-{name}-ubyte.gz")
        _write_idx(folder / f"train-{kind}-{name}-ubyte.gz", magic, data[:MNIST_TRAIN])
        _write_idx(folder / f"t10k-{kind}-{name}-ubyte.gz", magic, data[MNIST_TRAIN:])


def write_cifar10(shared: Path, out: Path) -> None:
    """CIFAR-10 stand-in in the binary version's format, from the test set's JPEGs."""
    from PIL import Image
    folder = out / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for label, name in enumerate(CIFAR_CLASSES):
        for path in sorted((shared / "cifar10" / "test" / name).glob("*.jpg")):
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("RGB"), np.uint8)
            planes = pixels.transpose(2, 0, 1).reshape(-1)  # red, green, blue planes
            records.append(np.concatenate([[label], planes]))
    table = np.stack(records).astype(np.uint8)
    table = table[np.random.default_rng(0).permutation(len(table))]
    table[:CIFAR_TRAIN].tofile(folder / "data_batch_1.bin")
    table[CIFAR_TRAIN:].tofile(folder / "test_batch.bin")
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_CLASSES) + "\n\n")


def write_copies(shared: Path, out: Path) -> None:
    """The text, time-series and UCI files under their origins' names."""
    for target, source in COPIES.items():
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / source, out / target)
    test = (shared / "tabular" / "adult-test.csv").read_text()
    (out / "adult" / "adult.test").write_text("|1x3 Cross validator\n" + test)


def prepare(shared: Path, out: Path) -> Path:
    """Writes every local copy into `out` (created); returns `out`."""
    out.mkdir(parents=True, exist_ok=True)
    write_mnist(shared, out)
    write_cifar10(shared, out)
    write_copies(shared, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path, help="the ../shared/data folder")
    parser.add_argument("out", type=Path, help="the MODELSPEC_DATA_DIR to fill")
    args = parser.parse_args()
    print(prepare(args.shared, args.out))


if __name__ == "__main__":
    main()
