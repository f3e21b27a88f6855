"""File sources: CSV, NumPy, IDX, image folders, plain text and time-series windows.

Each loader reads its files once into row-aligned NumPy arrays per named split (loading is
not the hot path); image folders keep only file paths and labels, and decode the images
inside the tf.data pipeline (`ArraySource.decode`), in parallel, after splitting.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import Any

import numpy as np

from modelspec.data.checks import SRC, path_map, resolve
from modelspec.data.source_base import ArraySource
from modelspec.data.validate_files import (
    DataFileError,
    listing,
    missing_problem,
    mixed_sizes,
    read_numpy_file,
    scan_images,
)
from modelspec.errors import Collector, did_you_mean

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def _paths(src: dict[str, Any], key: str, base_dir: str | Path, errs: Collector,
           want_dir: bool = False) -> dict[str, Path]:
    out = {}
    multi = isinstance(src[key], dict)
    for split, rel in path_map(src[key]).items():
        path = resolve(base_dir, rel)
        if not (path.is_dir() if want_dir else path.is_file()):
            where = SRC + ((key, split) if multi else (key,))
            errs.add(where, f"{'folder' if want_dir else 'file'} '{rel}' does not exist",
                     expected="an existing path, relative to the spec's folder")
        out[split] = path
    errs.raise_if_any()
    return out


def _csv_rows(path: Path, src: dict) -> tuple[list[list[str]], list[int]]:
    """The non-blank rows of a CSV file (cells stripped) and the file line each starts on."""
    skip = int(src.get("skiprows", 0))
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for _ in range(skip):  # lines before the data (e.g. adult.test's first)
            f.readline()
        reader = csv.reader(f, delimiter=src.get("delimiter", ","))
        rows, lines, line = [], [], skip + 1
        for row in reader:
            cells = [c.strip() for c in row]
            if cells and any(cells):
                rows.append(cells)
                lines.append(line)
            line = skip + reader.line_num + 1
    return rows, lines


def read_csv_columns(path: Path, src: dict, errs: Collector) -> dict[str, np.ndarray]:
    """Reads a CSV file into columns: float32 when every non-missing value is a number.

    Missing values (empty cells and `na_values`) of a numeric column are an error listing
    their lines, unless `fill_value` (a number, or one per column) says what to put there;
    in a text column they stay the text they are (a category of their own).
    """
    na = set(src.get("na_values", ["", "?", "NA", "nan"]))
    rows, lines = _csv_rows(path, src)
    names = src.get("column_names")
    if src.get("header", True) and rows:
        header, rows, lines = rows[0], rows[1:], lines[1:]
        names = names or header
    width = max((len(r) for r in rows), default=0)
    names = names or [f"col{i}" for i in range(width)]
    bad = [i for i, r in enumerate(rows) if len(r) != len(names)]
    if bad:
        errs.add(SRC + ("path",), f"'{path.name}' line {lines[bad[0]]} has "
                 f"{len(rows[bad[0]])} values but there are {len(names)} columns {names}",
                 expected="the same number of values in every row (set column_names?)")
        errs.raise_if_any()
    cols = {}
    table = np.array(rows, dtype=object).reshape(len(rows), len(names))
    for j, name in enumerate(names):
        values = table[:, j]
        try:
            cols[name] = np.array([float("nan") if v in na else float(v) for v in values],
                                  dtype=np.float32)
        except ValueError:
            cols[name] = values.astype(str)
    _fill_missing(cols, np.array(lines, np.int64), path, src, errs)
    if "columns" in src:
        unknown = [c for c in src["columns"] if c not in cols]
        for c in unknown:
            errs.add(SRC + ("columns",), f"unknown column '{c}' in '{path.name}'",
                     expected=f"one of {names}", suggestion=did_you_mean(c, names))
        errs.raise_if_any()
        cols = {c: cols[c] for c in src["columns"]}
    return cols


def _fill_missing(cols: dict[str, np.ndarray], lines: np.ndarray, path: Path, src: dict,
                  errs: Collector) -> None:
    """Fills the missing values of numeric columns as `fill_value` says (in place); the
    columns it does not cover with missing values are errors listing their lines."""
    fill = src.get("fill_value")
    per_column = fill if isinstance(fill, dict) else {}
    for name in per_column:
        if name not in cols:
            errs.add(SRC + ("fill_value", name), f"unknown column '{name}' in '{path.name}'",
                     expected=f"one of {list(cols)}", suggestion=did_you_mean(name, list(cols)),
                     key=True)
        elif cols[name].dtype != np.float32:
            errs.add(SRC + ("fill_value", name), f"column '{name}' of '{path.name}' holds "
                     "text: its empty cells stay as they are (a category of their own)",
                     expected="the name of a numeric column", key=True)
    for name, values in cols.items():
        if values.dtype != np.float32:
            continue
        value = per_column.get(name) if isinstance(fill, dict) else fill
        if value is not None:
            values[np.isnan(values)] = value
            continue
        problem = missing_problem(name, values, lines)
        if problem:
            errs.add(SRC + ("path",), f"'{path.name}': {problem}",
                     expected=f"a number in every row, or fill_value: {{{name}: <number>}} "
                     "(or fill_value: <number> for every column)")
    errs.raise_if_any()


def load_csv(src: dict[str, Any], base_dir: str | Path, errs: Collector) -> ArraySource:
    """A CSV source: one field per column."""
    return ArraySource({s: read_csv_columns(p, src, errs)
                        for s, p in _paths(src, "path", base_dir, errs).items()})


def load_npz(src: dict, base_dir: Path, errs: Collector) -> ArraySource:
    """An .npz (fields: its arrays) or .npy (field `field`) source; never unpickles."""
    splits = {}
    multi = isinstance(src["path"], dict)
    for split, path in _paths(src, "path", base_dir, errs).items():
        where = SRC + (("path", split) if multi else ("path",))
        try:
            loaded = read_numpy_file(path)
        except DataFileError as err:
            errs.add(where, f"cannot read '{path.name}': {err}",
                     expected="a NumPy .npy or .npz file of numeric or string arrays, one "
                     "row per example (np.save / np.savez)")
            errs.raise_if_any()
        if isinstance(loaded, np.ndarray):
            splits[split] = {src.get("field", "data"): loaded}
        else:
            splits[split] = loaded
        lengths = {k: len(v) for k, v in splits[split].items()}
        if len(set(lengths.values())) > 1:
            errs.add(where, f"arrays of '{path.name}' have different lengths {lengths}",
                     expected="one row per example in every array")
            errs.raise_if_any()
    return ArraySource(splits)


def read_idx(path: Path) -> np.ndarray:
    """Reads an IDX file (MNIST format, optionally gzip-compressed) into a NumPy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError("not an IDX file (bad magic number)")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"IDX header says {tuple(dims)} but the file holds {data.size} values")
    return data.reshape(tuple(int(d) for d in dims)).astype(dtype.newbyteorder("="))


