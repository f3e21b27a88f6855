"""Transforms, augmentation and the recorded serving-time preprocessing."""

import numpy as np
import pytest
import tensorflow as tf

import modelspec
from modelspec.data.pipeline import build_datasets

MODEL = """modelspec: 1
model:
  inputs: {x: {shape: [2]}}
  layers: [{id: out, type: Dense, units: 1}]
  outputs: {y: out}
data:
"""


def bundle(tmp_path, data_text, inputs, outputs):
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + data_text)
    return build_datasets(modelspec.load_spec(path), inputs, outputs)


def collect(ds):
    """Concatenates every batch of a dataset into numpy arrays, per name."""
    out = {}
    for batch in ds:
        parts = batch if isinstance(batch, tuple) else (batch,)
        for part in parts:
            for k, v in part.items():
                out.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def test_normalize_is_adapted_on_the_training_split_only(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.arange(100, dtype=np.float32)[:, None] * [1, 10],
             y=np.zeros(100, np.float32))
    b = bundle(tmp_path, """  source: {type: npz, path: d.npz}
  splits: {train: "all[:50]", test: "all[50:]"}
  split_shuffle: false
  transforms: [{type: normalize, field: x}]
""", {"x": ((2,), "float32")}, {"y": ((1,), "float32")})
    train, test = collect(b.train), collect(b.test)
    np.testing.assert_allclose(train["x"].mean(0), [0, 0], atol=1e-4)
    np.testing.assert_allclose(train["x"].std(0), [1, 1], atol=1e-3)
    assert (test["x"] > 1.6).all()  # test rows 50..99 lie above the training mean
    raw = {"x": tf.constant([[24.5, 245.0]])}
    np.testing.assert_allclose(b.preprocessing(raw)["x"].numpy(), [[0, 0]], atol=1e-4)


def test_wide_and_deep_lookups_hashing_cross(tmp_path):
    rows = ["age,education,occupation,income"] + [
        f"{20 + i % 40}, {['Bachelors', 'HS-grad', 'Masters'][i % 3]}, "
        f"{['Sales', 'Tech'][i % 2]}, {'>50K.' if i % 4 == 0 else '<=50K'}" for i in range(60)]
    (tmp_path / "adult.csv").write_text("\n".join(rows) + "\n")
    b = bundle(tmp_path, """  source: {type: csv, path: adult.csv}
  features: {age: age_n, education: edu, wide: cross, occupation: occ}
  targets: {y: label}
  transforms:
    - {type: replace, field: income, pattern: "\\\\.$", rewrite: ""}
    - {type: lookup, field: income, vocabulary: ["<=50K", ">50K"], num_oov_indices: 0, output: label}
    - {type: normalize, field: age, output: age_n}
    - {type: lookup, field: education, output: edu}
    - {type: hashing, field: occupation, num_bins: 8, output: occ}
    - {type: cross, fields: [education, occupation], num_bins: 16, output_mode: one_hot, output: cross}
""", {"age": ((), "float32"), "education": ((), "int64"), "wide": ((16,), "float32"),
      "occupation": ((), "int64")}, {"y": ((1,), "float32")})
    data = collect(b.train)
    assert set(data["y"].tolist()) == {0, 1} and data["y"].sum() == 15
    assert set(data["education"].tolist()) == {1, 2, 3}  # 0 is the out-of-vocabulary index
    assert data["wide"].shape == (60, 16) and (data["wide"].sum(1) == 1).all()
    assert data["occupation"].max() < 8
    prep = b.preprocessing
    assert set(prep.steps) == {"age", "education", "wide", "occupation"}
    assert prep.raw_fields["education"] == ((), "string")
    out = prep({"age": tf.constant([30.0]), "education": tf.constant(["Masters"]),
                "occupation": tf.constant(["Tech"])})
    assert out["wide"].shape == (1, 16) and out["education"].dtype == tf.int64


