"""Checks of data files when the pipeline is built: every bad file named, before training.

- **NumPy files** (`read_numpy_file`): read with `np.load(allow_pickle=False)` — never
  unpickled; an empty, truncated, damaged or foreign file, an array of Python objects
  (pickled data) or a single value (a 0-d array) is a `DataFileError` saying which file
  and what is wrong.
- **Image files** (`scan_images`): every file is decoded once by TensorFlow's own decoder
  (`tf.io.decode_image`, the one the pipeline uses, so a file that passes here decodes in
  training) in one parallel `tf.data` pass; `Dataset.ignore_errors` drops the files that
  fail, so the pass also finds which ones, and only those are decoded again, one by one,
  for the reason. The pass yields every image's size, which `mixed_sizes` compares when the
  source has no `image_size`. On the 10,000 CIFAR-10 test JPEGs the pass takes 1.1 s on
  two cores (2.3–3.4 s under a load of 10) (docs/RELIABILITY.md).
- **Missing CSV values** (`missing_problem`): the rows of a numeric column that are empty
  or one of `na_values`, reported (first few lines and a count) unless `fill_value` says how
  to fill them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHOWN = 5  # bad files or rows listed by name; the rest are counted
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class DataFileError(ValueError):
    """A data file that cannot be used; the message says what is wrong with it."""


def read_numpy_file(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """Reads a `.npy` (one array) or `.npz` (named arrays) file without unpickling.

    Returns:
        The array of a `.npy` file, or `{name: array}` of an `.npz` file, every array
        with at least one dimension (one row per example).

    Raises:
        DataFileError: The file is empty, neither a .npy nor an .npz file, truncated or
            damaged, holds Python objects, or holds a 0-d array.
    """
    with open(path, "rb") as handle:
        head = handle.read(6)
    if not head:
        raise DataFileError("the file is empty (0 bytes)")
    if not head.startswith(_NPY_MAGIC) and not head.startswith(_ZIP_MAGIC):
        raise DataFileError("it is neither a .npy nor an .npz file (it does not start "
                            "with the NumPy or zip signature)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except zipfile.BadZipFile as err:
        raise DataFileError(f"it is a truncated or damaged .npz archive ({err})") from err
    except (ValueError, EOFError, OSError) as err:
        raise DataFileError(_numpy_reason(err)) from err
    if isinstance(loaded, np.ndarray):
        _check_rows("the array", loaded)
        return loaded
    arrays: dict[str, np.ndarray] = {}
    with loaded:
        for name in loaded.files:
            try:
                arrays[name] = loaded[name]
            except (ValueError, EOFError, OSError, zlib.error,
                    zipfile.BadZipFile) as err:
                raise DataFileError(f"array '{name}': {_numpy_reason(err)}") from err
            _check_rows(f"array '{name}'", arrays[name])
    if not arrays:
        raise DataFileError("the .npz archive holds no arrays")
    return arrays


def _numpy_reason(err: BaseException) -> str:
    text = str(err)
    if "allow_pickle" in text or "pickled" in text:
        return ("it holds Python objects (pickled data), which modelspec never loads; "
                "save numeric or string arrays")
    if isinstance(err, EOFError) or "Failed to read all data" in text:
        return f"it is truncated ({text})" if text else "it is truncated"
    return f"it is damaged ({err.__class__.__name__}: {text})"


def _check_rows(what: str, array: np.ndarray) -> None:
    if array.ndim == 0:
        raise DataFileError(f"{what} is a single value (a 0-d array), not one row per "
                            "example")


@dataclass
class ImageScan:
    """What one decoding pass over image files found.

    Attributes:
        sizes: `(height, width)` of each file, in the order given (-1 for a bad file).
        bad: `(path, reason)` of the first `SHOWN` files that cannot be decoded.
        bad_count: How many files cannot be decoded in all.
    """

    sizes: np.ndarray
    bad: list[tuple[str, str]]
    bad_count: int


def scan_images(paths: Sequence[str], channels: int) -> ImageScan:
    """Decodes every image file once (in parallel) and returns their sizes and the bad ones.

    Args:
        paths: Image file paths.
        channels: The channels the pipeline decodes to (`tf.io.decode_image(channels=)`).
    """
    import tensorflow as tf
    n = len(paths)
    indices = tf.data.Dataset.from_tensor_slices(
        (tf.range(n, dtype=tf.int64), tf.constant(list(paths), tf.string)))

    def size(index: tf.Tensor, path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                   expand_animations=False)
        return index, tf.shape(image, out_type=tf.int64)[:2]

    passed = indices.map(size, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) \
        .ignore_errors().batch(4096)
    sizes = np.full((n, 2), -1, np.int64)
    with _libjpeg_quiet():
        for index, shape in passed.as_numpy_iterator():
            sizes[index] = shape
        failed = np.flatnonzero(sizes[:, 0] < 0)
        bad = [(paths[i], _decode_reason(paths[i], channels)) for i in failed[:SHOWN]]
    return ImageScan(sizes, bad, len(failed))


@contextlib.contextmanager
def _libjpeg_quiet() -> Iterator[None]:
    """Silences the C library's own stderr lines while decoding bad files (libjpeg prints
    e.g. "Improper call to JPEG library in state 201" for a truncated JPEG, above the error
    that names the file); the reasons come from TensorFlow's exceptions instead."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _decode_reason(path: str, channels: int) -> str:
    """Why TensorFlow cannot decode one image file (its own message, without op details)."""
    import tensorflow as tf
    file = Path(path)
    if not file.is_file():
        return "the file cannot be read (it disappeared or is not a file)"
    if file.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    except (tf.errors.OpError, ValueError) as err:
        text = getattr(err, "message", str(err))
        text = text.split("}}")[-1].split("[Op:")[0].strip()
        return text.rstrip(".") or err.__class__.__name__
    return "it could not be decoded (it decodes now: was it being written?)"


def mixed_sizes(paths: Sequence[str], sizes: np.ndarray) -> tuple[str, list[str], int] | None:
    """When the images differ in size: (the most common size as 'H×W', the first `SHOWN`
    files of another size described as 'path (H×W)', how many differ); else None."""
    counts = Counter(map(tuple, sizes.tolist()))
    if len(counts) <= 1:
        return None
    common = counts.most_common(1)[0][0]
    other = [i for i, s in enumerate(sizes.tolist()) if tuple(s) != common]
    shown = [f"{paths[i]} ({sizes[i][0]}×{sizes[i][1]})" for i in other[:SHOWN]]
    return f"{common[0]}×{common[1]}", shown, len(other)


def listing(items: Sequence[str], total: int) -> str:
    """'a, b, c' or 'a, b, c and 7 more' (items are the first few of `total`)."""
    text = ", ".join(items)
    return text if total <= len(items) else f"{text} and {total - len(items)} more"


def missing_problem(column: str, values: np.ndarray, lines: np.ndarray) -> str | None:
    """What a numeric column's missing values are (count and first lines), else None.

    Args:
        column: The column's name.
        values: The column as float32, missing values NaN.
        lines: The file line (1-based) of each row.
    """
    missing = np.flatnonzero(np.isnan(values))
    if missing.size == 0:
        return None
    where = listing([str(int(lines[i])) for i in missing[:SHOWN]], int(missing.size))
    return (f"column '{column}' has {missing.size} missing value"
            f"{'s' if missing.size > 1 else ''} (empty or one of na_values) on line"
            f"{'s' if missing.size > 1 else ''} {where}")
