"""What every source gives the pipeline: a `select(split expression)` → (tf.data.Dataset, count).

`ArraySource` holds row-aligned NumPy arrays per named split (every in-memory source);
`TfdsSource` wraps a prepared TensorFlow Datasets builder. Both yield dicts field → tensor.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelspec.data.splits import parse_split, slice_indices
from modelspec.errors import Collector


@dataclass
class ArraySource:
    """Examples held in memory as arrays, one dict field → array per named split.

    Args:
        splits: split name → {field: array with one row per example}; an `all` split
            (every named split concatenated) is added when absent.
        decode: Optional per-example tf function applied after splitting (e.g. image decoding).
        sequential: True for ordered data (text, time series): not shuffled before splitting.
        meta: Extra facts (e.g. `class_names`).
    """

    splits: dict
    decode: Callable | None = None
    sequential: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._shuffled: set = set()

    @property
    def split_names(self) -> list[str]:
        return list(self.splits) + ([] if "all" in self.splits or not self.splits else ["all"])

    def _table(self, name: str) -> dict:
        if name == "all" and name not in self.splits:  # built on first use only
            names = list(self.splits)
            common = set.intersection(*(set(self.splits[n]) for n in names))
            self.splits["all"] = {f: np.concatenate([self.splits[n][f] for n in names])
                                  for f in sorted(common)}
        return self.splits[name]

    def _ordered(self, name: str, seed: int, shuffle: bool) -> dict:
        """Split `name`'s arrays, permuted in place (once) when `shuffle`.

        A source serves one `build_datasets` call, so one seed and one `shuffle` setting.
        """
        table = self._table(name)
        if not shuffle:
            return table
        if name not in self._shuffled:
            n = len(next(iter(table.values()))) if table else 0
            order = np.random.default_rng([seed, zlib.crc32(name.encode())]).permutation(n)
            for f in list(table):  # one field at a time keeps the peak memory low
                table[f] = table[f][order]
            self._shuffled.add(name)
        return table

    def arrays(self, expr: str, seed: int, shuffle: bool) -> dict[str, np.ndarray]:
        """The rows of split expression `expr` (e.g. `all[:80%]`) as arrays (views if possible)."""
        pieces = []
        for part in parse_split(expr):
            table = self._ordered(part.name, seed, shuffle)
            n = len(next(iter(table.values()))) if table else 0
            start, end = slice_indices(part, n)
            pieces.append({f: a[start:end] for f, a in table.items()})
        if len(pieces) == 1:
            return pieces[0]
        return {f: np.concatenate([p[f] for p in pieces]) for f in pieces[0]}

    def select(self, expr: str, seed: int = 0, shuffle: bool | None = None) -> Any:
        """Returns (dataset of dict examples, number of examples) for `expr`."""
        import tensorflow as tf
        shuffle = (not self.sequential) if shuffle is None else shuffle
        arrays = self.arrays(expr, seed, shuffle)
        count = len(next(iter(arrays.values()))) if arrays else 0
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        if self.decode is not None:
            ds = ds.map(self.decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds, count


@dataclass
class TfdsSource:
    """A prepared TensorFlow Datasets builder; split expressions go to TFDS unchanged."""

    builder: Any  # a tfds.core.DatasetBuilder
    meta: dict = field(default_factory=dict)

    @property
    def split_names(self) -> list[str]:
        return list(self.builder.info.splits)

    def select(self, expr: str, seed: int = 0, shuffle: bool | None = None) -> Any:
        import tensorflow_datasets as tfds
        ds = self.builder.as_dataset(split=expr, shuffle_files=False,
                                     read_config=tfds.ReadConfig(shuffle_seed=seed))
        return ds, int(self.builder.info.splits[expr].num_examples)


def load_sklearn(src: dict[str, Any], base_dir: str | Path, errs: Collector) -> ArraySource:
    """scikit-learn's bundled data sets: `data` (float32), `label`; digits adds `images`."""
    from sklearn import datasets
    name = src["name"]
    if name == "digits":
        bunch = datasets.load_digits(n_class=src.get("n_class", 10))
        fields = {"images": bunch.images[..., None].astype(np.float32)}
    else:
        bunch = getattr(datasets, f"load_{name}")()
        fields = {}
    fields["data"] = bunch.data.astype(np.float32)
    fields["label"] = bunch.target.astype(np.int64)
    return ArraySource({"all": fields}, meta={"class_names": [str(c) for c in
                                                              bunch.target_names]})


def load_tfds(src: dict[str, Any], base_dir: str | Path, errs: Collector) -> TfdsSource:
    """A TFDS data set by name; fails at once when it is not prepared and download is off."""
    import tensorflow_datasets as tfds

    from modelspec.data.checks import SRC, resolve
    from modelspec.errors import did_you_mean
    name = src["name"]
    data_dir = str(resolve(base_dir, src["data_dir"])) if "data_dir" in src else None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        errs.add(SRC + ("name",), f"no TFDS data set '{name}'"
                 + (f" in data_dir '{data_dir}'" if data_dir else ""),
                 expected="a registered TFDS name or one prepared under data_dir",
                 suggestion=did_you_mean(name, tfds.list_builders()))
        errs.raise_if_any()
    if not builder.is_prepared():
        if not src.get("download", True):
            errs.add(SRC + ("name",), f"TFDS data set '{name}' is not prepared in "
                     f"'{builder.data_dir}' and download is false",
                     expected="prepared data (tfds build) or download: true")
            errs.raise_if_any()
        tfds_download(builder, name, errs)
    features = builder.info.features
    meta = {}
    if "label" in features and hasattr(features["label"], "names"):
        meta["class_names"] = list(features["label"].names)
    return TfdsSource(builder, meta)


def tfds_download(builder: Any, name: str, errs: Collector) -> None:
    """`download_and_prepare` with TFDS's HTTP retries cut from 10 to 1.

    TFDS retries each URL 10 times with exponential back-off (minutes without a network,
    `tensorflow_datasets/core/download/downloader.py: MAX_RETRIES`); one retry keeps a
    transient failure recoverable and an offline machine's answer within seconds.
    """
    from tensorflow_datasets.core.download import downloader

    from modelspec.data.checks import SRC
    saved = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = 1
    try:
        builder.download_and_prepare()
    except Exception as err:  # noqa: BLE001 TFDS raises many kinds of network errors
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        errs.add(SRC + ("name",), f"cannot download and prepare TFDS data set '{name}' into "
                 f"'{builder.data_dir}': {reason}",
                 expected="network access, or the data set prepared elsewhere (`tfds build "
                          f"{name}`) and copied into TFDS_DATA_DIR or the source's data_dir")
        errs.raise_if_any()
    finally:
        downloader.MAX_RETRIES = saved


PATH_KEYS = ("path", "images", "labels")


def downloaded_folder(src: dict[str, Any], errs: Collector) -> Any:
    """Where a `download:` data set is (local copy or Keras cache), its paths checked."""
    from modelspec.data.checks import SRC, path_map
    from modelspec.data.fetch import Download, prepare, where_to_put
    download = Download.from_spec(src["download"])
    prepared = prepare(download, errs)
    for key in PATH_KEYS:
        multi = isinstance(src.get(key), dict)
        for split, rel in (path_map(src[key]).items() if key in src else ()):
            if not (prepared.folder / rel).exists():
                errs.add(SRC + ((key, split) if multi else (key,)),
                         f"'{rel}' is not in the {prepared.kind} of data set "
                         f"'{download.name}' ('{prepared.folder}')",
                         expected=where_to_put(download))
    errs.raise_if_any()
    return prepared
