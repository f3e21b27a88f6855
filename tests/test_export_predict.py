"""`modelspec predict` and TF Serving REST payloads; `modelspec export` CLI; raw payloads."""

from __future__ import annotations

import base64
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
from click.testing import CliRunner  # noqa: E402

from modelspec.errors import UsageError  # noqa: E402
from modelspec.exporting.api import export_model, export_models, export_spec_or_run  # noqa: E402
from modelspec.exporting.cli import (
    export_command,  # noqa: E402
    predict_command,  # noqa: E402
)
from modelspec.exporting.payload import InputSpec, format_response, parse_rest  # noqa: E402
from modelspec.exporting.predict import predict_files  # noqa: E402
from modelspec.exporting.preprocessing import RawFeature  # noqa: E402

SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")

TABULAR = textwrap.dedent("""\
    modelspec: 1
    name: tab
    model:
      inputs: {x: {shape: [2]}, colour: {shape: [4]}}
      layers:
        - {id: cat, type: Concatenate, in: [x, colour]}
        - {id: out, type: Dense, units: 2, activation: softmax}
      outputs: {y: out}
    data:
      source: {type: csv, path: t.csv}
      features: {x: x, colour: c}
      targets: {y: label}
      transforms:
        - {type: stack, fields: [a, b], output: x}
        - {type: normalize, field: x}
        - {type: lookup, field: colour, output_mode: one_hot, output: c}
        - {type: lookup, field: target, num_oov_indices: 0, output: label}
    export:
      labels: ["no", "yes"]
    """)


def two_input_model():
    x = keras.Input((3,), name="x")
    k = keras.Input((), name="k", dtype="int32")
    h = keras.layers.Concatenate()([x, keras.ops.expand_dims(keras.ops.cast(k, "float32"), -1)])
    p = keras.layers.Dense(2, activation="softmax", name="p")(h)
    v = keras.layers.Dense(1, name="v")(h)
    return keras.Model({"x": x, "k": k}, {"prob": p, "value": v})


def image_model():
    image = keras.Input((6, 6, 1), name="image")
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(image))
    return keras.Model({"image": image}, {"digit": out})


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    models = {"two": two_input_model(), "image": image_model()}
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"])
    prep = {"k": RawFeature([lookup], shape=(), dtype="string")}
    paths = {"two": export_model(models["two"], tmp / "two", preprocessing=prep),
             "image": export_model(models["image"], tmp / "image")}
    return tmp, models, paths


def write(path: Path, document) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_rows_and_columns_round_trip(exports, tmp_path):
    _, models, paths = exports
    x = np.random.default_rng(0).normal(size=(3, 3)).astype("float32")
    k = np.array([0, 1, 2], "int32")
    want = models["two"]({"x": x, "k": k}, training=False)
    rows = predict_files(paths["two"], [write(tmp_path / "r.json", {"instances": [
        {"x": x[i].tolist(), "k": int(k[i])} for i in range(3)]})])
    assert len(rows["predictions"]) == 3 and set(rows["predictions"][0]) == {"prob", "value"}
    np.testing.assert_allclose([r["prob"] for r in rows["predictions"]], want["prob"],
                               atol=1e-5)
    cols = predict_files(paths["two"].parent, [write(tmp_path / "c.json", {
        "inputs": {"x": x.tolist(), "k": k.tolist()}})])  # base dir: latest version
    np.testing.assert_allclose(cols["outputs"]["value"], want["value"], atol=1e-5)
    classify = predict_files(paths["two"], [write(tmp_path / "s.json", {
        "signature_name": "classify", "inputs": {"x": x.tolist(), "k": k.tolist()}})])
    assert classify["outputs"]["classes"] == np.argmax(want["prob"], -1).tolist()


def test_raw_signature_with_b64_strings(exports, tmp_path):
    _, models, paths = exports
    x = np.ones((2, 3), "float32")
    answer = predict_files(paths["two"], [write(tmp_path / "raw.json", {
        "signature_name": "serving_raw",
        "instances": [{"x": x[0].tolist(), "k": "b"},
                      {"x": x[1].tolist(), "k": {"b64": base64.b64encode(b"zz").decode()}}]})])
    want = models["two"]({"x": x, "k": np.array([2, 0], "int32")}, training=False)
    np.testing.assert_allclose([r["prob"] for r in answer["predictions"]], want["prob"],
                               atol=1e-5)


