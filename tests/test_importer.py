"""`modelspec import`: Keras models → readable specs → the same Keras models again.

Round-trip criteria (`modelspec.importer.roundtrip.compare`): the same layer graph, the same
weight shapes in the same order, identical outputs after copying the weights. Covered here:
hand-built functional and sequential models (branches, merges, a shared layer, Keras ops,
several inputs and outputs), `--weights`, unsupported layers, a plugin layer, one
`keras.applications` model per family (small inputs) and every shipped spec (`small: true`
where the spec has it). `tools/roundtrip_applications.py` runs every application at full
size and writes the table in docs/IMPORT.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modelspec.tfenv import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from modelspec.build.compiler import build_from_spec, build_models  # noqa: E402
from modelspec.cli.main import main  # noqa: E402
from modelspec.importer.arguments import layer_arguments  # noqa: E402
from modelspec.importer.convert import convert  # noqa: E402
from modelspec.importer.reader import ModelSource, read_model  # noqa: E402
from modelspec.importer.roundtrip import compare  # noqa: E402
from modelspec.importer.writer import flow  # noqa: E402
from modelspec.lang.checks import load_and_check  # noqa: E402
from modelspec.lang.yamlio import load_text  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPECS = sorted((REPO / "specs").glob("*.yaml"))


def _source(model) -> ModelSource:
    return ModelSource(model.name, json.loads(model.to_json()), model=model)


def _round_trip(model, tmp_path: Path, name: str = "spec.yaml"):
    """Imports `model`, writes and builds the spec; returns (spec text, comparison)."""
    result = convert(_source(model))
    path = tmp_path / name
    path.write_text(result.text)
    rebuilt = build_from_spec(str(path))
    if isinstance(rebuilt, dict):
        rebuilt = rebuilt[result.graph.name]
    return result.text, compare(model, rebuilt, result.graph)


def _branchy_model():
    a = keras.Input((8,), name="a")
    b = keras.Input((4,), name="b")
    shared = keras.layers.Dense(6, activation="relu", name="shared")
    x = shared(a)
    y = keras.layers.Dense(6, name="proj")(b)
    s = keras.layers.Add(name="sum")([x, y])
    z = shared(keras.layers.Dense(8, name="back")(s))
    c = keras.layers.Concatenate(name="cat")([s, z])
    c = keras.layers.Dense(3, kernel_initializer=keras.initializers.HeNormal(seed=3),
                           kernel_regularizer=keras.regularizers.L2(1e-4), name="head")(c)
    scaled = (c * 0.5) + 1.0
    return keras.Model({"a": a, "b": b}, {"out": scaled, "aux": s}, name="branchy")


def test_functional_model_with_branches_shared_layer_and_ops_round_trips(tmp_path):
    text, report = _round_trip(_branchy_model(), tmp_path)
    assert report.ok, report
    items = load_text(text).data["model"]["layers"]
    by_id = {item["id"]: item for item in items}
    assert by_id["proj"]["in"] == "b" and by_id["sum"]["in"] == ["shared", "proj"]
    assert "in" not in by_id["back"]                     # a chain: no `in:`
    assert by_id["shared_call1"] == {"id": "shared_call1", "shares": "shared"}
    assert by_id["head"]["kernel_initializer"] == {"type": "HeNormal", "seed": 3}
    assert by_id["head"]["kernel_regularizer"] == {"type": "L2", "l2": 1e-4}
    assert [by_id[k]["type"] for k in ("multiply", "add")] == ["Rescaling", "Rescaling"]
    assert load_text(text).data["model"]["outputs"] == {"out": "add", "aux": "sum"}


def test_sequential_json_config_is_a_chain_with_non_default_arguments_only(tmp_path):
    # Keras's automatic names count per process (dense_23 after other tests): named here
    model = keras.Sequential([keras.Input((16,), name="input_layer"),
                              keras.layers.Dense(32, activation="relu", name="dense"),
                              keras.layers.Dropout(0.2, name="dropout"),
                              keras.layers.Dense(4, name="dense_1")], name="mlp")
    config = tmp_path / "mlp.json"
    config.write_text(model.to_json())
    result = convert(read_model(str(config)))
    assert result.text.splitlines()[-6:-1] == [
        "    input_layer: {shape: [16]}",
        "  layers:",
        "    - {id: dense, type: Dense, units: 32, activation: relu}",
        "    - {id: dropout, type: Dropout, rate: 0.2}",
        "    - {id: dense_1, type: Dense, units: 4}",
    ]
    assert "in:" not in result.text and "initializer" not in result.text
    (tmp_path / "mlp.yaml").write_text(result.text)
    assert compare(model, build_from_spec(str(tmp_path / "mlp.yaml")), result.graph).ok


def test_layer_arguments_keep_only_what_differs_from_keras_defaults():
    config = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False,
                                 kernel_initializer="he_normal").get_config()
    assert layer_arguments("Conv2D", config) == (
        {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False,
         "kernel_initializer": "he_normal"}, [])
    pool = keras.layers.MaxPooling2D(3, strides=2).get_config()
    assert layer_arguments("MaxPooling2D", pool)[0] == {"pool_size": 3, "strides": 2}
    assert layer_arguments("MaxPooling2D", keras.layers.MaxPooling2D().get_config())[0] == {}
    dense = keras.layers.Dense(2, bias_initializer=keras.initializers.Constant()).get_config()
    assert layer_arguments("Dense", dense)[0] == {"units": 2, "bias_initializer": {
        "type": "Constant"}}   # Keras's get("constant") cannot build it without a value


def test_yaml_values_load_back_unchanged():
    values = {"a": "yes", "b": "1e-3", "c": 1e-05, "d": [1, 2.5, None, True], "e": "$filters",
              "f": "same", "g": "a b: c", "h": 3.0, "i": "$(4 * filters)"}
    assert load_text(f"v: {flow(values)}\n").data["v"] == values


def test_import_command_writes_spec_and_weights_that_build_the_same_model(tmp_path):
    model = _branchy_model()
    archive = tmp_path / "branchy.keras"
    model.save(archive)
    out = tmp_path / "spec" / "branchy.yaml"
    result = CliRunner().invoke(main, ["import", str(archive), "--output", str(out),
                                       "--weights"])
    assert result.exit_code == 0, result.output
    assert (out.parent / "branchy.weights.h5").is_file()
    assert "weights: branchy.weights.h5" in out.read_text()
    assert CliRunner().invoke(main, ["validate", str(out)]).exit_code == 0
    rebuilt = build_from_spec(str(out))               # starts from the written weights
    rng = np.random.default_rng(0)
    inputs = {"a": rng.normal(size=(3, 8)).astype("float32"),
              "b": rng.normal(size=(3, 4)).astype("float32")}
    expected, got = model(inputs), rebuilt(inputs)
    for key in ("out", "aux"):
        np.testing.assert_array_equal(np.asarray(expected[key]), np.asarray(got[key]))


def _digits_classifier():
    image = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Flatten(name="flatten")(image)
    x = keras.layers.Dense(16, activation="relu", name="h1")(x)
    out = keras.layers.Dense(10, activation="softmax", name="out")(x)
    return keras.Model(image, {"digit": out}, name="digits")


def test_train_starts_from_imported_weights_and_a_changed_weights_file_is_another_run(
        tmp_path):
    from digits_data import TINY_SPLITS, digits_data

    from modelspec.training.checkpoints import load_run
    from modelspec.training.cli import train_command
    model = _digits_classifier()
    archive = tmp_path / "digits.keras"
    model.save(archive)
    spec = tmp_path / "digits.yaml"
    assert CliRunner().invoke(main, ["import", str(archive), "-o", str(spec),
                                     "--weights"]).exit_code == 0
    fingerprint = load_and_check(spec).fingerprint
    # a step of 1e-30 (the schema wants a learning rate > 0) changes no float32 weight
    # by a visible amount: the trained model computes what the imported one did
    spec.write_text(spec.read_text() + digits_data(TINY_SPLITS) + (
        "train:\n  epochs: 1\n  seed: 0\n  optimizer: {type: SGD, learning_rate: 1.0e-30}\n"
        "  loss: sparse_categorical_crossentropy\n  callbacks: {tensorboard: false}\n"))
    run = tmp_path / "run"
    result = CliRunner().invoke(train_command, [str(spec), "-o", str(run), "-q"])
    assert result.exit_code == 0, result.output
    _, models, _ = load_run(run)
    images = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(models["model"]({"image": images})["digit"]),
                                  np.asarray(model(images)["digit"]))
    # other weights in the same file: the spec's fingerprint changes, the run refuses
    before = load_and_check(spec).fingerprint
    _digits_classifier().save_weights(tmp_path / "digits.weights.h5")
    assert load_and_check(spec).fingerprint != before != fingerprint
    result = CliRunner().invoke(train_command, [str(spec), "-o", str(run), "-q"])
    assert result.exit_code == 4 and "holds a run of a different spec" in result.output


def test_nested_model_outputs_are_read_by_name(tmp_path):
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(6, name="h")(x)
    inner = keras.Model(x, {"zeta": keras.layers.Dense(3, name="a")(h),
                            "alpha": keras.layers.Dense(2, name="b")(h)}, name="inner")
    y = keras.Input((4,), name="y")
    out = inner(y)
    cat = keras.layers.Concatenate(name="cat")(
        [keras.layers.Dense(5, name="d")(out["alpha"]), out["zeta"]])
    text, report = _round_trip(keras.Model(y, cat, name="outer"), tmp_path)
    assert report.ok, report
    assert "{id: d, type: Dense, in: inner.alpha, units: 5}" in text   # Keras's 2nd output
    assert "in: [d, inner.zeta]" in text


def test_weights_that_do_not_fit_are_reported_at_the_weights_line(tmp_path):
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    other.save_weights(tmp_path / "other.weights.h5")
    spec = tmp_path / "s.yaml"
    spec.write_text("modelspec: 1\nmodel:\n  weights: other.weights.h5\n"
                    "  inputs: {x: {shape: [3]}}\n  layers:\n"
                    "    - {id: d, type: Dense, units: 7}\n")
    result = CliRunner().invoke(main, ["show", str(spec)])
    assert result.exit_code == 2
    assert "s.yaml:3:" in result.output and "does not fit the model" in result.output
    spec.write_text(spec.read_text().replace("other.weights", "missing.weights"))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2 and "weights file 'missing.weights.h5' does not exist" \
        in result.output


@keras.saving.register_keras_serializable(package="tests")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_unsupported_layers_are_listed_one_by_one_and_nothing_is_written(tmp_path):
    x = keras.Input((4,), name="x")
    y = keras.layers.Lambda(lambda t: t + 1.0, name="plus_one")(x)
    y = Doubler(name="doubler")(y)
    y = keras.layers.Dense(2, name="out")(y)
    archive = tmp_path / "custom.keras"
    keras.Model(x, y).save(archive)
    out = tmp_path / "custom.yaml"
    result = CliRunner().invoke(main, ["import", str(archive), "-o", str(out), "--weights"])
    assert result.exit_code == 2
    text = result.output
    assert "2 layer(s) cannot be written as a spec (nothing was written)" in text
    assert "layers[1] 'plus_one' (Lambda): a Lambda holds Python code" in text
    assert "layers[2] 'doubler' (Doubler): a custom layer" in text
    assert "modelspec.register_layer('Doubler', Doubler)" in text
    assert not out.exists() and not (tmp_path / "custom.weights.h5").exists()


def test_a_layer_registered_from_python_is_imported_by_its_name(tmp_path):
    from modelspec.lang import registry
    from modelspec.lang.schema import document as schema
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="out")(Doubler(name="doubler")(x)))
    registry.register_python_layer("Doubler", Doubler)
    try:
        text, report = _round_trip(model, tmp_path)
        assert report.ok, report
        assert "{id: doubler, type: Doubler}" in text
    finally:
        registry._PYTHON_LAYERS.pop("Doubler", None)
        schema.clear_cache()


def test_unknown_model_name_suggests_an_application():
    with pytest.raises(Exception, match="did you mean 'ResNet50'"):
        read_model("Resnet50")


# -- keras.applications: one model per family, small inputs (the full set: the tool) ----

SMALL = {"input_shape": (32, 32, 3), "include_top": False}
# One application per family runs by default (DenseNet and Inception modules are also in the
# shipped zoo); the rest of this list with MODELSPEC_SLOW_SPECS=1. Every application at full
# size: tools/roundtrip_applications.py. Bounds: the measured spec lengths, plus a little.
FAMILIES = [
    ("VGG16", SMALL, 20, False),
    ("MobileNetV3Small", SMALL, 120, False),     # Keras ops (x + 3.0, x * y) as layers
    ("EfficientNetB0", SMALL, 130, False),
    ("InceptionV3", {"input_shape": (75, 75, 3), "include_top": False}, 160, False),
    ("ResNet50V2", SMALL, 80, True),
    ("DenseNet121", SMALL, 40, True),
    ("Xception", {"input_shape": (71, 71, 3), "include_top": False}, 70, True),
    ("MobileNet", SMALL, 70, True),
    ("MobileNetV2", SMALL, 100, True),
    ("EfficientNetV2B0", SMALL, 150, True),
    ("NASNetMobile", SMALL, 290, True),          # cells reading two previous cells
]
SLOW = os.environ.get("MODELSPEC_SLOW_SPECS") == "1"


@pytest.mark.parametrize("name,kwargs,max_lines,slow", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_application_round_trips(name, kwargs, max_lines, slow, tmp_path):
    if slow and not SLOW:
        pytest.skip("MODELSPEC_SLOW_SPECS=1 runs this family too")
    model = getattr(keras.applications, name)(weights=None, **kwargs)
    try:
        text, report = _round_trip(model, tmp_path)
    finally:
        keras.backend.clear_session()
    assert report.ok, report
    assert text.count("\n") <= max_lines


def test_resnet50_round_trips_as_one_stage_block_repeated_four_times(tmp_path):
    model = keras.applications.ResNet50(weights=None, **SMALL)
    try:
        text, report = _round_trip(model, tmp_path)
    finally:
        keras.backend.clear_session()
    assert report.ok, report
    assert text.count("\n") <= 55
    data = load_text(text).data
    stage = [item for item in data["model"]["layers"] if "block" in item]
    assert len(stage) == 1 and stage[0]["repeat"] == 4
    assert stage[0]["vary"]["filters"] == [64, 128, 256, 512]
    assert stage[0]["first"] == {"strides": 1}
    assert "filters: $(4 * filters)" in text     # the expansion: 4 × the bottleneck width
    inner = data["blocks"][stage[0]["block"]]["layers"]
    assert [item.get("repeat") for item in inner] == [None, f"${inner[1]['id']}_repeat"]


def _cells_model(cells: int = 5):
    """A NASNet-like model: each cell reads the two previous cells' outputs."""
    def cell(ip, p, name):
        adjusted = keras.layers.Dense(6, name=f"{name}_adjust")(p)
        h = keras.layers.Dense(6, activation="relu", name=f"{name}_h")(ip)
        left = keras.layers.Add(name=f"{name}_add_1")([h, adjusted])
        right = keras.layers.Add(name=f"{name}_add_2")(
            [keras.layers.Dense(6, name=f"{name}_right")(adjusted), h])
        return keras.layers.Concatenate(name=f"{name}_concat")([left, right])

    inputs = keras.Input((5,), name="x")
    p, x = inputs, keras.layers.Dense(8, name="stem")(inputs)
    for k in range(cells):
        x, p = cell(x, p, f"cell_{k}"), x
    y = keras.layers.Concatenate(name="last_two")([x, p])
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(y), name="cells")


