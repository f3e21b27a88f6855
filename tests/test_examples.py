"""Tests of the example scripts' pure parts (the scripts themselves run in examples/run_all.sh)."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pix2pix_scores_perfect_background_and_wrong_colour():
    from modelspec.data.generated import generate
    scores = _load("pix2pix_eval").scores
    true = generate("pix2pix", {"n": 12, "size": 16}, seed=0)["image"]
    perfect = scores(true, true)
    assert perfect["l1"] == 0.0 and perfect["shape_iou"] == 1.0
    assert perfect["colour_accuracy"] == 1.0 and perfect["test_images"] == 12
    blank = scores(np.full_like(true, -0.8), true)
    assert blank["l1"] == blank["l1_background_only"] > 0 and blank["shape_iou"] == 0.0
    rolled = scores(np.roll(true, 1, axis=-1), true)   # right shapes, every colour wrong
    assert rolled["shape_iou"] == 1.0 and rolled["colour_accuracy"] == 0.0


def test_figure_grid_writes_titled_rows(tmp_path):
    save_rows = _load("figure_grid").save_rows
    out = tmp_path / "grid.png"
    images = np.linspace(0.0, 1.0, 3 * 4 * 4).reshape(3, 4, 4)
    save_rows([("a", images), ("b", images[::-1])], str(out), cmap="gray", vmin=0, vmax=1)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
