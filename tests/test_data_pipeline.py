"""`build_datasets`: mapping, splits, determinism, errors before training, real shared data."""

import os
from pathlib import Path

import numpy as np
import pytest

import modelspec
from modelspec.data.pipeline import build_datasets
from modelspec.errors import SpecError

SHARED = Path(os.environ.get("MODELSPEC_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
MODEL = """modelspec: 1
model:
  inputs: {x: {shape: [2]}}
  layers: [{id: out, type: Dense, units: 1}]
  outputs: {y: out}
data:
"""


def load(tmp_path, data_text):
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + data_text)
    return modelspec.load_spec(path)


def error_text(tmp_path, data_text, inputs, outputs):
    spec = load(tmp_path, data_text)
    with pytest.raises(SpecError) as err:
        build_datasets(spec, inputs, outputs)
    return str(err.value).replace(str(tmp_path) + "/", "")


def test_shape_mismatch_names_field_and_input_at_the_spec_line(tmp_path):
    text = error_text(tmp_path, """  source: {type: sklearn, name: digits}
  features: {image: data}
""", {"image": ((8, 8, 1), "float32")}, {})
    assert text == ("spec.yaml:8:21: data.features.image: field 'data' has shape (64,) but model "
                    "input 'image' expects (8, 8, 1) — expected a field of shape (8, 8, 1) "
                    "(add a reshape, resize or one_hot transform?)")


def test_target_shape_mismatch(tmp_path):
    text = error_text(tmp_path, """  source: {type: sklearn, name: digits}
  targets: {y: images}
""", {"data": ((64,), "float32")}, {"y": ((10,), "float32")})
    assert "data.targets.y: field 'images' has shape (8, 8, 1) but model output 'y'" in text


def test_unfed_input_and_unknown_model_names(tmp_path):
    text = error_text(tmp_path, """  source: {type: sklearn, name: digits}
  features: {imagez: images}
""", {"image": ((8, 8, 1), "float32")}, {})
    assert ("spec.yaml:8:13: data.features: model input 'image' is not fed: no field 'image' and "
            "no data.features.image") in text
    assert "data.features.imagez: the model has no input 'imagez'" in text
    assert "(did you mean 'image'?)" in text


def test_empty_split_is_an_error(tmp_path):
    text = error_text(tmp_path, """  source: {type: sklearn, name: digits}
  splits: {train: "all[:80%]", test: "all[100%:]"}
""", {"data": ((64,), "float32")}, {})
    assert text.startswith("spec.yaml:8:38: data.splits.test: split 'test' ('all[100%:]') is empty")


def test_file_deleted_after_checking_is_reported(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    spec = load(tmp_path, "  source: {type: csv, path: a.csv}\n")
    (tmp_path / "a.csv").unlink()
    with pytest.raises(SpecError, match="data.source.path: file 'a.csv' does not exist"):
        build_datasets(spec, {"a": ((), "float32")}, {})


def test_splits_are_disjoint_and_deterministic(tmp_path):
    data = """  source: {type: sklearn, name: digits}
  features: {x: data}
  targets: {y: label}
  splits: {train: "all[:70%]", validation: "all[70%:85%]", test: "all[85%:]"}
  seed: 7
"""
    io = ({"x": ((64,), "float32")}, {"y": ((10,), "float32")})
    one = build_datasets(load(tmp_path, data), *io)
    two = build_datasets(load(tmp_path, data), *io)
    rows = {}
    for split in ("train", "validation", "test"):
        a = np.concatenate([x["x"].numpy() for x, _ in getattr(one, split)])
        b = np.concatenate([x["x"].numpy() for x, _ in getattr(two, split)])
        np.testing.assert_array_equal(a, b)
        rows[split] = {r.tobytes() for r in a}
    assert sum(one.counts.values()) == 1797
    assert len(rows["train"] & rows["test"]) < 5  # digits has a few duplicate images
    other = build_datasets(load(tmp_path, data.replace("seed: 7", "seed: 8")), *io)
    assert not np.array_equal(next(iter(other.test))[0]["x"], next(iter(one.test))[0]["x"])


def test_bundle_trains_with_keras_fit(tmp_path):
    import keras
    inputs = {"image": keras.Input((8, 8, 1), name="image")}
    out = keras.layers.Dense(10, activation="softmax", name="digit")(
        keras.layers.Flatten()(inputs["image"]))
    model = keras.Model(inputs, {"digit": out})
    spec = load(tmp_path, """  source: {type: sklearn, name: digits}
  features: {image: images}
  targets: {digit: label}
  splits: {train: "all[:80%]", validation: "all[80%:]"}
  transforms: [{type: rescale, field: images, scale: 0.0625}]
  batch_size: 64
""")
    bundle = build_datasets(spec, {"image": ((8, 8, 1), "float32")},
                            {"digit": ((10,), "float32")})
    model.compile(keras.optimizers.Adam(0.01), {"digit": "sparse_categorical_crossentropy"},
                  metrics={"digit": ["accuracy"]})
    hist = model.fit(bundle.train, validation_data=bundle.validation, epochs=5, verbose=0)
    assert hist.history["val_accuracy"][-1] > 0.85
    assert bundle.element_spec[0]["image"].shape.as_list() == [None, 8, 8, 1]


def shared(*parts):
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set MODELSPEC_SHARED_DATA)")
    return path


def test_mnist_idx_split_8000_2000(tmp_path):
    folder = shared("mnist")
    bundle = build_datasets(load(tmp_path, f"""  source:
    type: idx
    images: {folder}/t10k-images-idx3-ubyte.gz
    labels: {folder}/t10k-labels-idx1-ubyte.gz
  features: {{image: image}}
  targets: {{digit: label}}
  splits: {{train: "all[:8000]", test: "all[8000:]"}}
  transforms:
    - {{type: rescale, field: image, scale: 0.00392156862}}
    - {{type: pad, field: image, padding: 2}}
  batch_size: 128
"""), {"image": ((32, 32, 1), "float32")}, {"digit": ((10,), "float32")})
    assert bundle.counts == {"train": 8000, "test": 2000}
    x, y = next(iter(bundle.test))
    assert x["image"].shape == (128, 32, 32, 1) and float(np.max(x["image"])) <= 1.0


def test_cifar10_image_folder(tmp_path):
    folder = shared("cifar10", "test")
    bundle = build_datasets(load(tmp_path, f"""  source: {{type: image_folder, path: {folder}}}
  features: {{image: image}}
  targets: {{label: label}}
  splits: {{train: "all[:1%]"}}
  cache: false
"""), {"image": ((32, 32, 3), "float32")}, {"label": ((10,), "float32")})
    assert bundle.counts == {"train": 100}
    assert bundle.meta["class_names"][:2] == ["airplane", "automobile"]
    x, y = next(iter(bundle.train))
    assert x["image"].shape[1:] == (32, 32, 3)


def test_sunspots_and_adult_and_text(tmp_path):
    ts = shared("timeseries", "monthly-sunspots.csv")
    bundle = build_datasets(load(tmp_path, f"""  source: {{type: timeseries, path: {ts}, columns: Sunspots, window: 12}}
  splits: {{train: "all[:80%]", test: "all[80%:]"}}
"""), {"window": ((12, 1), "float32")}, {"target": ((1,), "float32")})
    assert bundle.counts["train"] + bundle.counts["test"] == 2820 - 12
    adult = shared("tabular", "adult-train.csv")
    names = ("[age, workclass, fnlwgt, education, education_num, marital_status, occupation, "
             "relationship, race, sex, capital_gain, capital_loss, hours_per_week, "
             "native_country, income]")
    bundle = build_datasets(load(tmp_path, f"""  source: {{type: csv, path: {adult}, header: false, column_names: {names}}}
  targets: {{y: label}}
  transforms:
    - {{type: lookup, field: income, num_oov_indices: 0, output: label}}
    - {{type: cross, fields: [education, occupation], num_bins: 1000, output: x}}
"""), {"x": ((), "int64"), "age": ((), "float32")}, {"y": ((), "int64")})
    assert bundle.counts["train"] == 32561
    text = shared("text", "tinyshakespeare.txt")
    bundle = build_datasets(load(tmp_path, f"""  source: {{type: text, path: {text}}}
  features: {{x: inputs}}
  targets: {{y: targets}}
  transforms:
    - {{type: tokenize, field: text, split: character, standardize: null, output: ids}}
    - {{type: sequences, field: ids, length: 100}}
"""), {"x": ((100,), "int64")}, {"y": ((100,), "int64")})
    assert 9000 < bundle.counts["train"] < 11200


def test_string_fields_need_a_lookup(tmp_path):
    (tmp_path / "t.csv").write_text("colour,size\nred,1\nblue,2\n")
    text = error_text(tmp_path, """  source: {type: csv, path: t.csv}
  transforms: [{type: normalize, field: colour}]
""", {"colour": ((), "float32")}, {})
    assert text.startswith("spec.yaml:8:16: data.transforms[0]: normalize needs a numeric "
                           "field but 'colour' holds strings")
    text = error_text(tmp_path, "  source: {type: csv, path: t.csv}\n",
                      {"colour": ((), "float32")}, {})
    assert "data: field 'colour' is string but model input 'colour' is float32" in text


# ------------------------------------------------------------------ sample weights

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TWO_OUTPUTS = """modelspec: 1
model:
  inputs: {x: {shape: [64]}}
  layers:
    - {id: a, type: Dense, units: 10, activation: softmax}
    - {id: b, in: x, type: Dense, units: 10, activation: softmax}
  outputs: {digit: a, copy: b}
data:
"""


def load_two(tmp_path, data_text):
    path = tmp_path / "spec.yaml"
    path.write_text(TWO_OUTPUTS + data_text)
    return modelspec.load_spec(path)


def test_sample_weights_yield_one_weight_vector_per_output(tmp_path):
    spec = load_two(tmp_path, """  source: {type: sklearn, name: digits}
  transforms:
    - {type: map_values, field: label, output: w, mapping: {'0': 0.0}, default: 2}
  features: {x: data}
  targets: {digit: label, copy: label}
  sample_weights: {digit: w}
  batch_size: 100
  shuffle: false
  split_shuffle: false
""")
    bundle = build_datasets(spec, {"x": ((64,), "float32")},
                            {"digit": ((10,), "float32"), "copy": ((10,), "float32")})
    assert bundle.sample_weights == {"digit": "w"}
    x, y, w = next(iter(bundle.train))
    assert set(w) == {"digit", "copy"} and w["digit"].dtype.name == "float32"
    np.testing.assert_array_equal(w["digit"].numpy(), np.where(y["digit"] == 0, 0.0, 2.0))
    np.testing.assert_array_equal(w["copy"].numpy(), np.ones(100))  # no weight field: ones
    assert len(bundle.element_spec) == 3


def test_sample_weight_problems_at_build_time(tmp_path):
    """Checked again against the real model (a spec's model may differ from a Python one)."""
    spec = load_two(tmp_path, """  source: {type: sklearn, name: digits}
  transforms:
    - {type: map_values, field: label, output: w, mapping: {'0': 0.0}, default: 1}
  features: {x: data}
  targets: {digit: label, copy: label}
  sample_weights: {digit: images, copy: w}
""")
    with pytest.raises(SpecError) as err:
        build_datasets(spec, {"x": ((64,), "float32")}, {"digit": ((10,), "float32")})
    text = str(err.value).replace(str(tmp_path) + "/", "")
    lines = text.splitlines()
    assert ("spec.yaml:14:27: data.sample_weights.digit: field 'images' (float32, shape "
            "(8, 8, 1)) cannot weight examples — expected a numeric field with one value per "
            "example (a map_values transform can make one)") in lines
    assert ("spec.yaml:14:35: data.sample_weights.copy: the model has no output 'copy' — "
            "expected one of ['digit']") in lines


def test_weighted_metrics_train_evaluate_and_export(tmp_path):
    """The label head learns from the source domain only; its weighted accuracy counts only
    source examples; `evaluate` and export (features only) still work."""
    from modelspec.build.compiler import model_io
    from modelspec.exporting.api import export_spec_or_run
    from modelspec.training.evaluate import evaluate_run
    from modelspec.training.run import train_spec
    result = train_spec(FIXTURES / "data_sample_weights.yaml", output=tmp_path / "run",
                        verbose=0)
    metrics = result.metrics
    assert {"label_weighted_accuracy", "test_label_weighted_accuracy",
            "test_label_accuracy"} <= set(metrics)
    (model,) = result.models.values()
    bundle = build_datasets(modelspec.load_spec(FIXTURES / "data_sample_weights.yaml"),
                            *model_io(model))
    right, weight = [], []
    for x, y, w in bundle.test:
        pred = np.asarray(model(x, training=False)["label"]).argmax(-1)
        right.append(pred == y["label"].numpy())
        weight.append(w["label"].numpy())
        np.testing.assert_array_equal(w["label"].numpy(), 1.0 - y["domain"].numpy())
    right, weight = np.concatenate(right), np.concatenate(weight)
    assert 0 < weight.sum() < len(weight)
    assert metrics["test_label_weighted_accuracy"] == pytest.approx(
        right[weight > 0].mean(), abs=1e-4)
    assert metrics["test_label_accuracy"] == pytest.approx(right.mean(), abs=1e-4)
    evaluated = evaluate_run(tmp_path / "run")
    assert evaluated["test_label_weighted_accuracy"] == pytest.approx(
        metrics["test_label_weighted_accuracy"], abs=1e-6)
    published = export_spec_or_run(tmp_path / "run", tmp_path / "exported")
    import tensorflow as tf
    served = tf.saved_model.load(str(published["model"])).signatures["serving_default"]
    assert set(served.structured_input_signature[1]) == {"image"}
