"""Formats besides the SavedModel: the native `.keras` archive and TensorFlow Lite.

Both are written into the same staged version directory as the SavedModel (so they are
versioned and published atomically with it) and are checked like it: reloaded and compared
with the in-memory model on the same batch.

- `.keras`: `model.save(...)`, reloaded with `keras.saving.load_model(..., safe_mode=True)`
  (built-in modelspec layers are registered Keras-serializable; no Lambda exists to unpickle).
- TFLite: `tf.lite.TFLiteConverter.from_saved_model` on the `serving_default` signature
  (TFLite built-in ops only, so the file runs on the plain LiteRT runtime), run with the
  interpreter's signature runner. TFLite kernels may round differently from TensorFlow's, so
  its tolerance is looser by default (1e-4).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from modelspec.build.compiler import call_model
from modelspec.errors import EXIT_INTERNAL, ModelspecError
from modelspec.exporting.signatures import SERVING_DEFAULT, max_difference, relative_tolerance

KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"


class ExportCheckError(ModelspecError):
    """A written export does not reproduce the in-memory model (or cannot be reloaded).

    Nothing is published when it is raised; the exit code is 1.
    """

    exit_code = EXIT_INTERNAL


def write_keras(model: keras.Model, path: Path, batch: Mapping[str, np.ndarray],
                tolerance: float) -> float:
    """Saves `model` as a `.keras` archive and checks the reloaded copy.

    Args:
        model: The model.
        path: The `.keras` file to write.
        batch: Named inputs to compare outputs on.
        tolerance: Largest allowed absolute difference.

    Returns:
        The largest absolute difference measured.

    Raises:
        ExportCheckError: The archive does not reload or its outputs differ.
    """
    model.save(str(path))
    try:
        reloaded = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as err:
        raise ExportCheckError(f"the .keras archive {path.name} does not reload: {err}") from err
    expected = to_numpy(call_model(model, batch))
    diff = max_difference(expected, to_numpy(call_model(reloaded, batch)))
    if not diff <= relative_tolerance(expected, tolerance):
        raise ExportCheckError(f"the reloaded .keras archive differs from the model by {diff:g} "
                               f"(tolerance {tolerance:g} × the largest output)")
    return diff


def write_tflite(savedmodel_dir: Path, path: Path, reference: Mapping[str, np.ndarray],
                 batch: Mapping[str, np.ndarray], tolerance: float,
                 optimize: str = "none") -> float:
    """Converts the `serving_default` signature of a SavedModel to TFLite and checks it.

    Args:
        savedmodel_dir: A SavedModel written by `write_savedmodel`.
        path: The `.tflite` file to write.
        reference: The in-memory model's outputs on `batch`.
        batch: Named inputs.
        tolerance: Largest allowed absolute difference.
        optimize: `"none"`, `"dynamic"` (dynamic-range int8 weights) or `"float16"` weights.
            Quantised files are checked against `tolerance` too, so raise it for them.

    Returns:
        The largest absolute difference measured.

    Raises:
        ExportCheckError: The conversion fails or the TFLite outputs differ.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel_dir),
                                                         signature_keys=[SERVING_DEFAULT])
    if optimize in ("dynamic", "float16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if optimize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        content = converter.convert()
    except Exception as err:
        raise ExportCheckError(f"TFLite conversion failed (the model uses operations TFLite's "
                               f"built-in kernels lack?): {err}") from err
    path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_content=content)
    runner = interpreter.get_signature_runner(SERVING_DEFAULT)
    actual = runner(**{name: np.asarray(value) for name, value in batch.items()})
    diff = max_difference(reference, actual)
    if not diff <= relative_tolerance(reference, tolerance):
        raise ExportCheckError(f"the TFLite model differs from the model by {diff:g} "
                               f"(tolerance {tolerance:g} × the largest output)")
    return diff


def to_numpy(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Converts a dict of tensors (any backend) to NumPy arrays."""
    return {name: keras.ops.convert_to_numpy(value) for name, value in values.items()}
