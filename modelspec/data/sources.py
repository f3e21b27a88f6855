"""The table of data sources: `data.source.type` → the loader that reads it.

Each loader lives with its kind (`source_base`: scikit-learn and TFDS; `sources_files`: files;
`generated`: synthetic sets) and returns an `ArraySource` or a `TfdsSource`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelspec.data import generated
from modelspec.data import sources_files as files
from modelspec.data.source_base import (
    ArraySource,
    TfdsSource,
    downloaded_folder,
    load_sklearn,
    load_tfds,
)
from modelspec.errors import Collector

Loader = Callable[[dict[str, Any], Path, Collector], Any]

LOADERS: dict[str, Loader] = {
    "sklearn": load_sklearn, "tfds": load_tfds, "csv": files.load_csv, "npz": files.load_npz,
    "idx": files.load_idx, "image_folder": files.load_image_folder, "text": files.load_text,
    "timeseries": files.load_timeseries, "cifar": files.load_cifar,
    "generated": generated.load_generated,
}


def load_source(src: dict[str, Any], base_dir: Path,
                errs: Collector) -> ArraySource | TfdsSource:
    """Loads the source a `data.source` mapping describes.

    Args:
        src: The resolved `data.source` mapping.
        base_dir: The folder relative paths are resolved against.
        errs: A `Collector`; problems raise `SpecError` at the source's spec line.

    Returns:
        An `ArraySource` or `TfdsSource`.
    """
    loader = LOADERS[src["type"]]
    if not isinstance(src.get("download"), dict):
        result: ArraySource | TfdsSource = loader(src, base_dir, errs)
        return result
    prepared = downloaded_folder(src, errs)  # a file source's data set by origin
    source = loader(src, prepared.folder, errs)
    source.meta["data_set"] = f"{src['download']['name']} ({prepared.kind} '{prepared.folder}')"
    return source