def test_cells_reading_the_two_previous_outputs_become_a_repeated_two_input_block(tmp_path):
    text, report = _round_trip(_cells_model(), tmp_path)
    assert report.ok, report
    data = load_text(text).data
    (name, block), = data["blocks"].items()
    assert block["inputs"] == ["x", "skip"] and len(block["layers"]) == 6
    items = data["model"]["layers"]
    assert items[1] == {"id": "cell", "block": name, "in": ["stem", "x"], "repeat": 5}
    assert items[2]["in"] == ["cell", "cell.x"]     # the last two cells' outputs
    assert len(items) == 4


@pytest.mark.parametrize("name,size", [("ConvNeXtTiny", 32), ("InceptionResNetV2", 75)])
def test_keras_application_layer_classes_are_built_in_layer_types(name, size, tmp_path):
    """ConvNeXt's LayerScale and InceptionResNetV2's CustomScaleLayer are Keras's own
    classes (keras.src.applications): imported without a plugin, built as those classes."""
    if name == "InceptionResNetV2" and not SLOW:
        pytest.skip("MODELSPEC_SLOW_SPECS=1 (ConvNeXt covers the same path)")
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                              include_top=False)
    try:
        text, report = _round_trip(model, tmp_path)
    finally:
        keras.backend.clear_session()
    assert report.ok, report
    layer_type = {"ConvNeXtTiny": "LayerScale", "InceptionResNetV2": "CustomScaleLayer"}[name]
    assert f"type: {layer_type}" in text
    assert CliRunner().invoke(main, ["validate", str(tmp_path / "spec.yaml")]).exit_code == 0


