"""`modelspec show --diagram`: Graphviz pictures of specs (layers, blocks, several models)."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from modelspec.cli.main import main

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")

BLOCKS = """\
modelspec: 1
name: blocky
blocks:
  unit:
    params: {width: required}
    layers:
      - {id: dense, type: Dense, units: $width, activation: relu}
      - {id: drop, type: Dropout, rate: 0.1}
model:
  inputs: {x: {shape: [5]}}
  layers:
    - {id: stage, block: unit, width: 8, repeat: 2}
    - {id: out, type: Dense, units: 2}
  outputs: {y: out}
"""


def _graph(text: str, collapse: bool = False):
    from modelspec.build.compiler import build_models
    from modelspec.build.diagram import model_graph
    from modelspec.lang.checks import load_and_check

    spec = load_and_check(text, filename="spec.yaml")
    record: dict = {}
    models = build_models(spec, record=record)
    return model_graph(spec, models, record, collapse).to_string()


def test_boxes_have_ids_types_shapes_and_params_and_blocks_are_clusters():
    dot = _graph(BLOCKS)
    assert "stage_0_dense : Dense\\n(None, 8)\\n48 params" in dot
    assert "out : Dense\\n(None, 2)\\n18 params" in dot
    assert dot.count("subgraph cluster_") == 2 and 'label="stage_1 (unit)"' in dot
    assert '"model/stage_0_drop" -> "model/stage_1_dense"' in dot


def test_collapsed_blocks_are_one_box_with_their_parameter_total():
    dot = _graph(BLOCKS, collapse=True)
    assert "stage_0 : block unit\\n(None, 8)\\n48 params" in dot
    assert "stage_1 : block unit\\n(None, 8)\\n72 params" in dot
    assert "subgraph cluster_" not in dot
    assert '"model/[stage_0 (unit)]" -> "model/[stage_1 (unit)]"' in dot


@needs_dot
def test_show_draws_several_models_as_clusters_svg_and_png(repo_root, tmp_path):
    svg, png = tmp_path / "gan.svg", tmp_path / "gan.png"
    for path in (svg, png):
        result = CliRunner().invoke(main, ["show", str(repo_root / "specs/gan.yaml"),
                                           "--diagram", str(path)])
        assert result.exit_code == 0, result.output
        assert f"diagram: {path}" in result.output
    text = svg.read_text()
    assert "model generator" in text and "model discriminator" in text
    assert "401,920 params" in text        # d1: 784·512 + 512
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_graphviz_says_how_to_install_it(repo_root, tmp_path, monkeypatch):
    import modelspec.build.diagram as diagram
    monkeypatch.setattr(diagram.shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["show", str(repo_root / "specs/perceptron.yaml"),
                                       "--diagram", str(tmp_path / "p.svg")])
    assert result.exit_code == 2
    assert "needs Graphviz's `dot` program" in result.output
    assert "apt install graphviz" in result.output and "brew install graphviz" in result.output
    assert not (tmp_path / "p.svg").exists()


def test_unknown_picture_format_is_a_usage_error(repo_root, tmp_path):
    result = CliRunner().invoke(main, ["show", str(repo_root / "specs/perceptron.yaml"),
                                       "--diagram", str(tmp_path / "p.jpeg")])
    assert result.exit_code == 2 and "unknown picture format '.jpeg'" in result.output


def test_every_shipped_spec_draws(repo_root):
    """Every spec (its small variant where it has one) gives a Graphviz graph with one box
    per layer; `dot` itself lays out the full-size ones in examples/figures and the catalogue."""
    import keras

    from modelspec.build.compiler import build_models
    from modelspec.build.diagram import model_graph
    from modelspec.lang.checks import load_and_check

    for path in sorted((repo_root / "specs").glob("*.yaml")):
        spec = load_and_check(path)
        if "small" in spec.params:
            spec = load_and_check(path, overrides={"small": True})
        record: dict = {}
        models = build_models(spec, record=record)
        graph = model_graph(spec, models, record)
        nodes = sum(len(r) for r in record.values())
        dot = graph.to_string()
        assert dot.count(" : ") >= nodes, path.name
        keras.backend.clear_session()


def test_catalogue_shows_a_diagram_of_every_spec(repo_root):
    """specs/diagrams/<name>.svg exists for every spec (python tools/gen_spec_diagrams.py
    draws them) and the catalogue embeds each."""
    catalogue = (repo_root / "specs" / "README.md").read_text(encoding="utf-8")
    for path in sorted((repo_root / "specs").glob("*.yaml")):
        svg = repo_root / "specs" / "diagrams" / f"{path.stem}.svg"
        assert svg.is_file() and svg.read_text().lstrip().startswith("<?xml"), path.name
        assert f"![layer graph of {path.stem}](diagrams/{path.stem}.svg)" in catalogue
