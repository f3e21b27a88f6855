"""Semantic checks of a resolved `data:` section without TensorFlow.

What can be known before any data is read is checked here, at the spec's lines: files and
folders exist, CSV/NPZ field names, fields named by transforms/features/targets, split
syntax and split names, generated-data arguments. The pipeline re-checks what only the
data can tell (shapes against the model) when it is built.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelspec.data.fetch import url_name
from modelspec.data.registry import (
    FILTERING,
    GENERATED,
    RESTRUCTURING,
    SKLEARN_NAMES,
    TRANSFORM_FIELDS,
)
from modelspec.data.splits import default_splits, parse_split
from modelspec.errors import Collector, did_you_mean
from modelspec.source import PathT

SRC: PathT = ("data", "source")


def path_map(value: Any, default_split: str = "all") -> dict[str, str]:
    """`a.csv` → {"all": "a.csv"}; `{train: a, test: b}` unchanged."""
    if isinstance(value, dict):
        return dict(value)
    return {default_split: value}


def resolve(base_dir: str | Path, path: str) -> Path:
    """Resolves a spec path against the spec's directory (`~` expanded)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def _csv_header(path: Path, delimiter: str, skiprows: int = 0) -> list[str]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for _ in range(skiprows):
            f.readline()
        row = next(csv.reader(f, delimiter=delimiter, skipinitialspace=True), [])
    return [c.strip() for c in row]


def _check_download_path(src: Mapping[str, Any], rel: str, where: PathT,
                         errs: Collector) -> None:
    """A path of a downloaded data set names one of its files (or an archive's member)."""
    files = src["download"].get("files") or []
    names = [f.get("fname") or url_name(f.get("url", "")) for f in files]
    if any(f.get("extract") for f in files) or rel in names:
        return
    errs.add(where, f"'{rel}' is not a file of data set '{src['download'].get('name')}'",
             expected=f"one of the files of download.files: {names}",
             suggestion=did_you_mean(rel, names))


def _check_paths(src: Mapping[str, Any], key: str, base_dir: str | Path, errs: Collector,
                 want_dir: bool = False) -> dict[str, Path]:
    """Checks the file(s) of `src[key]` exist; returns {split: Path} of those that do.

    Files of a `download:` are fetched when the data is read: only their names are checked.
    """
    found: dict[str, Path] = {}
    if key not in src:
        return found
    multi = isinstance(src[key], dict)
    for split, rel in path_map(src[key]).items():
        where = SRC + ((key, split) if multi else (key,))
        if isinstance(src.get("download"), dict):
            _check_download_path(src, rel, where, errs)
            continue
        path = resolve(base_dir, rel)
        ok = path.is_dir() if want_dir else path.is_file()
        if not ok:
            kind = "folder" if want_dir else "file"
            errs.add(where, f"{kind} '{rel}' does not exist (looked in '{path.parent}')",
                     expected=f"an existing {kind}, relative to the spec's folder")
        else:
            found[split] = path
    return found


# what the checks know of a source before reading it: (its fields, its split names), each
# None where it cannot be known without the data
SourceInfo = tuple[set[str] | None, list[str] | None]


def _sklearn_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    name = src.get("name")
    fields = {"data", "label", "images"} if name == "digits" else {"data", "label"}
    return (fields if name in SKLEARN_NAMES else None), ["all"]


def _generated_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    entry = GENERATED.get(str(src.get("name")))
    if entry is None:               # a parameter's value (the schema checks literals)
        errs.add(SRC + ("name",), f"unknown generated data set '{src.get('name')}'",
                 expected=f"one of: {', '.join(GENERATED)}",
                 suggestion=did_you_mean(str(src.get("name")), list(GENERATED)))
    return (set(entry[1]) if entry else None), ["all"]


def _tfds_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    if "data_dir" in src and not resolve(base_dir, src["data_dir"]).is_dir():
        errs.add(SRC + ("data_dir",), f"folder '{src['data_dir']}' does not exist",
                 expected="the TFDS data_dir holding the prepared data set")
    return None, None


def _idx_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    images = _check_paths(src, "images", base_dir, errs)
    _check_paths(src, "labels", base_dir, errs)
    if "labels" in src and set(path_map(src["images"])) != set(path_map(src["labels"])):
        errs.add(SRC + ("labels",), "labels name other splits than images",
                 expected=f"the same split names as images: {sorted(path_map(src['images']))}")
    fields = {"image", "label"} if "labels" in src else {"image"}
    return fields, list(path_map(src.get("images", {})) or images) or None


def _cifar_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    _check_paths(src, "path", base_dir, errs, want_dir=True)
    return {"image", "label"}, ["train", "test"]


def _image_folder_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    _check_paths(src, "path", base_dir, errs, want_dir=True)
    return {"image", "label"}, list(path_map(src["path"]))


def _text_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    _check_paths(src, "path", base_dir, errs, want_dir=src.get("unit") == "file")
    return {"text"}, list(path_map(src["path"]))


def _check_columns(src: Mapping[str, Any], key: str, columns: list[str],
                   errs: Collector) -> None:
    """`src[key]` (a column name or a list of them) names columns of the file."""
    names = src.get(key, [])
    for i, name in enumerate([names] if isinstance(names, str) else names):
        if name not in columns:
            at: PathT = SRC + ((key,) if isinstance(names, str) else (key, i))
            errs.add(at, f"unknown column '{name}'", expected=f"one of {columns}",
                     suggestion=did_you_mean(name, columns))


