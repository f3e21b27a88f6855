"""Prediction inputs from files, and TensorFlow Serving's REST JSON formats.

TF Serving's predict API (https://www.tensorflow.org/tfx/serving/api_rest) takes either

- **row** format `{"instances": [...]}`: one entry per example; an entry is an object
  `{input name: value}`, or a bare value when the signature has a single input; the answer is
  `{"predictions": [...]}` (one object per example, or bare values for a single output);
- **column** format `{"inputs": {input name: batch}}` (or a bare batch for a single input);
  the answer is `{"outputs": {output name: batch}}` (or the bare batch for a single output).

Binary strings travel as `{"b64": "..."}`. `signature_name` picks the signature. The same
payloads are accepted here, so a client's requests can be tried against an export without a
server. Other files become rows: CSV (a header naming inputs; `name_0, name_1, ...` columns
fill a vector input; a single-input model takes all columns in order), `.npy` (the batch of a
single input), `.npz` (arrays named like the inputs) and images (decoded, resized to the
input's height and width, times `rescale`; a string input receives the encoded bytes).
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelspec.errors import UsageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@dataclass
class InputSpec:
    """What a signature input expects: shape without the batch dim (None = any) and dtype."""

    shape: tuple[int | None, ...]
    dtype: str  # numpy-style name, or "string"


@dataclass
class Payload:
    """A parsed request: named input batches, the answer style and a requested signature."""

    batch: dict[str, np.ndarray]
    style: str = "rows"  # "rows" → predictions, "columns" → outputs
    signature: str | None = None


def _array(values: Any, name: str, spec: InputSpec, rows: int | None = None) -> np.ndarray:
    """Converts JSON/CSV/NumPy values of one input into a batch of the input's shape."""
    if spec.dtype == "string":
        def decode(v: Any) -> Any:  # bytes, or nested lists of bytes
            if isinstance(v, Mapping) and set(v) == {"b64"}:
                return base64.b64decode(v["b64"])
            if isinstance(v, (list, tuple, np.ndarray)):
                return [decode(x) for x in v]
            return v.encode() if isinstance(v, str) else v if isinstance(v, bytes) \
                else str(v).encode()
        array = np.array(decode(values), dtype=object)
    else:
        try:
            array = np.asarray(values, dtype=np.dtype(spec.dtype))
        except (ValueError, TypeError) as err:
            raise UsageError(f"input '{name}': cannot read the values as {spec.dtype}: "
                             f"{err}") from None
    return _fit_shape(array, name, spec, rows)


def _fit_shape(array: np.ndarray, name: str, spec: InputSpec,
               rows: int | None = None) -> np.ndarray:
    """Returns `array` as [batch] + shape: as given, as one example, or reshaped per row."""
    want = len(spec.shape)
    candidates = []
    if array.ndim == want + 1:
        candidates.append(array)
    if rows is None and array.ndim == want:  # one example without the batch dimension
        candidates.append(array[None])
    known = [d for d in spec.shape if d is not None]
    if len(known) == len(spec.shape) and array.ndim >= 1 and \
            array.size and np.size(array[0]) == int(np.prod(known, dtype=np.int64)):
        candidates.append(array.reshape((array.shape[0],) + tuple(spec.shape)))
    for candidate in candidates:
        if all(w is None or g == w for g, w in zip(candidate.shape[1:], spec.shape)):
            return candidate
    raise UsageError(f"input '{name}': got values of shape {list(array.shape)}, expected "
                     f"[batch, {', '.join('any' if d is None else str(d) for d in spec.shape)}]")


def _single(inputs: Mapping[str, InputSpec], what: str) -> str:
    if len(inputs) != 1:
        raise UsageError(f"{what} needs a signature with one input; this one has "
                         f"{', '.join(inputs)} — name the inputs")
    return next(iter(inputs))