def test_layer_scale_needs_its_arguments():
    spec = load_text("modelspec: 1\nmodel:\n  inputs: {x: {shape: [4, 4, 8]}}\n  layers:\n"
                     "    - {id: s, type: LayerScale, init_values: 0.1}\n")
    from modelspec.errors import SpecError
    from modelspec.lang.checks import check
    with pytest.raises(SpecError, match="LayerScale needs argument 'projection_dim'"):
        check(spec)


# -- the shipped zoo: spec → Keras → import → the same model --------------------------

@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_spec_round_trips(path, tmp_path):
    checked = load_and_check(path)
    if "small" in checked.params:
        checked = load_and_check(path, overrides={"small": True})
    try:
        for name, model in build_models(checked).items():
            text, report = _round_trip(model, tmp_path, f"{name}.yaml")
            assert report.ok, (name, report)
            assert model.count_params() > 0
    finally:
        keras.backend.clear_session()


def test_import_through_the_modelspec_command_takes_an_application_name(tmp_path):
    """`modelspec import VGG16` names a model, not a spec or run: the command line's
    pre-TensorFlow path check (cli/preflight.py) must not refuse it."""
    from click.testing import CliRunner

    from modelspec.cli.main import main
    out = tmp_path / "vgg16.yaml"
    result = CliRunner().invoke(main, ["import", "VGG16", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# Imported from VGG16 by 'modelspec import'.")
