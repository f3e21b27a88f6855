"""Schema pass + semantic pass → CheckedSpec; jsonschema errors become readable problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import modelspec
from modelspec.errors import SpecError
from modelspec.lang.checks import load_and_check
from modelspec.lang.spec import CheckedSpec

SPEC = """
modelspec: 1
name: tiny
params: {width: 8, lr: 0.01, half: $(width // 2)}
model:
  inputs: {x: {shape: [4]}}
  layers:
    - {type: Dense, units: $half}
"""


def check(text, **overrides):
    return load_and_check(textwrap.dedent(text).lstrip("\n"), filename="s.yaml",
                          overrides=overrides or None)


def errors(text) -> list[str]:
    with pytest.raises(SpecError) as info:
        check(text)
    return [p.format() for p in info.value.problems]


def test_checked_spec_api(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(SPEC).lstrip("\n"))
    spec = load_and_check(path)
    assert isinstance(spec, CheckedSpec)
    assert spec.path == path and spec.base_dir == tmp_path and spec.filename == str(path)
    assert spec.name == "tiny"
    assert spec.params == {"width": 8, "lr": 0.01, "half": 4}
    assert spec.model_names == ["model"] and not spec.is_multi_model
    assert spec.resolve({"a": ["$width", "$(lr * 10)"]}) == {"a": [8, 0.1]}
    assert spec.section("model")["layers"][0]["units"] == 4
    assert spec.section("train") is None
    assert spec.errors().source is spec.source
    assert modelspec.load_spec(str(path)).params == spec.params
    assert modelspec.validate(str(path)) == []


def test_fingerprint_ignores_layout_and_follows_content():
    a = check(SPEC).fingerprint
    b = check("# a comment\n" + textwrap.dedent(SPEC).replace("{width: 8,", "{width:   8,")
              ).fingerprint
    assert a == b and len(a) == 64
    assert check(SPEC, width=16).fingerprint != a
    assert check(SPEC.replace("tiny", "other")).fingerprint != a


def test_overrides_replace_params_and_flow_into_expressions():
    spec = check(SPEC, width=20)
    assert spec.params["half"] == 10
    assert spec.graphs["model"].nodes[0].args["units"] == 10


def test_text_and_path_inputs_and_already_checked_specs():
    spec = check(SPEC)
    assert load_and_check(spec) is spec
    assert load_and_check(spec, overrides={"width": 2}).params["half"] == 1
    problems = modelspec.validate("modelspec: 1\n", filename="t.yaml")
    assert [p.format() for p in problems] == [
        "t.yaml:1:1: <root>: the spec has no 'model:' or 'models:' section — expected a "
        "layer graph under 'model:' (or several under 'models:')"]


def test_params_may_use_earlier_params_only():
    assert errors("""
        modelspec: 1
        params: {a: $b, b: 2}
        model:
          inputs: {x: {shape: [4]}}
          layers: [{type: Dense, units: 2}]
    """) == ["s.yaml:2:13: params.a: unknown parameter 'b' — expected a parameter defined "
             "above this one"]


def test_required_layer_argument_is_reported():
    assert errors("""
        modelspec: 1
        model:
          inputs: {x: {shape: [4]}}
          layers:
            - {type: Dense, activation: relu}
    """) == ["s.yaml:5:7: model.layers[0]: Dense needs argument 'units' — expected 'units: "
             "...' in this layer"]


def test_values_from_params_are_checked_after_substitution():
    assert errors("""
        modelspec: 1
        params: {pad: sam}
        model:
          inputs: {x: {shape: [4, 4, 1]}}
          layers:
            - {type: Conv2D, filters: 2, kernel_size: 3, padding: $pad}
    """) == ["s.yaml:6:59: model.layers[0].padding: unknown value 'sam' — expected one of: "
             "valid, same, causal, full (did you mean 'same'?)"]


def test_enum_labels_and_nested_component_arguments():
    problems = errors("""
        modelspec: 1
        model:
          inputs: {x: {shape: [4]}}
          layers:
            - {type: Dense, units: 2, kernel_initializer: {type: HeNormal, sed: 1}}
            - {type: Dense, units: 2, bias_initializer: {type: Zeross}}
    """)
    assert problems[0].startswith(
        "s.yaml:5:68: model.layers[0].kernel_initializer.sed: unknown argument 'sed' for "
        "HeNormal — expected one of HeNormal's arguments: ")
    assert problems[0].endswith("seed (did you mean 'seed'?)")
    assert problems[1].startswith(
        "s.yaml:6:56: model.layers[1].bias_initializer.type: unknown initializer 'Zeross'")
    assert "(did you mean 'Zeros'?)" in problems[1]


def test_lists_and_shapes():
    problems = errors("""
        modelspec: 1
        model:
          inputs: {x: {shape: [0, 4]}}
          layers:
            - {type: Reshape, target_shape: [2, two]}
    """)
    assert problems == [
        "s.yaml:3:24: model.inputs.x.shape[0]: 0 is out of range — expected at least 1",
        "s.yaml:5:41: model.layers[0].target_shape[1]: 'two' is a string — expected an integer",
    ]


def test_models_section_names_and_each_graph_is_checked():
    problems = errors("""
        modelspec: 1
        models:
          gen:
            inputs: {z: {shape: [2]}}
            layers: [{type: Dense, units: 0}]
          disc:
            inputs: {x: {shape: [2]}}
            layers: [{type: Dnse, units: 1}]
    """)
    assert problems[0].startswith("s.yaml:5:35: models.gen.layers[0].units: 0 is out of range")
    assert problems[1].startswith("s.yaml:8:21: models.disc.layers[0].type: unknown layer "
                                  "type 'Dnse'")


def test_shipped_specs_are_valid():
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "specs").glob("*.yaml")):
        assert modelspec.validate(str(path)) == [], path.name


def test_application_weights_file_is_checked_relative_to_the_spec(tmp_path):
    text = textwrap.dedent("""\
        modelspec: 1
        model:
          inputs: {image: {shape: [32, 32, 3]}}
          layers:
            - {id: base, type: Application, name: VGG16, weights: w/base.h5, include_top: false}
            - {type: Flatten}
            - {id: out, type: Dense, units: 2}
          outputs: {y: out}
        """)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    problems = [p.format() for p in modelspec.validate(spec)]
    assert problems == [
        f"{spec}:5:59: model.layers[0].weights: weights file 'w/base.h5' does not exist "
        f"({tmp_path / 'w' / 'base.h5'}) — expected a Keras weights file (.h5 or .weights.h5) "
        "relative to the spec, 'imagenet' (downloaded by Keras), or null for random weights"]
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "base.h5").write_bytes(b"")
    assert modelspec.validate(spec) == []
    for weights in ("null", "imagenet"):
        spec.write_text(text.replace("w/base.h5", weights))
        assert modelspec.validate(spec) == []