def test_noise_only_on_the_training_split(tmp_path):
    b = bundle(tmp_path, """  source: {type: sklearn, name: digits}
  features: {x: noisy}
  targets: {y: data}
  splits: {train: "all[:50%]", validation: "all[50%:]"}
  transforms:
    - {type: rescale, field: data, scale: 0.0625}
    - {type: noise, field: data, stddev: 0.5, output: noisy}
""", {"x": ((64,), "float32")}, {"y": ((64,), "float32")})
    train, val = collect(b.train), collect(b.validation)
    assert np.abs(train["x"] - train["y"]).mean() > 0.3
    np.testing.assert_array_equal(val["x"], val["y"])
    first = next(iter(b.train))[0]["x"].numpy()
    again = next(iter(b.train))[0]["x"].numpy()
    assert not np.array_equal(first, again)  # fresh noise every epoch (after the cache)


def test_pad_resize_one_hot_cast(tmp_path):
    b = bundle(tmp_path, """  source: {type: sklearn, name: digits}
  features: {padded: padded, big: big}
  targets: {y: onehot}
  transforms:
    - {type: pad, field: images, padding: 2, output: padded}
    - {type: resize, field: images, height: 16, width: 16, output: big}
    - {type: one_hot, field: label, depth: 10, output: onehot}
    - {type: cast, field: padded, dtype: float16}
""", {"padded": ((12, 12, 1), "float16"), "big": ((16, 16, 1), "float32")},
              {"y": ((10,), "float32")})
    x, y = next(iter(b.train))
    assert x["padded"].dtype == tf.float16 and x["padded"].shape[1:] == (12, 12, 1)
    assert float(tf.reduce_sum(x["padded"][:, :2])) == 0.0
    assert x["big"].shape[1:] == (16, 16, 1)
    assert y["y"].shape[1:] == (10,) and (y["y"].numpy().sum(1) == 1).all()


def test_augmentation_only_on_the_training_split(tmp_path):
    text = """  source: {type: sklearn, name: digits}
  features: {x: images}
  splits: {train: "all[:64]", validation: "all[:64]"}
  shuffle: false
  batch_size: 64
  augment:
    - {type: random_flip, mode: horizontal}
    - {type: random_translation, height_factor: 0.2, width_factor: 0.2}
"""
    b = bundle(tmp_path, text, {"x": ((8, 8, 1), "float32")}, {})
    train, val = next(iter(b.train))["x"].numpy(), next(iter(b.validation))["x"].numpy()
    assert train.shape == val.shape == (64, 8, 8, 1)
    assert not np.allclose(train, val)
    plain = bundle(tmp_path, text.split("  augment:")[0], {"x": ((8, 8, 1), "float32")}, {})
    np.testing.assert_array_equal(next(iter(plain.train))["x"].numpy(), val)


def test_skipgrams_and_cbow_with_negative_sampling(tmp_path):
    (tmp_path / "c.txt").write_text("the king rules the land and the queen rules the sea\n" * 20)
    head = """  source: {type: text, path: c.txt}
  transforms:
    - {type: tokenize, field: text, max_tokens: 20, output: ids}
"""
    sg = bundle(tmp_path, head + "    - {type: skipgrams, field: ids, window_size: 2, "
                "negative_samples: 3, vocabulary_size: 20}\n  features: {target: target, "
                "context: context}\n  targets: {y: label}\n",
                {"target": ((), "int64"), "context": ((4,), "int64")}, {"y": ((4,), "float32")})
    x, y = next(iter(sg.train))
    assert x["context"].shape[1:] == (4,)
    np.testing.assert_array_equal(y["y"][0], [1, 0, 0, 0])
    assert sg.counts["train"] > 600 and sg.train.cardinality() > 0
    cb = bundle(tmp_path, head + "    - {type: cbow, field: ids, window_size: 2, "
                "negative_samples: 4, vocabulary_size: 20}\n  features: {context: context, "
                "candidates: target}\n  targets: {y: label}\n",
                {"context": ((4,), "int64"), "candidates": ((5,), "int64")},
                {"y": ((5,), "float32")})
    x, y = next(iter(cb.train))
    assert x["context"].shape[1:] == (4,) and x["candidates"].shape[1:] == (5,)