def parse_rest(document: Any, inputs: Mapping[str, InputSpec]) -> Payload:
    """Reads a TF Serving REST request (`instances` rows or `inputs` columns).

    Raises:
        UsageError: The document is neither format or names unknown inputs.
    """
    if isinstance(document, list):
        document = {"instances": document}
    if not isinstance(document, Mapping) or ("instances" in document) == ("inputs" in document):
        raise UsageError("a JSON request needs exactly one of 'instances' (rows) or 'inputs' "
                         "(columns), as for TensorFlow Serving's REST API")
    signature = document.get("signature_name")
    if "instances" in document:
        rows = document["instances"]
        if not isinstance(rows, list) or not rows:
            raise UsageError("'instances' must be a non-empty list of examples")
        if all(isinstance(r, Mapping) and not set(r) == {"b64"} for r in rows):
            columns: dict[str, list[Any]] = {}
            for i, row in enumerate(rows):
                unknown = set(row) - set(inputs)
                if unknown:
                    raise UsageError(f"instances[{i}]: unknown input(s) {sorted(unknown)}; the "
                                     f"signature's inputs are {', '.join(inputs)}")
                for name in inputs:
                    if name not in row:
                        raise UsageError(f"instances[{i}]: missing input '{name}'")
                    columns.setdefault(name, []).append(row[name])
        else:
            columns = {_single(inputs, "a list of bare instances"): rows}
        return Payload({n: _array(v, n, inputs[n], len(rows)) for n, v in columns.items()},
                       "rows", signature)
    given = document["inputs"]
    if not isinstance(given, Mapping) or set(given) == {"b64"}:
        given = {_single(inputs, "a bare 'inputs' value"): given}
    unknown = set(given) - set(inputs)
    missing = set(inputs) - set(given)
    if unknown or missing:
        raise UsageError(f"'inputs' must name {', '.join(inputs)}"
                         + (f"; unknown {sorted(unknown)}" if unknown else "")
                         + (f"; missing {sorted(missing)}" if missing else ""))
    return Payload({n: _array(v, n, inputs[n]) for n, v in given.items()}, "columns", signature)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def parse_csv(path: Path, inputs: Mapping[str, InputSpec]) -> Payload:
    """Reads CSV rows: a header names inputs (or `name_<i>` parts); see the module docstring."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.reader(handle) if r]
    if not rows:
        raise UsageError(f"{path}: empty CSV file")
    header = rows[0] if not all(_is_number(c) for c in rows[0]) else None
    body = rows[1:] if header else rows
    if not body:
        raise UsageError(f"{path}: a header but no rows")
    columns: dict[str, list[int]] = {}
    if header:
        for name in inputs:
            exact = [i for i, h in enumerate(header) if h.strip() == name]
            parts = sorted(((int(h.strip()[len(name) + 1:]), i) for i, h in enumerate(header)
                            if h.strip().startswith(name + "_")
                            and h.strip()[len(name) + 1:].isdigit()))
            if exact or parts:
                columns[name] = exact or [i for _, i in parts]
    if not columns:
        columns = {_single(inputs, f"{path}: CSV columns that do not name the inputs"):
                   list(range(len(body[0])))}
    missing = set(inputs) - set(columns)
    if missing:
        raise UsageError(f"{path}: no column for input(s) {sorted(missing)}; the header "
                         f"should name {', '.join(inputs)} (or name_0, name_1, ...)")
    batch = {}
    for name, index in columns.items():
        cells = [[row[i] for i in index] for row in body]
        values: list[list[Any]] = cells if inputs[name].dtype == "string" else [
            [float(v) if v.strip() else np.nan for v in r] for r in cells]
        batch[name] = _array(values, name, inputs[name], len(body))
    return Payload(batch)


def read_images(paths: Sequence[Path], inputs: Mapping[str, InputSpec],
                rescale: float = 1.0) -> Payload:
    """Decodes image files into one batch for the signature's single image input."""
    import tensorflow as tf
    name = _single(inputs, "image files")
    spec = inputs[name]
    if spec.dtype == "string":  # the signature decodes the image itself
        return Payload({name: np.array([p.read_bytes() for p in paths], dtype=object)})
    if len(spec.shape) != 3:
        raise UsageError(f"input '{name}' has shape {list(spec.shape)}; images need "
                         "[height, width, channels]")
    height, width, channels = spec.shape
    images = []
    for path in paths:
        try:
            image = tf.io.decode_image(path.read_bytes(), channels=channels or 0,
                                       expand_animations=False)
        except tf.errors.InvalidArgumentError as err:
            raise UsageError(f"{path}: not a readable image ({err.message})") from None
        image = tf.cast(image, tf.float32)
        if height and width and tuple(image.shape[:2]) != (height, width):
            image = tf.image.resize(image, (height, width))
        images.append((image * rescale).numpy())
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise UsageError(f"images of different sizes {sorted(shapes)} cannot form one batch "
                         "for an input of any size; resize them or send one at a time")
    return Payload({name: np.stack(images).astype(np.dtype(spec.dtype))})


def read_payload(files: Sequence[str | Path], inputs: Mapping[str, InputSpec],
                 rescale: float = 1.0) -> Payload:
    """Reads prediction input files of any supported kind (see the module docstring).

    Raises:
        UsageError: An unsupported or unreadable file, or values that do not fit the inputs.
    """
    paths = [Path(p) for p in files]
    suffixes = {p.suffix.lower() for p in paths}
    if not paths:
        raise UsageError("no input file given (--input FILE)")
    if suffixes <= IMAGE_SUFFIXES:
        return read_images(paths, inputs, rescale)
    if len(paths) > 1:
        raise UsageError("several --input files are accepted only for images")
    path = paths[0]
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise UsageError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") \
                from None
        return parse_rest(document, inputs)
    if suffix == ".csv":
        return parse_csv(path, inputs)
    if suffix == ".npy":
        name = _single(inputs, ".npy files")
        return Payload({name: _array(np.load(path, allow_pickle=False), name, inputs[name])})
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            missing = set(inputs) - set(data.files)
            if missing:
                raise UsageError(f"{path}: no array for input(s) {sorted(missing)} "
                                 f"(arrays: {', '.join(data.files)})")
            return Payload({n: _array(data[n], n, inputs[n]) for n in inputs})
    raise UsageError(f"{path}: unsupported input file type '{suffix}' — expected .json, .csv, "
                     ".npy, .npz or an image (.png, .jpg, .bmp, .gif)")


def _jsonable(array: np.ndarray) -> Any:  # nested lists of JSON values
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        def text(v: Any) -> str | dict[str, str]:
            if isinstance(v, bytes):
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(v).decode("ascii")}
            return str(v)
        return np.vectorize(text, otypes=[object])(array).tolist() if array.size else []
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:  # shortest float32 repr
        values = [float(str(v)) for v in array.ravel()]  # str(np.float32(0.1)) == "0.1"
        return np.array(values, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def format_response(outputs: Mapping[str, np.ndarray], style: str = "rows") -> dict[str, Any]:
    """Builds TF Serving's answer: `{"predictions": rows}` or `{"outputs": columns}`."""
    if style == "columns":
        if len(outputs) == 1:
            return {"outputs": _jsonable(next(iter(outputs.values())))}
        return {"outputs": {name: _jsonable(v) for name, v in outputs.items()}}
    columns = {name: _jsonable(v) for name, v in outputs.items()}
    count = len(next(iter(columns.values()))) if columns else 0
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [{name: col[i] for name, col in columns.items()}
                            for i in range(count)]}