def _csv_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    """CSV and time-series sources: the columns of the header (or `column_names`)."""
    found = _check_paths(src, "path", base_dir, errs)
    splits = list(path_map(src["path"])) if "path" in src else None
    columns = src.get("column_names")
    if columns is None and src.get("header", True) and found:
        columns = _csv_header(next(iter(found.values())), src.get("delimiter", ","),
                              src.get("skiprows", 0))
    if src.get("type") == "timeseries":
        for key in ("columns", "target"):
            if columns is not None:
                _check_columns(src, key, columns, errs)
        return {"window", "target"}, splits
    if columns is not None and "columns" in src:
        _check_columns(src, "columns", columns, errs)
        columns = [c for c in columns if c in src["columns"]]
    if columns is None and not src.get("header", True):
        return None, splits
    return (set(columns) if columns is not None else None), splits


def _npz_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    """`.npz` archives (their arrays' names) or a `.npy` array (`field`)."""
    found = _check_paths(src, "path", base_dir, errs)
    splits = list(path_map(src["path"])) if "path" in src else None
    fields: set[str] | None = None
    for path in found.values():
        if path.suffix == ".npz":
            try:
                with zipfile.ZipFile(path) as z:
                    names = {n[:-4] for n in z.namelist() if n.endswith(".npy")}
            except (zipfile.BadZipFile, OSError):  # named when the pipeline reads it
                return None, splits
            fields = names if fields is None else fields & names
        else:
            fields = {src.get("field", "data")}
    return fields, splits


def _other_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    _check_paths(src, "path", base_dir, errs)
    return None, None


_INFO: dict[str, Callable[[Mapping[str, Any], str | Path, Collector], SourceInfo]] = {
    "sklearn": _sklearn_info, "generated": _generated_info, "tfds": _tfds_info,
    "idx": _idx_info, "cifar": _cifar_info, "image_folder": _image_folder_info,
    "text": _text_info, "csv": _csv_info, "timeseries": _csv_info, "npz": _npz_info,
}


def source_info(src: Mapping[str, Any], base_dir: str | Path, errs: Collector) -> SourceInfo:
    """Statically known (fields, split names) of a source; None where unknown (files that
    the source names are checked to exist on the way)."""
    return _INFO.get(str(src.get("type")), _other_info)(src, base_dir, errs)


def _check_field(name: str, fields: set[str] | None, where: PathT, errs: Collector,
                 what: str = "field") -> None:
    if fields is not None and name not in fields:
        errs.add(where, f"unknown {what} '{name}'", expected=f"one of {sorted(fields)}",
                 suggestion=did_you_mean(name, sorted(fields)))


def check_section(data: Mapping[str, Any], base_dir: str | Path, errs: Collector,
                  outputs: list[str] | None = None) -> None:
    """Checks a resolved `data:` section; problems go to `errs`.

    Args:
        data: The resolved section (plain data).
        base_dir: The folder relative paths are resolved against.
        errs: A `modelspec.errors.Collector`.
        outputs: The model's output names when the spec says them (`model.outputs`), used to
            check `sample_weights`; None when unknown (then the `targets` keys are used).
    """
    src = data.get("source") or {}
    fields, splits = source_info(src, base_dir, errs)
    if src.get("type") == "sklearn" and src.get("n_class") and src.get("name") != "digits":
        errs.add(SRC + ("n_class",), "n_class applies to digits only",
                 expected="no n_class for " + str(src.get("name")))
    fields = set(fields) if fields is not None else None

    for name, expr in (data.get("splits") or {}).items():
        where = ("data", "splits", name)
        try:
            parts = parse_split(expr)
        except ValueError as err:
            errs.add(where, f"bad split expression '{expr}': {err}",
                     expected="'name', 'name[:80%]', 'name[100:200]' or 'a+b'")
            continue
        for part in parts:
            if splits is not None and part.name not in splits:
                errs.add(where, f"unknown split '{part.name}' of this source",
                         expected=f"one of {splits}", suggestion=did_you_mean(part.name, splits))
    if not data.get("splits") and splits is not None and "train" not in default_splits(splits):
        errs.add(("data", "splits"), "no train split", expected="splits: {train: ...}")

    for i, step in enumerate(data.get("transforms") or []):
        kind = step.get("type")
        for key in ("field",):
            if key in step:
                _check_field(step[key], fields, ("data", "transforms", i, key), errs)
        for j, name in enumerate(step.get("fields") or []):
            _check_field(name, fields, ("data", "transforms", i, "fields", j), errs)
        if fields is None:
            continue
        if kind in RESTRUCTURING:
            fields = {step.get(k, k) for k in TRANSFORM_FIELDS[kind]}
        elif kind not in FILTERING:  # a filter writes no field
            fields.add(step.get("output") or step.get("field"))

    for i, step in enumerate(data.get("augment") or []):
        if "field" in step:
            _check_field(step["field"], fields, ("data", "augment", i, "field"), errs)
    for section in ("features", "targets", "sample_weights"):
        for name, field in (data.get(section) or {}).items():
            _check_field(field, fields, ("data", section, name), errs)
    _check_weight_outputs(data, outputs, errs)


def _check_weight_outputs(data: Mapping[str, Any], outputs: list[str] | None,
                          errs: Collector) -> None:
    """`sample_weights` keys must name model outputs (else `targets` keys, when given)."""
    names = outputs if outputs is not None else (
        sorted(data["targets"]) if data.get("targets") else None)
    for name in data.get("sample_weights") or {}:
        if names is not None and name not in names:
            errs.add(("data", "sample_weights", name), f"'{name}' is not an output of the model",
                     expected="one of " + ", ".join(names) + " (a weight field per output)",
                     suggestion=did_you_mean(name, names), key=True)