def test_tokenizer_vocabulary_comes_from_the_training_split(tmp_path):
    (tmp_path / "c.txt").write_text("alpha beta alpha\n" * 3 + "gamma delta\n")
    b = bundle(tmp_path, """  source: {type: text, path: c.txt}
  splits: {train: "all[:3]", test: "all[3:]"}
  features: {words: ids}
  transforms: [{type: tokenize, field: text, output_sequence_length: 3, output: ids}]
""", {"words": ((3,), "int64")}, {})
    test = collect(b.test)["words"]
    np.testing.assert_array_equal(test, [[1, 1, 0]])  # unseen words are out-of-vocabulary
    raw = b.preprocessing({"text": tf.constant(["beta alpha"])})["words"].numpy()
    np.testing.assert_array_equal(raw, [[3, 2, 0]])


def test_preprocessing_reproduces_the_pipeline(tmp_path):
    b = bundle(tmp_path, """  source: {type: sklearn, name: digits}
  features: {x: images}
  transforms:
    - {type: rescale, field: images, scale: 0.0625}
    - {type: normalize, field: images}
  shuffle: false
  split_shuffle: false
""", {"x": ((8, 8, 1), "float32")}, {})
    from sklearn.datasets import load_digits
    raw = load_digits().images[:32, :, :, None].astype(np.float32)
    served = b.preprocessing({"images": tf.constant(raw)})["x"].numpy()
    np.testing.assert_allclose(served, next(iter(b.train))["x"].numpy(), atol=1e-5)


@pytest.mark.parametrize("bad,message", [
    ("[{type: normalize, field: nope}]", "unknown field 'nope'"),
])
def test_unknown_transform_field_at_build_time(tmp_path, bad, message):
    from modelspec.errors import SpecError
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.float32))
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + f"  source: {{type: npz, path: d.npz}}\n  transforms: {bad}\n")
    with pytest.raises(SpecError) as err:
        modelspec.load_spec(path)
    assert message in str(err.value) and "spec.yaml:8:" in str(err.value)


# ------------------------------------------------------------- filter and map_values

ONE_VS_FIVE = """  source: {type: sklearn, name: digits}
  transforms:
    - {type: filter, field: label, values: [1, 5]}
    - {type: map_values, field: label, mapping: {'1': 0, '5': 1}}
  features: {x: data}
  targets: {y: label}
  splits: {train: "all[:80%]", test: "all[80%:]"}
  batch_size: 50
"""


def test_filter_and_map_values_make_one_vs_five(tmp_path):
    from sklearn.datasets import load_digits
    b = bundle(tmp_path, ONE_VS_FIVE, {"x": ((64,), "float32")}, {"y": ((1,), "float32")})
    target = load_digits().target
    assert b.counts["train"] + b.counts["test"] == int(np.isin(target, [1, 5]).sum()) == 364
    for split in ("train", "test"):
        ds = getattr(b, split)
        # the filter makes tf.data's cardinality unknown; the pipeline counts and restores it
        assert int(ds.cardinality()) == len(list(ds)) == -(-b.counts[split] // 50)
        labels = collect(ds)["y"]
        assert len(labels) == b.counts[split] and set(labels.tolist()) == {0, 1}
        assert labels.dtype == np.int64
    assert b.meta["class_names"] == ["1", "5"]
    assert b.preprocessing is None  # the features are not transformed; targets never are


def test_map_values_to_a_new_float_field_with_default(tmp_path):
    b = bundle(tmp_path, """  source: {type: sklearn, name: digits}
  transforms:
    - {type: map_values, field: label, output: w, mapping: {'0': 2.5, '1': 0.0}, default: 1}
  features: {x: data}
  targets: {y: w}
  shuffle: false
  split_shuffle: false
""", {"x": ((64,), "float32")}, {"y": ((1,), "float32")})
    from sklearn.datasets import load_digits
    target = load_digits().target
    w = collect(b.train)["y"]
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, np.where(target == 0, 2.5, np.where(target == 1, 0, 1)))


