"""Bad data files are clean errors naming the file, when the pipeline is built (issue 15,
finding 11): broken images, mixed image sizes, broken .npy/.npz files, missing CSV values."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import modelspec
from modelspec.data.pipeline import build_datasets
from modelspec.data.validate_files import DataFileError, read_numpy_file
from modelspec.errors import SpecError

MODEL = """modelspec: 1
model:
  inputs: {x: {shape: [2]}}
  layers: [{id: out, type: Dense, units: 1}]
  outputs: {y: out}
data:
"""
IMAGES = {"image": ((8, 8, 3), "float32")}


def error_text(tmp_path: Path, data_text: str, inputs: dict, outputs: dict) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + data_text)
    spec = modelspec.load_spec(path)
    with pytest.raises(SpecError) as err:
        build_datasets(spec, inputs, outputs)
    return str(err.value).replace(str(tmp_path) + "/", "")


def _images(root: Path, sizes: dict[str, tuple[int, int]]) -> None:
    from PIL import Image
    rng = np.random.default_rng(0)
    for name, (h, w) in sizes.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / name)


def test_broken_images_are_named_with_the_reason(tmp_path):
    img = tmp_path / "img"
    _images(img, {f"cat/{i}.jpg": (8, 8) for i in range(3)}
            | {f"dog/{i}.png": (8, 8) for i in range(3)})
    (img / "cat" / "empty.jpg").write_bytes(b"")
    (img / "dog" / "garbage.png").write_bytes(os.urandom(100))
    jpeg = (img / "cat" / "0.jpg").read_bytes()
    (img / "cat" / "cut.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    png = (img / "dog" / "0.png").read_bytes()
    (img / "dog" / "cut.png").write_bytes(png[:len(png) // 2])
    text = error_text(tmp_path, "  source: {type: image_folder, path: img}\n", IMAGES,
                      {"y": ((2,), "float32")})
    assert text.startswith("spec.yaml:7:38: data.source.path: 4 of 10 image files cannot be "
                           "decoded: img/cat/cut.jpg (jpeg::Uncompress failed. Invalid JPEG "
                           "data or crop window), img/cat/empty.jpg (the file is empty (0 "
                           "bytes)), img/dog/cut.png (Invalid PNG data, size ")
    assert "img/dog/garbage.png (Unknown image file format." in text
    assert text.endswith("— expected JPEG, PNG, GIF or BMP files (remove or replace these)")
    # resizing does not hide a broken file
    text = error_text(tmp_path, "  source: {type: image_folder, path: img, image_size: [8, 8]}"
                      "\n", IMAGES, {"y": ((2,), "float32")})
    assert "4 of 10 image files cannot be decoded" in text


def test_many_broken_images_are_counted(tmp_path):
    img = tmp_path / "img"
    _images(img, {"a/ok.png": (8, 8)})
    for i in range(8):
        (img / "a" / f"bad{i}.png").write_bytes(b"")
    text = error_text(tmp_path, "  source: {type: image_folder, path: img}\n", IMAGES, {})
    assert "8 of 9 image files cannot be decoded: img/a/bad0.png (the file is empty (0 " \
           "bytes)), " in text
    assert "img/a/bad4.png (the file is empty (0 bytes)) and 3 more — expected" in text


def test_mixed_image_sizes_need_image_size(tmp_path):
    img = tmp_path / "img"
    _images(img, {f"a/{i}.png": (8, 8) for i in range(4)} | {"b/wide.png": (8, 12),
                                                              "b/tall.jpg": (10, 8)})
    text = error_text(tmp_path, "  source: {type: image_folder, path: img}\n", IMAGES, {})
    assert text == ("spec.yaml:7:38: data.source.path: the images differ in size: most are "
                    "8×8, but img/b/tall.jpg (10×8), img/b/wide.png (8×12) — expected "
                    "image_size: [height, width] to resize every image to one size")
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + "  source: {type: image_folder, path: img, image_size: [8, 8]}\n")
    bundle = build_datasets(modelspec.load_spec(path), IMAGES, {})
    assert bundle.counts["train"] == 6


def _npz_error(tmp_path: Path, name: str) -> str:
    return error_text(tmp_path, f"  source: {{type: npz, path: {name}}}\n",
                      {"x": ((2,), "float32")}, {})


def test_broken_numpy_files_are_named(tmp_path):
    np.savez(tmp_path / "good.npz", x=np.zeros((10, 2), np.float32), y=np.arange(10))
    whole = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[:len(whole) // 2])
    np.save(tmp_path / "good.npy", np.zeros((10, 2), np.float32))
    whole = (tmp_path / "good.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[:len(whole) - 20])
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "garbage.npz").write_bytes(b"\x80\x04" + os.urandom(50))
    np.savez(tmp_path / "scalar.npz", x=np.array(5.0), y=np.arange(3))
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}, None], dtype=object))
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}, None], dtype=object))
    expected = " — expected a NumPy .npy or .npz file of numeric or string arrays, one row " \
               "per example (np.save / np.savez)"
    start = "spec.yaml:7:29: data.source.path: cannot read"
    assert _npz_error(tmp_path, "cut.npz").startswith(
        f"{start} 'cut.npz': it is a truncated or damaged .npz archive (File is not a zip "
        "file)")
    assert _npz_error(tmp_path, "cut.npy").startswith(
        f"{start} 'cut.npy': it is truncated (Failed to read all data for array.")
    assert _npz_error(tmp_path, "empty.npz") == \
        f"{start} 'empty.npz': the file is empty (0 bytes){expected}"
    assert _npz_error(tmp_path, "garbage.npz") == (
        f"{start} 'garbage.npz': it is neither a .npy nor an .npz file (it does not start "
        f"with the NumPy or zip signature){expected}")
    assert _npz_error(tmp_path, "scalar.npz") == (
        f"{start} 'scalar.npz': array 'x' is a single value (a 0-d array), not one row per "
        f"example{expected}")
    pickled = ("it holds Python objects (pickled data), which modelspec never loads; save "
               "numeric or string arrays")
    assert _npz_error(tmp_path, "pickled.npz") == \
        f"{start} 'pickled.npz': array 'x': {pickled}{expected}"
    assert _npz_error(tmp_path, "pickled.npy") == f"{start} 'pickled.npy': {pickled}{expected}"


def test_read_numpy_file_never_unpickles(tmp_path, monkeypatch):
    import pickle
    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a))
    np.save(tmp_path / "p.npy", np.array([object()], dtype=object))
    with pytest.raises(DataFileError):
        read_numpy_file(tmp_path / "p.npy")
    assert calls == []
    np.savez_compressed(tmp_path / "z.npz", x=np.random.default_rng(0).random((500, 20)))
    whole = bytearray((tmp_path / "z.npz").read_bytes())
    whole[300:340] = bytes(40)  # damage the compressed data, keep the zip directory
    (tmp_path / "z.npz").write_bytes(bytes(whole))
    with pytest.raises(DataFileError, match="array 'x': it is damaged"):
        read_numpy_file(tmp_path / "z.npz")


CSV_DATA = "  source: {type: csv, path: t.csv FILL}\n  features: {x: x}\n  targets: {y: c}\n" \
           "  transforms: [{type: stack, fields: [a, b], output: x}]\n"


def _csv(tmp_path: Path, fill: str = "") -> str | dict:
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + CSV_DATA.replace(" FILL", fill))
    spec = modelspec.load_spec(path)
    try:
        bundle = build_datasets(spec, {"x": ((2,), "float32")}, {"y": ((1,), "float32")})
    except SpecError as err:
        return str(err).replace(str(tmp_path) + "/", "")
    rows = [x["x"].numpy() for x, _ in bundle.train.unbatch()]
    return {"rows": np.array(rows)}


def test_missing_csv_values_are_errors_listing_the_lines(tmp_path):
    lines = ["a,b,c,name"] + [f"{i},{i + 1},{i % 2},n{i}" for i in range(12)]
    lines[2] = "1,,1,"          # line 3: b empty; an empty text cell is a category
    lines[4] = "nan,4,0,n3"     # line 5
    lines[6] = "?,6,0,n5"       # line 7
    lines[8] = ",NA,0,n7"       # line 9
    for i in (10, 11, 12):
        lines[i] = f",{i},1,n"  # lines 11-13
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n\n")
    text = _csv(tmp_path)
    assert text == (
        "spec.yaml:7:29: data.source.path: 't.csv': column 'a' has 6 missing values (empty or "
        "one of na_values) on lines 5, 7, 9, 11, 12 and 1 more — expected a number in every "
        "row, or fill_value: {a: <number>} (or fill_value: <number> for every column)\n"
        "spec.yaml:7:29: data.source.path: 't.csv': column 'b' has 2 missing values (empty "
        "or one of na_values) on lines 3, 9 — expected a number in every row, or fill_value: "
        "{b: <number>} (or fill_value: <number> for every column)\n2 errors")
    filled = _csv(tmp_path, ", fill_value: -1")
    assert isinstance(filled, dict) and (filled["rows"] == -1).sum() == 8
    partly = _csv(tmp_path, ", fill_value: {a: 0}")
    assert isinstance(partly, str) and "column 'b' has 2 missing values" in partly \
        and "column 'a'" not in partly
    per_column = _csv(tmp_path, ", fill_value: {a: 0, b: 70}")
    assert isinstance(per_column, dict) and (per_column["rows"] == 70).sum() == 2
    wrong = _csv(tmp_path, ", fill_value: {a: 0, b: 70, nme: 1, name: 2}")
    assert isinstance(wrong, str)
    assert "data.source.fill_value.nme: unknown column 'nme' in 't.csv' — expected one of " \
           "['a', 'b', 'c', 'name'] (did you mean 'name'?)" in wrong
    assert "data.source.fill_value.name: column 'name' of 't.csv' holds text: its empty " \
           "cells stay as they are (a category of their own)" in wrong


def test_csv_row_errors_name_the_file_line(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c\n1,2,3\n\n4,5\n")
    text = _csv(tmp_path)
    assert "'t.csv' line 4 has 2 values but there are 3 columns ['a', 'b', 'c']" in text