def test_single_input_and_output_use_bare_values(exports, tmp_path):
    _, models, paths = exports
    images = np.random.default_rng(1).random((2, 6, 6, 1)).astype("float32")
    want = np.asarray(models["image"]({"image": images}, training=False)["digit"])
    rows = predict_files(paths["image"], [write(tmp_path / "b.json",
                                                {"instances": images.tolist()})])
    np.testing.assert_allclose(rows["predictions"], want, atol=1e-5)
    one = predict_files(paths["image"], [write(tmp_path / "o.json",
                                               {"inputs": images[0].tolist()})])
    np.testing.assert_allclose(one["outputs"], want[:1], atol=1e-5)
    np.save(tmp_path / "a.npy", images)
    npy = predict_files(paths["image"], [tmp_path / "a.npy"])
    np.testing.assert_allclose(npy["predictions"], want, atol=1e-5)


def test_csv_npz_and_images(exports, tmp_path):
    _, models, paths = exports
    x = np.array([[1, 2, 3], [4, 5, 6]], "float32")
    (tmp_path / "t.csv").write_text("x_0,x_1,x_2,k\n1,2,3,0\n4,5,6,1\n")
    want = models["two"]({"x": x, "k": np.array([0, 1], "int32")}, training=False)
    got = predict_files(paths["two"], [tmp_path / "t.csv"])
    np.testing.assert_allclose([r["value"] for r in got["predictions"]], want["value"],
                               atol=1e-5)
    np.savez(tmp_path / "d.npz", x=x, k=np.array([0, 1], "int32"))
    got = predict_files(paths["two"], [tmp_path / "d.npz"])
    np.testing.assert_allclose([r["value"] for r in got["predictions"]], want["value"],
                               atol=1e-5)
    from PIL import Image
    pixels = (np.arange(36).reshape(6, 6) * 7).astype("uint8")
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(np.kron(pixels, np.ones((2, 2), "uint8"))).save(tmp_path / "big.png")
    got = predict_files(paths["image"], [tmp_path / "a.png", tmp_path / "a.png"],
                        rescale=1 / 255)
    want = models["image"]({"image": (pixels / 255).astype("float32")[None, :, :, None]})
    np.testing.assert_allclose(got["predictions"][1], np.asarray(want["digit"])[0], atol=1e-5)
    resized = predict_files(paths["image"], [tmp_path / "big.png"], rescale=1 / 255)
    assert len(resized["predictions"]) == 1 and len(resized["predictions"][0]) == 3


def test_payload_errors_are_clear(exports, tmp_path):
    _, _, paths = exports
    inputs = {"x": InputSpec((3,), "float32"), "k": InputSpec((), "int32")}
    with pytest.raises(UsageError, match=r"instances\[1\]: missing input 'k'"):
        parse_rest({"instances": [{"x": [1, 2, 3], "k": 1}, {"x": [1, 2, 3]}]}, inputs)
    with pytest.raises(UsageError, match=r"unknown input\(s\) \['z'\]"):
        parse_rest({"instances": [{"x": [1, 2, 3], "k": 1, "z": 0}]}, inputs)
    with pytest.raises(UsageError, match="exactly one of 'instances'"):
        parse_rest({"rows": []}, inputs)
    with pytest.raises(UsageError, match=r"got values of shape \[1, 2\], expected \[batch, 3\]"):
        parse_rest({"inputs": {"x": [[1, 2]], "k": [1]}}, inputs)
    (tmp_path / "bad.json").write_text('{"instances": [1,\n 2,, 3]}')
    with pytest.raises(UsageError, match=r"bad.json:2:4: invalid JSON: Expecting value"):
        predict_files(paths["image"], [tmp_path / "bad.json"])
    with pytest.raises(UsageError, match="no signature 'clasify'.*did you mean 'classify'"):
        predict_files(paths["two"], [tmp_path / "bad.json"], signature="clasify")


def test_response_formats():
    outputs = {"a": np.array([[0.1, 0.2], [0.3, 0.4]], "float32"),
               "b": np.array([b"x", b"\xff"], dtype=object)}
    assert format_response(outputs, "rows") == {"predictions": [
        {"a": [0.1, 0.2], "b": "x"}, {"a": [0.3, 0.4], "b": {"b64": "/w=="}}]}
    assert format_response({"a": outputs["a"]}, "columns") == \
        {"outputs": [[0.1, 0.2], [0.3, 0.4]]}