_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_idx(src: dict[str, Any], base_dir: str | Path, errs: Collector) -> ArraySource:
    """MNIST-style IDX files: field `image` (H, W, 1) uint8 and `label` int64."""
    images = _paths(src, "images", base_dir, errs)
    labels = _paths(src, "labels", base_dir, errs) if "labels" in src else {}
    splits = {}
    for split, path in images.items():
        try:
            img = read_idx(path)
            fields = {"image": img[..., None] if img.ndim == 3 else img}
            if split in labels:
                fields["label"] = read_idx(labels[split]).astype(np.int64)
        except (ValueError, OSError) as err:
            errs.add(SRC, f"cannot read IDX split '{split}': {err}",
                     expected="MNIST-style IDX files (.gz or plain)")
            errs.raise_if_any()
        if "label" in fields and len(fields["label"]) != len(fields["image"]):
            errs.add(SRC + ("labels",), f"{len(fields['label'])} labels for "
                     f"{len(fields['image'])} images", expected="one label per image")
            errs.raise_if_any()
        splits[split] = fields
    return ArraySource(splits)


def load_image_folder(src: dict[str, Any], base_dir: str | Path, errs: Collector
                      ) -> ArraySource:
    """One sub-folder per class: field `image` (decoded in the pipeline) and `label`."""
    import tensorflow as tf
    channels = src.get("channels", 3)
    splits: dict[str, dict[str, np.ndarray]] = {}
    class_names: list[str] | None = src.get("class_names")
    for split, root in _paths(src, "path", base_dir, errs, want_dir=True).items():
        found = sorted(d.name for d in root.iterdir() if d.is_dir())
        names = class_names or found
        for c in names:
            if c not in found:
                errs.add(SRC + ("class_names",), f"no folder '{c}' in '{root}'",
                         expected=f"one of {found}", suggestion=did_you_mean(c, found))
        errs.raise_if_any()
        paths, labels = [], []
        for index, c in enumerate(names):
            files = sorted(str(p) for p in (root / c).iterdir()
                           if p.suffix.lower() in IMAGE_EXTENSIONS)
            paths += files
            labels += [index] * len(files)
        if not paths:
            errs.add(SRC + ("path",), f"no images in the class folders of '{root}'",
                     expected=f"files ending in {', '.join(IMAGE_EXTENSIONS)}")
            errs.raise_if_any()
        splits[split] = {"image": np.array(paths), "label": np.array(labels, np.int64)}
        class_names = names
    size: list[int] | None = src.get("image_size")
    found_size = _check_images(splits, src, Path(base_dir), channels, errs)
    resize = size is not None
    height, width = (size[0], size[1]) if size is not None else found_size

    def decode(example: dict[str, Any]) -> dict[str, Any]:
        img = tf.io.decode_image(tf.io.read_file(example["image"]), channels=channels,
                                 expand_animations=False)
        if resize:
            img = tf.image.resize(img, (height, width))
        else:
            img = tf.ensure_shape(img, (height, width, channels))
        return {**example, "image": img}

    return ArraySource(splits, decode=decode, meta={"class_names": list(class_names or [])})