def test_map_values_on_a_feature_is_replayed_and_exported(tmp_path):
    """The lookup table goes into the serving preprocessing and survives a SavedModel."""
    codes = np.array([3, 7, 9, 7] * 10, np.int64)[:, None]
    np.savez(tmp_path / "d.npz", code=codes, y=np.zeros((40, 1), np.float32))
    b = bundle(tmp_path, """  source: {type: npz, path: d.npz}
  transforms:
    - {type: map_values, field: code, output: x, mapping: {'3': 0.5, '7': 1.5, '9': -2.0}}
  targets: {y: y}
""", {"x": ((1,), "float32")}, {"y": ((1,), "float32")})
    served = b.preprocessing({"code": tf.constant([[3], [7], [9], [4]], tf.int64)})["x"]
    np.testing.assert_array_equal(served.numpy().ravel(), [0.5, 1.5, -2.0, -1.0])

    class Holder(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.int64)])
        def serve(self, code):
            return self.model({"code": code})["x"]

    tf.saved_model.save(Holder(b.preprocessing), str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_array_equal(loaded.serve(tf.constant([[9], [3]], tf.int64)).numpy(),
                                  [[-2.0], [0.5]])


def test_map_values_on_strings(tmp_path):
    (tmp_path / "t.csv").write_text("answer,v\nyes,1\nno,2\nyes,3\nmaybe,4\n")
    b = bundle(tmp_path, """  source: {type: csv, path: t.csv}
  transforms:
    - {type: filter, field: answer, values: ['yes', 'no']}
    - {type: map_values, field: answer, output: y, mapping: {'yes': 1, 'no': 0}}
  features: {x: v}
  targets: {y: y}
  shuffle: false
""", {"x": ((), "float32")}, {"y": ((), "float32")})
    out = collect(b.train)
    np.testing.assert_array_equal(out["x"], [1, 2, 3])
    np.testing.assert_array_equal(out["y"], [1, 0, 1])


def build_error(tmp_path, data_text, inputs=None, outputs=None):
    from modelspec.errors import SpecError
    with pytest.raises(SpecError) as err:
        bundle(tmp_path, data_text, inputs or {"x": ((64,), "float32")},
               outputs if outputs is not None else {"y": ((1,), "float32")})
    return str(err.value).replace(str(tmp_path) + "/", "")


def test_map_values_unknown_values_are_an_error_at_the_mapping(tmp_path):
    text = build_error(tmp_path, """  source: {type: sklearn, name: digits}
  transforms:
    - {type: map_values, field: label, mapping: {'1': 0, '5': 1}}
  features: {x: data}
  targets: {y: label}
""")
    assert text == ("spec.yaml:9:49: data.transforms[0].mapping: split 'train' has values of "
                    "field 'label' that are not in the mapping: 0, 2, 3, 4, 6 — expected a key "
                    "for every value, a 'default:' value, or a filter transform before it")


@pytest.mark.parametrize("transform,message", [
    ("{type: map_values, field: label, mapping: {'one': 0}}",
     "spec.yaml:9:50: data.transforms[0].mapping.one: key 'one' is not an integer but field "
     "'label' is int64 — expected integer keys, quoted: {'1': 0, '5': 1}"),
    ("{type: map_values, field: data, mapping: {'1': 0}}",
     "spec.yaml:9:7: data.transforms[0]: map_values needs an integer or string field but "
     "'data' is float32 — expected an integer or string field (cast with dtype: int64 first)"),
    ("{type: filter, field: label, values: [1, 'five']}",
     "spec.yaml:9:48: data.transforms[0].values[1]: value 'five' cannot equal field 'label', "
     "which holds int64 — expected integers"),
    ("{type: filter, field: images, values: [1]}",
     "spec.yaml:9:7: data.transforms[0]: filter needs one value per example but 'images' has "
     "shape (8, 8, 1) — expected a field of shape () or (1,)"),
    ("{type: filter, field: label, values: [11]}",
     "spec.yaml:7:3: data: split 'train' has no examples after the transforms — expected a "
     "longer split (or a shorter window, or filter values that occur in it)"),
])
def test_filter_and_map_values_problems_at_build_time(tmp_path, transform, message):
    text = build_error(tmp_path, f"""  source: {{type: sklearn, name: digits}}
  transforms:
    - {transform}
  features: {{x: data}}
  targets: {{y: label}}
""")
    assert text == message