def test_several_models_need_a_choice(tmp_path):
    out = tmp_path / "ae"
    export_models({"encoder": image_model(), "decoder": image_model()}, out)
    request = write(tmp_path / "r.json", {"instances": np.zeros((1, 6, 6, 1)).tolist()})
    with pytest.raises(UsageError, match="several models.*--model"):
        predict_files(out, [request])
    assert len(predict_files(out, [request], model="decoder")["predictions"]) == 1


def test_cli_export_twice_then_predict(tmp_path):
    spec = tmp_path / "tab.yaml"
    spec.write_text(TABULAR)
    (tmp_path / "t.csv").write_text("a,b,colour,target\n" + "".join(
        f"{i},{i * 2 % 7},{['red', 'green', 'blue'][i % 3]},{'yes' if i % 2 else 'no'}\n"
        for i in range(30)))
    runner = CliRunner()
    first = runner.invoke(export_command, [str(spec), "--output", str(tmp_path / "out")])
    assert first.exit_code == 0, first.output
    assert "exported model -> " in first.output and "serving_raw: (a[]:float32" in first.output
    second = runner.invoke(export_command, [str(spec), "-o", str(tmp_path / "out"), "--json"])
    assert json.loads(second.output) == {"model": str(tmp_path / "out" / "2")}
    request = write(tmp_path / "req.json", {"signature_name": "serving_raw", "instances": [
        {"a": 1.0, "b": 2.0, "colour": "red"}, {"a": 7.0, "b": 0.0, "colour": "purple"}]})
    answer = runner.invoke(predict_command, [str(tmp_path / "out"), "--input", str(request)])
    assert answer.exit_code == 0, answer.output
    rows = json.loads(answer.output)["predictions"]
    assert [r["labels"] for r in rows] == [["no", "yes"][r["classes"]] for r in rows]
    in_memory = predict_files(spec, [request])["predictions"]  # the spec itself: same API
    assert len(in_memory) == 2 and set(in_memory[0]) == {"y", "probabilities", "classes",
                                                         "labels"}
    bad = runner.invoke(export_command, [str(spec), "-o", str(tmp_path / "x"), "--format",
                                         "savedmodle"])
    assert bad.exit_code == 2
    assert "unknown format 'savedmodle'" in bad.output and "did you mean 'savedmodel'" in \
        bad.output


def test_saved_model_cli_runs_a_raw_payload(tmp_path):
    spec = tmp_path / "tab.yaml"
    spec.write_text(TABULAR)
    (tmp_path / "t.csv").write_text("a,b,colour,target\n" + "".join(
        f"{i},{i * 2 % 7},{['red', 'green', 'blue'][i % 3]},{'yes' if i % 2 else 'no'}\n"
        for i in range(30)))
    version = export_spec_or_run(spec, tmp_path / "out")["model"]
    np.save(tmp_path / "a.npy", np.array([1.0, 20.0], "float32"))
    np.save(tmp_path / "b.npy", np.array([2.0, 3.0], "float32"))
    np.save(tmp_path / "colour.npy", np.array(["red", "blue"]))
    inputs = ";".join(f"{n}={tmp_path / n}.npy" for n in ("a", "b", "colour"))
    out = subprocess.run([str(SAVED_MODEL_CLI), "run", "--dir", str(version), "--tag_set",
                          "serve", "--signature_def", "serving_raw", "--inputs", inputs],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Result for output key y:" in out.stdout
    assert "Result for output key labels:" in out.stdout
    answer = predict_files(version, [write(tmp_path / "r.json", {
        "signature_name": "serving_raw",
        "inputs": {"a": [1.0, 20.0], "b": [2.0, 3.0], "colour": ["red", "blue"]}})])
    probs = np.array(answer["outputs"]["y"])
    assert probs.shape == (2, 2) and np.allclose(probs.sum(-1), 1, atol=1e-5)
    truncated = f"{np.floor(probs[0][0] * 1000) / 1000:.3f}"  # rounding could carry a digit
    assert truncated in out.stdout.replace("\n", " ")