def _check_images(splits: dict, src: dict, base_dir: Path, channels: int,
                  errs: Collector) -> tuple[int, int]:
    """Decodes every image once (`validate_files.scan_images`): files that cannot be
    decoded, and images of different sizes without `image_size`, are errors naming them.

    Returns:
        The images' common (height, width) (that of the first when `image_size` is set).
    """
    paths = [str(p) for split in splits.values() for p in split["image"]]
    scan = scan_images(paths, channels)
    where = SRC + ("path",)
    if scan.bad_count:
        shown = [f"{_shown(p, base_dir)} ({reason})" for p, reason in scan.bad]
        errs.add(where, f"{scan.bad_count} of {len(paths)} image files cannot be decoded: "
                 + listing(shown, scan.bad_count),
                 expected="JPEG, PNG, GIF or BMP files (remove or replace these)")
        errs.raise_if_any()
    mixed = None if "image_size" in src else mixed_sizes(
        [_shown(p, base_dir) for p in paths], scan.sizes)
    if mixed is not None:
        common, shown, count = mixed
        errs.add(where, f"the images differ in size: most are {common}, but "
                 + listing(shown, count),
                 expected="image_size: [height, width] to resize every image to one size")
        errs.raise_if_any()
    return int(scan.sizes[0][0]), int(scan.sizes[0][1])


def _shown(path: str, base_dir: Path) -> str:
    """A file's path as the spec's reader knows it: relative to the spec's folder if
    inside it."""
    try:
        return str(Path(path).relative_to(Path(base_dir).resolve()))
    except ValueError:
        try:
            return str(Path(path).relative_to(Path(base_dir)))
        except ValueError:
            return path


def load_text(src: dict[str, Any], base_dir: str | Path, errs: Collector) -> ArraySource:
    """Plain text: field `text`, one example per line (or per file of a folder)."""
    enc = src.get("encoding", "utf-8")
    unit = src.get("unit", "line")
    splits = {}
    for split, path in _paths(src, "path", base_dir, errs, want_dir=unit == "file").items():
        if unit == "file":
            texts = [p.read_text(encoding=enc, errors="replace") for p in sorted(path.iterdir())
                     if p.is_file()]
        else:
            texts = path.read_text(encoding=enc, errors="replace").splitlines()
        splits[split] = {"text": np.array([t.encode("utf-8") for t in texts], dtype=object)}
    return ArraySource(splits, sequential=True)


