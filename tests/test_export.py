"""Export: versioned atomic publishing, named signatures, metadata, formats, several models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from modelspec.errors import SpecError, UsageError  # noqa: E402
from modelspec.exporting import publish as export_publish  # noqa: E402
from modelspec.exporting.api import export_model, export_models, export_spec_or_run  # noqa: E402
from modelspec.exporting.formats import ExportCheckError  # noqa: E402
from modelspec.exporting.preprocessing import RawFeature  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")

LENET = (Path(__file__).parent / "fixtures" / "good" / "lenet5.yaml").read_text() + (
    "export:\n  labels: [zero, one, two, three, four, five, six, seven, eight, nine]\n")

AUTOENCODER = textwrap.dedent("""\
    modelspec: 1
    name: ae
    models:
      encoder:
        inputs: {x: {shape: [8]}}
        layers: [{id: code, type: Dense, units: 2, activation: relu}]
        outputs: {code: code}
      decoder:
        inputs: {code: {shape: [2]}}
        layers: [{id: rec, type: Dense, units: 8}]
        outputs: {reconstruction: rec}
      autoencoder:
        inputs: {x: {shape: [8]}}
        layers:
          - {id: enc, model: encoder}
          - {id: dec, model: decoder}
        outputs: {reconstruction: dec}
    export:
      models: [encoder, decoder]
    """)


def shared_data() -> Path:
    return Path(os.environ.get("MODELSPEC_SHARED_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data"))


def lenet_spec(tmp_path) -> Path:
    """specs/lenet5.yaml (its data section reads MNIST from the shared data), else the
    DESIGN.md LeNet-5 without data."""
    shipped = REPO / "specs" / "lenet5.yaml"
    if shipped.exists() and (shared_data() / "mnist").is_dir():
        return shipped
    path = tmp_path / "lenet5.yaml"
    path.write_text(LENET)
    return path


def tiny_model(activation="softmax"):
    x = keras.Input((4,), name="x")
    colour = keras.Input((1,), name="colour", dtype="int64")
    h = keras.layers.Concatenate()([x, keras.ops.cast(colour, "float32")])
    h = keras.layers.Dense(8, activation="relu")(h)
    digit = keras.layers.Dense(3, activation=activation, name="head")(h)
    value = keras.layers.Dense(1, name="reg")(h)
    return keras.Model({"x": x, "colour": colour}, {"digit": digit, "value": value})


def signature_names(version_dir: Path) -> str:
    out = subprocess.run([str(SAVED_MODEL_CLI), "show", "--dir", str(version_dir), "--all"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


# ---------------------------------------------------------------- versioning and atomicity

def test_version_names_follow_tf_serving():
    assert export_publish.version_of("12") == 12
    assert export_publish.version_of("007") == 7
    assert export_publish.version_of(".tmp-export-1") is None
    assert export_publish.version_of("1_000") is None  # python int() would accept it
    assert export_publish.version_of("v2") is None


def test_two_exports_in_a_row_give_1_and_2(tmp_path):
    model = tiny_model()
    first = export_model(model, tmp_path / "out")
    second = export_model(model, tmp_path / "out")
    assert (first.name, second.name) == ("1", "2")
    assert listing(tmp_path / "out") == ["1", "2"]  # no staging directory left


def test_existing_versions_are_never_overwritten(tmp_path):
    out = tmp_path / "out"
    (out / "3").mkdir(parents=True)  # an empty version directory
    (out / "notes").mkdir()
    (out / "1").mkdir()
    (out / "1" / "keep.txt").write_text("old")
    published = export_model(tiny_model(), out)
    assert published.name == "4"
    assert listing(out / "3") == [] and (out / "1" / "keep.txt").read_text() == "old"


def test_rename_never_replaces_an_empty_directory(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    with pytest.raises(FileExistsError):
        export_publish.rename_no_replace(src, dst)
    assert src.exists()


def test_concurrent_exporter_taking_the_number_gets_the_next(tmp_path, monkeypatch):
    out = tmp_path / "out"
    export_model(tiny_model(), out)
    real = export_publish.rename_no_replace
    calls = []

    def racing(src, dst):
        if not calls:  # another exporter publishes version 2 just before us
            (Path(dst).parent / "2").mkdir()
        calls.append(Path(dst).name)
        return real(src, dst)

    monkeypatch.setattr(export_publish, "rename_no_replace", racing)
    published = export_model(tiny_model(), out)
    assert calls == ["2", "3"] and published.name == "3"
    assert listing(out / "2") == []


@pytest.mark.parametrize("where", ["write", "check", "publish_second"])
def test_failure_mid_export_leaves_nothing(tmp_path, monkeypatch, where):
    out = tmp_path / "out"
    old = export_model(tiny_model(), out)
    before = {p.relative_to(out) for p in out.rglob("*")}

    def boom(*args, **kwargs):
        raise RuntimeError("injected failure")

    if where == "write":
        monkeypatch.setattr("modelspec.exporting.signatures.write_savedmodel", boom)
        models = {"model": tiny_model()}
    elif where == "check":
        monkeypatch.setattr("modelspec.exporting.stage._check_savedmodel", boom)
        models = {"model": tiny_model()}
    else:  # the first of two models is already published when the second fails
        real = export_publish.publish
        monkeypatch.setattr(export_publish, "publish",
                            lambda d, b: real(d, b) if "a" in Path(b).name else boom())
        models = {"a": tiny_model(), "b": tiny_model()}
    with pytest.raises(RuntimeError, match="injected"):
        export_models(models, out)
    assert {p.relative_to(out) for p in out.rglob("*")} == before
    assert old.exists() and (old / "saved_model.pb").exists()


def test_failure_in_a_new_output_directory_removes_it(tmp_path, monkeypatch):
    monkeypatch.setattr("modelspec.exporting.stage._check_savedmodel",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("injected")))
    with pytest.raises(RuntimeError):
        export_model(tiny_model(), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_a_reloaded_model_that_differs_is_not_published(tmp_path, monkeypatch):
    from modelspec.exporting import stage as export_stage
    real = export_stage._check_savedmodel

    def strict(path, endpoints, batches, tolerance):
        return real(path, endpoints, batches, -1.0)  # no difference can pass
    monkeypatch.setattr(export_stage, "_check_savedmodel", strict)
    with pytest.raises(ExportCheckError, match="differs from the in-memory model"):
        export_model(tiny_model(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- signatures and metadata

def test_signatures_carry_the_model_names_and_reload_equal(tmp_path):
    model = tiny_model()
    version = export_model(model, tmp_path / "out", labels=["cat", "dog", "emu"],
                           metadata={"metrics": {"accuracy": 0.5}})
    loaded = tf.saved_model.load(str(version))
    assert set(loaded.signatures) == {"serving_default", "classify"}
    default = loaded.signatures["serving_default"]
    assert set(default.structured_input_signature[1]) == {"x", "colour"}
    assert set(default.structured_outputs) == {"digit", "value"}
    batch = {"x": np.random.default_rng(1).normal(size=(5, 4)).astype("float32"),
             "colour": np.array([[0], [1], [2], [1], [0]], dtype="int64")}
    got = default(**{k: tf.constant(v) for k, v in batch.items()})
    want = model(batch, training=False)
    for name in ("digit", "value"):
        assert np.max(np.abs(got[name].numpy() - np.asarray(want[name]))) <= 1e-5
    classify = loaded.signatures["classify"](**{k: tf.constant(v) for k, v in batch.items()})
    classes = np.argmax(np.asarray(want["digit"]), axis=-1)
    np.testing.assert_array_equal(classify["classes"].numpy(), classes)
    assert [s.decode() for s in classify["labels"].numpy()] == \
        [["cat", "dog", "emu"][c] for c in classes]
    meta = json.loads((version / "assets" / "modelspec.json").read_text())
    assert meta["metrics"] == {"accuracy": 0.5}
    assert meta["versions"]["tensorflow"] == tf.__version__
    assert meta["versions"]["keras"] == keras.__version__
    assert meta["check"]["max_abs_diff"]["serving_default"] <= 1e-5
    assert meta["signatures"]["serving_default"]["inputs"]["colour"] == \
        {"shape": [None, 1], "dtype": "int64"}


def test_sigmoid_and_logit_classifiers(tmp_path):
    from modelspec.exporting.signatures import find_classifiers
    assert [c.output for c in find_classifiers(tiny_model("sigmoid"))] == ["digit"]
    assert find_classifiers(tiny_model(None)) == []
    forced = find_classifiers(tiny_model(None), classify=["digit"])
    assert forced[0].apply == "softmax"
    with pytest.raises(ValueError, match="3 classes but 2 labels"):
        find_classifiers(tiny_model(), labels=["a", "b"])


def test_raw_signature_applies_preprocessing_inside_the_graph(tmp_path):
    model = tiny_model()
    norm = keras.layers.Normalization()
    norm.adapt(np.random.default_rng(0).normal(3, 2, size=(64, 4)).astype("float32"))
    lookup = keras.layers.StringLookup(vocabulary=["red", "green"], num_oov_indices=1)
    prep = {"x": RawFeature([norm], shape=(4,), dtype="float32"),
            "colour": RawFeature([lookup], shape=(1,), dtype="string")}
    version = export_model(model, tmp_path / "out", preprocessing=prep)
    raw = tf.saved_model.load(str(version)).signatures["serving_raw"]
    assert raw.structured_input_signature[1]["colour"].dtype == tf.string
    x = np.ones((2, 4), "float32")
    got = raw(x=tf.constant(x), colour=tf.constant([["green"], ["blue"]]))
    want = model({"x": np.asarray(norm(x)), "colour": np.array([[2], [0]], "int64")},
                 training=False)
    assert np.max(np.abs(got["digit"].numpy() - np.asarray(want["digit"]))) <= 1e-5
    assert "classes" in got


# ---------------------------------------------------------------- specs

@pytest.fixture(scope="module")
def lenet_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lenet")
    spec = lenet_spec(tmp)
    out = tmp / "exported"
    first = export_spec_or_run(spec, out, formats=["savedmodel", "keras", "tflite"])
    second = export_spec_or_run(spec, out)
    return spec, out, first["model"], second["model"]


def test_lenet_spec_twice_gives_1_and_2_with_spec_names(lenet_export):
    spec, out, first, second = lenet_export
    assert listing(out) == ["1", "2"] and (first.name, second.name) == ("1", "2")
    shown = signature_names(first)
    assert "signature_def['serving_default']" in shown
    assert "inputs['image']" in shown and "outputs['digit']" in shown
    assert "output_0" not in shown
    assert "signature_def['classify']" in shown and "outputs['probabilities']" in shown
    import modelspec
    if (modelspec.load_spec(spec).section("export") or {}).get("labels"):
        assert "outputs['labels']" in shown


def test_lenet_raw_payload_runs_in_saved_model_cli(lenet_export, tmp_path):
    import gzip
    spec, _, first, _ = lenet_export
    images = shared_data() / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not images.exists():
        pytest.skip(f"MNIST is not in the shared data ({images}); the spec has no data section")
    raw = np.frombuffer(gzip.open(images).read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    np.save(tmp_path / "raw.npy", raw[:3])
    out = subprocess.run([str(SAVED_MODEL_CLI), "run", "--dir", str(first), "--tag_set",
                          "serve", "--signature_def", "serving_raw", "--inputs",
                          f"image={tmp_path / 'raw.npy'}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Result for output key digit:" in out.stdout
    assert "Result for output key classes:" in out.stdout
    answer = tf.saved_model.load(str(first)).signatures["serving_raw"](
        image=tf.constant(raw[:3]))
    assert answer["digit"].shape == (3, 10)
    assert np.allclose(answer["digit"].numpy().sum(-1), 1, atol=1e-5)
    np.testing.assert_array_equal(answer["classes"].numpy(),
                                  answer["digit"].numpy().argmax(-1))


def test_lenet_metadata_and_other_formats(lenet_export):
    spec, out, first, _ = lenet_export
    import modelspec
    checked = modelspec.load_spec(spec)
    meta = json.loads((first / "assets" / "modelspec.json").read_text())
    assert meta["spec"]["fingerprint"] == checked.fingerprint
    assert meta["spec"]["name"] == "lenet5"
    assert (first / "assets" / "spec.yaml").read_text() == Path(spec).read_text()
    assert "num_classes: 10" in (first / "assets" / "spec.resolved.yaml").read_text()
    assert meta["files"] == {"savedmodel": ".", "keras": "model.keras",
                             "tflite": "model.tflite"}
    assert meta["check"]["max_abs_diff"]["keras"] <= 1e-5
    assert meta["check"]["max_abs_diff"]["tflite"] <= 1e-4
    reloaded = keras.saving.load_model(first / "model.keras")
    assert reloaded.count_params() == 61706


def test_autoencoder_exports_encoder_and_decoder_side_by_side(tmp_path):
    spec = tmp_path / "ae.yaml"
    spec.write_text(AUTOENCODER)
    result = export_spec_or_run(spec, tmp_path / "out")
    assert sorted(result) == ["decoder", "encoder"]
    assert listing(tmp_path / "out") == ["decoder", "encoder"]
    assert result["encoder"] == tmp_path / "out" / "encoder" / "1"
    sig = tf.saved_model.load(str(result["decoder"])).signatures["serving_default"]
    assert set(sig.structured_input_signature[1]) == {"code"}
    assert set(sig.structured_outputs) == {"reconstruction"}
    again = export_spec_or_run(spec, tmp_path / "out", models=["encoder"])
    assert again["encoder"].name == "2" and listing(tmp_path / "out" / "decoder") == ["1"]


def test_export_option_errors_point_at_the_spec(tmp_path):
    spec = tmp_path / "lenet.yaml"
    spec.write_text(LENET.replace("labels: [zero, one, two, three, four, five, six, seven, "
                                  "eight, nine]", "labels: [zero, one]"))
    with pytest.raises(SpecError) as err:
        export_spec_or_run(spec, tmp_path / "out")
    assert str(err.value).startswith(f"{spec}:17:11: export.labels: output 'digit' has 10 "
                                     "classes but 2 labels were given — expected one name per "
                                     "class of a classifier output")
    assert not (tmp_path / "out").exists()


def test_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such spec file or run directory"):
        export_spec_or_run(tmp_path / "missing.yaml", tmp_path / "out")
    with pytest.raises(UsageError, match="not a run directory"):
        export_spec_or_run(tmp_path, tmp_path / "out")
    with pytest.raises(UsageError, match="unknown export format"):
        export_model(tiny_model(), tmp_path / "out", formats=["onnx"])
    spec = tmp_path / "lenet.yaml"
    spec.write_text(LENET)
    with pytest.raises(UsageError, match="no output directory"):
        export_spec_or_run(spec)


def test_run_directory_exports_trained_weights(tmp_path, monkeypatch):
    spec_path = lenet_spec(tmp_path)
    import modelspec
    from modelspec.build.compiler import build_from_spec
    spec = modelspec.load_spec(spec_path)
    trained = build_from_spec(spec)
    for var in trained.trainable_variables:  # "training": weights the spec does not start with
        var.assign(tf.ones_like(var) * 0.01)
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text("{}")
    (run / "resolved.json").write_text(json.dumps({"export": {"weights": "best"}}))

    def fake_load_run(run_dir, which="final"):
        assert Path(run_dir) == run and which == "best"
        return spec, {"model": trained}, {"val_accuracy": 0.99}
    monkeypatch.setattr("modelspec.training.checkpoints.load_run", fake_load_run)
    version = export_spec_or_run(run, tmp_path / "out")["model"]
    meta = json.loads((version / "assets" / "modelspec.json").read_text())
    assert meta["metrics"] == {"val_accuracy": 0.99} and meta["source"]["kind"] == "run"
    sig = tf.saved_model.load(str(version)).signatures["serving_default"]
    image = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype("float32")
    got = sig(image=tf.constant(image))["digit"].numpy()
    assert np.max(np.abs(got - np.asarray(trained({"image": image})["digit"]))) <= 1e-5


def test_export_module_imports_without_tensorflow():
    code = ("import sys, modelspec.exporting.api, modelspec.exporting.schema, modelspec.exporting.publish; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_staging_dirs_of_dead_exports_are_removed(tmp_path):
    """Finding 13 of issue 15: `.tmp-export-*` folders stayed after killed exports."""
    proc = subprocess.Popen(["true"])  # its pid is not running once it has been waited for
    proc.wait()
    stale = tmp_path / f"{export_publish.STAGING_PREFIX}{proc.pid}-abc"
    live = tmp_path / f"{export_publish.STAGING_PREFIX}{os.getpid()}-def"
    stale.mkdir()
    live.mkdir()
    staging = export_publish.make_staging_dir(tmp_path)
    assert not stale.exists() and live.exists() and staging.exists()
    assert staging.name.startswith(f"{export_publish.STAGING_PREFIX}{os.getpid()}-")
