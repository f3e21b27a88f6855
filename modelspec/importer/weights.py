"""The imported model's weights beside its spec, in Keras's own `.weights.h5` format.

A `.keras` file already holds them (`model.weights.h5` in its zip): they are copied out
unchanged. An application's freshly built model writes them with `model.save_weights`.
Keras keys the file by layer class and position, not by name, so the spec's model (the
same layers in the same order) loads it with `model.load_weights` — which the compiler
does for `model: {weights: FILE}`. No pickle, no code: HDF5 arrays only.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from modelspec.errors import UsageError
from modelspec.fileio import atomic_write_bytes
from modelspec.importer.reader import WEIGHTS_MEMBER, ModelSource

SUFFIX = ".weights.h5"


def weights_path(spec_path: Path) -> Path:
    """`resnet50.yaml` → `resnet50.weights.h5` in the same folder."""
    return spec_path.with_name(spec_path.stem + SUFFIX)


def write_weights(source: ModelSource, target: Path) -> Path:
    """Writes the source model's weights to `target` atomically.

    Raises:
        UsageError: If the source has no weights (a JSON config).
    """
    if source.archive is not None:
        with zipfile.ZipFile(source.archive) as archive:
            return atomic_write_bytes(target, archive.read(WEIGHTS_MEMBER))
    if source.model is not None:
        fd, tmp = tempfile.mkstemp(suffix=SUFFIX, dir=target.parent)
        os.close(fd)
        try:
            source.model.save_weights(tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target
    raise UsageError(f"'{source.label}' holds no weights (a JSON config is the architecture "
                     "only) — expected a .keras file or an application name for --weights")