def load_timeseries(src: dict[str, Any], base_dir: str | Path, errs: Collector
                    ) -> ArraySource:
    """Sliding windows over CSV columns: `window` (window, n) and `target` (horizon·m,)."""
    columns = src["columns"] if isinstance(src["columns"], list) else [src["columns"]]
    target = src.get("target", columns)
    target = target if isinstance(target, list) else [target]
    window, horizon, stride = src["window"], src.get("horizon", 1), src.get("stride", 1)
    splits = {}
    for split, path in _paths(src, "path", base_dir, errs).items():
        cols = read_csv_columns(path, {k: v for k, v in src.items() if k != "columns"}, errs)
        for key, names in (("columns", columns), ("target", target)):
            for name in names:
                if name not in cols or cols[name].dtype != np.float32:
                    what = "unknown" if name not in cols else "non-numeric"
                    errs.add(SRC + (key,), f"{what} column '{name}' in '{path.name}'",
                             expected=f"a numeric column of {list(cols)}",
                             suggestion=did_you_mean(name, list(cols)))
        errs.raise_if_any()
        x = np.stack([cols[c] for c in columns], axis=-1)
        y = np.stack([cols[c] for c in target], axis=-1)
        n = (len(x) - window - horizon) // stride + 1
        if n <= 0:
            errs.add(SRC + ("window",), f"'{path.name}' has {len(x)} rows, too few for "
                     f"window {window} + horizon {horizon}", expected="a shorter window")
            errs.raise_if_any()
        starts = np.arange(n) * stride
        win_idx = starts[:, None] + np.arange(window)[None, :]
        tgt_idx = starts[:, None] + window + np.arange(horizon)[None, :]
        splits[split] = {"window": x[win_idx].astype(np.float32),
                         "target": y[tgt_idx].reshape(n, -1).astype(np.float32)}
    return ArraySource(splits, sequential=True)


CIFAR_RECORD = 1 + 32 * 32 * 3  # label byte, then the red, green and blue 32×32 planes


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Reads one file of CIFAR-10's binary version: images (N, 32, 32, 3) uint8, labels."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR_RECORD:
        raise ValueError(f"{raw.size} bytes is not a whole number of {CIFAR_RECORD}-byte records")
    records = raw.reshape(-1, CIFAR_RECORD)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, 0].astype(np.int64)


def load_cifar(src: dict[str, Any], base_dir: str | Path, errs: Collector) -> ArraySource:
    """CIFAR-10's binary version (the files TFDS reads): `train` from data_batch_*.bin,
    `test` from test_batch.bin; fields image (32, 32, 3) uint8 and label."""
    root = _paths(src, "path", base_dir, errs, want_dir=True)["all"]
    files = {"train": sorted(root.glob("data_batch_*.bin")), "test": [root / "test_batch.bin"]}
    splits = {}
    for split, paths in files.items():
        try:
            parts = [read_cifar_batch(p) for p in paths]
        except (ValueError, OSError) as err:
            errs.add(SRC + ("path",), f"cannot read CIFAR-10 split '{split}' in '{root}': {err}",
                     expected="CIFAR-10's binary version (data_batch_1..5.bin, test_batch.bin)")
            errs.raise_if_any()
        if not parts:
            errs.add(SRC + ("path",), f"no data_batch_*.bin files in '{root}'",
                     expected="CIFAR-10's binary version (data_batch_1..5.bin, test_batch.bin)")
            errs.raise_if_any()
        splits[split] = {"image": np.concatenate([p[0] for p in parts]),
                         "label": np.concatenate([p[1] for p in parts])}
    meta = root / "batches.meta.txt"
    names = ([n.strip() for n in meta.read_text().splitlines() if n.strip()]
             if meta.is_file() else [str(i) for i in range(10)])
    return ArraySource(splits, meta={"class_names": names})
