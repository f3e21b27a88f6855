"""Every data source end to end: spec → batches → one training step of a tiny model."""

import gzip
import struct

import keras
import numpy as np
import pytest

import modelspec
from modelspec.data.pipeline import build_datasets
from modelspec.errors import SpecError


def model_io(model):
    from modelspec.build.compiler import model_io as io
    return io(model)


def run(tmp_path, text, loss="sparse_categorical_crossentropy", steps=1):
    """Writes a spec, builds model and data, trains `steps` steps; returns (bundle, model)."""
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = modelspec.load_spec(path)
    model = modelspec.build_model(spec)
    bundle = build_datasets(spec, *model_io(model))
    model.compile("adam", loss)
    model.fit(bundle.train, epochs=1, steps_per_epoch=steps, verbose=0)
    return bundle, model


def classifier(inputs, classes, flatten=True, data=""):
    pre = "    - {type: Flatten}\n" if flatten else ""
    return (f"modelspec: 1\nname: t\nmodel:\n  inputs: {inputs}\n  layers:\n{pre}"
            f"    - {{id: out, type: Dense, units: {classes}, activation: softmax}}\n"
            f"  outputs: {{y: out}}\ndata:\n{data}")


def test_sklearn_digits_images_and_flat_data(tmp_path):
    bundle, _ = run(tmp_path, classifier("{image: {shape: [8, 8, 1]}}", 10, data="""
  source: {type: sklearn, name: digits}
  features: {image: images}
  targets: {y: label}
  splits: {train: "all[:80%]", validation: "all[80%:90%]", test: "all[90%:]"}
  batch_size: 64
"""))
    assert bundle.counts == {"train": 1438, "validation": 179, "test": 180}
    x, y = next(iter(bundle.train))
    assert x["image"].shape == (64, 8, 8, 1) and x["image"].dtype == "float32"
    assert y["y"].dtype == "int64" and float(np.max(x["image"])) == 16.0
    assert bundle.meta["class_names"][:3] == ["0", "1", "2"]
    bundle, _ = run(tmp_path, classifier("{data: {shape: [64]}}", 10, flatten=False, data="""
  source: {type: sklearn, name: digits}
  targets: {y: label}
"""))
    assert bundle.counts == {"train": 1797}
    assert bundle.element_spec[0]["data"].shape[1:] == (64,)


@pytest.mark.parametrize("name,features,classes", [("iris", 4, 3), ("wine", 13, 3),
                                                   ("breast_cancer", 30, 2)])
def test_sklearn_tabular(tmp_path, name, features, classes):
    bundle, _ = run(tmp_path, classifier(f"{{data: {{shape: [{features}]}}}}", classes,
                                         flatten=False, data=f"""
  source: {{type: sklearn, name: {name}}}
  targets: {{y: label}}
  transforms: [{{type: normalize, field: data}}]
"""))
    assert bundle.element_spec[0]["data"].shape[1:] == (features,)


def _write_idx(path, array):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim])
    header += struct.pack(">" + "i" * array.ndim, *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(data)


def test_idx_gzip_and_plain(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "img.gz", rng.integers(0, 255, (50, 6, 6), dtype=np.uint8))
    _write_idx(tmp_path / "lab", rng.integers(0, 10, 50).astype(np.uint8))
    bundle, _ = run(tmp_path, classifier("{image: {shape: [6, 6, 1]}}", 10, data="""
  source: {type: idx, images: img.gz, labels: lab}
  targets: {y: label}
  splits: {train: "all[:40]", test: "all[40:]"}
  transforms: [{type: rescale, field: image, scale: 0.00392156862}]
"""))
    assert bundle.counts == {"train": 40, "test": 10}
    x, _ = next(iter(bundle.test))
    assert float(np.max(x["image"])) <= 1.0


def test_csv_numeric_categorical_and_label(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,colour,target\n" + "".join(
        f"{i},{i * 2 % 7},{['red', 'green', 'blue'][i % 3]},{'yes' if i % 2 else 'no'}\n"
        for i in range(30)))
    bundle, _ = run(tmp_path, classifier("{x: {shape: [2]}, colour: {shape: [4]}}", 2,
                                         flatten=False, data="""
  source: {type: csv, path: t.csv}
  features: {x: x, colour: c}
  targets: {y: label}
  transforms:
    - {type: stack, fields: [a, b], output: x}
    - {type: lookup, field: colour, output_mode: one_hot, output: c}
    - {type: lookup, field: target, num_oov_indices: 0, output: label}
""").replace("    - {id: out", "    - {id: cat, type: Concatenate, in: [x, colour]}\n"
             "    - {id: out"))
    x, y = next(iter(bundle.train))
    assert x["x"].shape[1:] == (2,) and x["colour"].shape[1:] == (4,)
    assert set(np.asarray(y["y"]).tolist()) <= {0, 1}


def test_csv_without_header_uses_column_names(tmp_path):
    (tmp_path / "t.csv").write_text("".join(f"{i}.5, {i % 2}\n" for i in range(20)))
    bundle, _ = run(tmp_path, classifier("{v: {shape: [1]}}", 2, flatten=False, data="""
  source: {type: csv, path: t.csv, header: false, column_names: [v, k]}
  targets: {y: k}
  transforms: [{type: reshape, field: v, shape: [1]}]
"""))
    assert bundle.fields["k"].dtype == "float32"


def test_npz_and_npy(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.random.rand(20, 3).astype(np.float32),
             y=np.arange(20) % 2)
    run(tmp_path, classifier("{x: {shape: [3]}}", 2, flatten=False, data="""
  source: {type: npz, path: d.npz}
  targets: {y: y}
"""))
    np.save(tmp_path / "a.npy", np.random.rand(10, 4).astype(np.float32))
    path = tmp_path / "ae.yaml"
    path.write_text("""modelspec: 1
model:
  inputs: {data: {shape: [4]}}
  layers: [{id: out, type: Dense, units: 4}]
  outputs: {recon: out}
data:
  source: {type: npz, path: a.npy}
  targets: {recon: data}
""")
    spec = modelspec.load_spec(path)
    bundle = build_datasets(spec, *model_io(modelspec.build_model(spec)))
    x, y = next(iter(bundle.train))
    np.testing.assert_array_equal(x["data"], y["recon"])  # autoencoder: target = input


def test_image_folder_decode_resize_and_labels(tmp_path):
    from PIL import Image
    for c, colour in (("cat", 40), ("dog", 200)):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 10, 3), colour, np.uint8)).save(
                tmp_path / "img" / c / f"{i}.png")
    bundle, _ = run(tmp_path, classifier("{image: {shape: [8, 8, 3]}}", 2, data="""
  source: {type: image_folder, path: img, image_size: [8, 8]}
  targets: {y: label}
  splits: {train: "all[:75%]", validation: "all[75%:]"}
  transforms: [{type: rescale, field: image, scale: 0.00392156862}]
"""))
    assert bundle.meta["class_names"] == ["cat", "dog"]
    xs, ys = zip(*[(x["image"].numpy(), y["y"].numpy()) for x, y in bundle.validation])
    xs, ys = np.concatenate(xs), np.concatenate(ys)
    assert xs.shape[1:] == (8, 8, 3) and len(xs) == 3
    np.testing.assert_allclose(xs[:, 0, 0, 0], np.where(ys == 0, 40, 200) / 255, atol=1e-3)


def test_text_char_language_model(tmp_path):
    (tmp_path / "c.txt").write_text("to be or not to be that is the question\n" * 30)
    bundle, _ = run(tmp_path, """modelspec: 1
model:
  inputs: {tokens: {shape: [16], dtype: int64}}
  layers:
    - {type: Embedding, input_dim: 40, output_dim: 8}
    - {type: LSTM, units: 8, return_sequences: true}
    - {id: out, type: Dense, units: 40}
  outputs: {next: out}
data:
  source: {type: text, path: c.txt}
  features: {tokens: inputs}
  targets: {next: targets}
  splits: {train: "all[:80%]", validation: "all[80%:]"}
  transforms:
    - {type: tokenize, field: text, split: character, standardize: null, output: ids}
    - {type: sequences, field: ids, length: 16}
""", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = next(iter(bundle.train))
    np.testing.assert_array_equal(x["tokens"][0, 1:], y["next"][0, :-1])
    assert bundle.counts["train"] > 0 and bundle.counts["validation"] > 0


def test_timeseries_windows(tmp_path):
    (tmp_path / "s.csv").write_text("Month,Value\n" + "".join(
        f"m{i},{i}\n" for i in range(100)))
    bundle, _ = run(tmp_path, """modelspec: 1
model:
  inputs: {window: {shape: [5, 1]}}
  layers: [{type: Flatten}, {id: out, type: Dense, units: 1}]
  outputs: {next: out}
data:
  source: {type: timeseries, path: s.csv, columns: Value, window: 5}
  targets: {next: target}
  splits: {train: "all[:80%]", test: "all[80%:]"}
  shuffle: false
""", loss="mse")
    assert bundle.counts == {"train": 76, "test": 19}
    x, y = next(iter(bundle.train))
    np.testing.assert_array_equal(x["window"][0, :, 0], [0, 1, 2, 3, 4])
    assert float(y["next"][0, 0]) == 5.0
    x, y = next(iter(bundle.test))  # ordered data is not shuffled before splitting
    assert float(x["window"][0, 0, 0]) == 76.0


GENERATED = {
    "xor": ("x", (2,), "label"), "circles": ("x", (2,), "label"), "moons": ("x", (2,), "label"),
    "rosenbrock": ("x", (2,), "z"), "sin_sin": ("x", (2,), "z"),
    "credit": ("x", (3,), "label"), "shapes": ("image", (16, 16, 1), "label"),
    "moving_squares": ("clip", (4, 16, 16, 1), "label"),
    "pix2pix": ("edges", (16, 16, 1), "image"), "digit_domains": ("image", (8, 8, 1), "label"),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_sets_train(tmp_path, name):
    field, shape, target = GENERATED[name]
    extra = {"shapes": ", size: 16", "moving_squares": ", size: 16, frames: 4",
             "pix2pix": ", size: 16"}.get(name, "")
    n = "" if name in ("credit", "digit_domains") else ", n: 64"
    dense = ("{id: out, type: Conv2D, filters: 3, kernel_size: 1}" if name == "pix2pix" else
             "{id: out, type: Dense, units: 1}" if target == "z" else
             "{id: out, type: Dense, units: 10, activation: softmax}")
    flat = "[]" if name == "pix2pix" else "[{type: Flatten}]"
    text = f"""modelspec: 1
model:
  inputs: {{inp: {{shape: {list(shape)}}}}}
  layers: [{flat[1:-1]}{', ' if name != 'pix2pix' else ''}{dense}]
  outputs: {{out: out}}
data:
  source: {{type: generated, name: {name}{n}{extra}}}
  features: {{inp: {field}}}
  targets: {{out: {target}}}
  seed: 3
"""
    loss = "mse" if target in ("z", "image") else "sparse_categorical_crossentropy"
    bundle, _ = run(tmp_path, text, loss=loss)
    assert bundle.fields[field].shape == shape
    spec = modelspec.load_spec(tmp_path / "spec.yaml")
    one, two = (build_datasets(spec, *model_io(modelspec.build_model(spec))) for _ in range(2))
    np.testing.assert_array_equal(next(iter(one.train))[0]["inp"].numpy(),
                                  next(iter(two.train))[0]["inp"].numpy())


def test_generated_credit_table_is_the_lectures(tmp_path):
    from modelspec.data.generated import generate
    table = generate("credit", {"rows": "lecture"})
    assert table["label"].tolist() == [1, 0, 1, 0, 1, 0]
    full = generate("credit", {"rows": "all"})
    assert len(full["x"]) == 8 and full["label"].sum() == 4


def test_generated_digit_domains_are_disjoint_halves_with_a_partial_shift():
    from sklearn.datasets import load_digits

    from modelspec.data.generated import generate
    d = generate("digit_domains", {}, seed=4)
    again, other = generate("digit_domains", {}, seed=4), generate("digit_domains", {}, seed=5)
    for field in d:  # deterministic for a seed, different for another
        np.testing.assert_array_equal(d[field], again[field])
    assert not np.array_equal(d["image"], other["image"])
    assert d["image"].shape == (1797, 8, 8, 1) and d["image"].dtype == np.float32
    assert d["label"].shape == d["domain"].shape == (1797,)
    assert d["image"].min() >= 0.0 and d["image"].max() <= 1.0
    source, target = d["domain"] == 0, d["domain"] == 1
    assert (source.sum(), target.sum()) == (899, 898)
    # both domains in every 20 % slice (rows interleaved, so all[:80%] / all[80%:] hold both)
    for part in np.array_split(d["domain"], 5):
        assert 0.35 < part.mean() < 0.65
    digits = load_digits()
    clean = (digits.images / 16.0).astype(np.float32).reshape(len(digits.images), -1)
    index = {row.tobytes(): i for i, row in enumerate(clean)}
    flat = d["image"].reshape(len(d["image"]), -1)
    # source rows are distinct clean digits with their labels ...
    used = [index[row.tobytes()] for row in flat[source]]
    assert len(set(used)) == 899
    np.testing.assert_array_equal(digits.target[used], d["label"][source])
    # ... target rows are none of the clean digits, and the two halves use every digit once
    assert not any(row.tobytes() in index for row in flat[target])
    rest = np.setdiff1d(np.arange(len(clean)), used)
    np.testing.assert_array_equal(np.sort(d["label"][target]), np.sort(digits.target[rest]))
    # |digit − patch|: a partial shift, neither the clean digits nor their inversion
    assert 0.3 < flat[target].mean() < 0.6 and flat[source].mean() < 0.35


def test_generated_pix2pix_pairs_stay_inside_tanh_range():
    from modelspec.data.generated import generate
    d = generate("pix2pix", {"n": 30, "size": 32}, seed=2)
    edges, image = d["edges"], d["image"]
    assert edges.shape == (30, 32, 32, 1) and image.shape == (30, 32, 32, 3)
    assert set(np.unique(edges)) == {-1.0, 1.0}
    # targets a tanh can produce: with exact ±1 the discriminator wins by saturation alone
    assert set(np.unique(image)) == {np.float32(-0.8), np.float32(0.8)}
    shape = (image > 0).any(axis=-1)
    assert (image > 0).sum(axis=-1).max() == 1          # one colour channel per shape
    assert np.all((edges[..., 0] > 0) <= shape)           # the edges outline the filled shape
    colours = {int(np.argmax((image[i] > 0).sum(axis=(0, 1)))) for i in range(30)}
    assert colours == {0, 1, 2}                           # red, green and blue shapes all occur


@pytest.mark.parametrize("name", ["seq_reverse", "seq_sort", "seq_add"])
def test_generated_sequence_tasks(name):
    from modelspec.data.generated import generate
    d = generate(name, {"n": 5, "length": 6, "vocab_size": 10, "digits": 2}, seed=1)
    assert (d["decoder_input"][:, 0] == 1).all()
    np.testing.assert_array_equal(d["decoder_input"][:, 1:], d["target"][:, :-1])
    if name == "seq_reverse":
        np.testing.assert_array_equal(d["target"], d["source"][:, ::-1])
    if name == "seq_add":
        digits = lambda row: int("".join(str(t - 2) for t in row))  # noqa: E731
        a = digits(d["source"][0][:2])
        b = digits(d["source"][0][3:])
        assert digits(d["target"][0]) == a + b


def test_tfds_prepared_locally_loads_by_name(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    import tensorflow as tf
    rng = np.random.default_rng(0)

    def part(n):
        return tf.data.Dataset.from_tensor_slices({
            "image": rng.integers(0, 255, (n, 8, 8, 1), dtype=np.uint8),
            "label": rng.integers(0, 3, n)})
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(8, 8, 1)),
        "label": tfds.features.ClassLabel(names=["a", "b", "c"])})
    tfds.dataset_builders.store_as_tfds_dataset(
        name="modelspec_tiny", version="1.0.0", features=features,
        split_datasets={"train": part(20), "test": part(6)}, data_dir=str(tmp_path / "tfds"))
    bundle, _ = run(tmp_path, classifier("{image: {shape: [8, 8, 1]}}", 3, data="""
  source: {type: tfds, name: modelspec_tiny, data_dir: tfds, download: false}
  targets: {y: label}
  splits: {train: "train[:75%]", validation: "train[75%:]", test: test}
"""))
    assert bundle.counts == {"train": 15, "validation": 5, "test": 6}
    assert bundle.meta["class_names"] == ["a", "b", "c"]


def test_tfds_missing_fails_at_once(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    import time
    (tmp_path / "tfds").mkdir()
    path = tmp_path / "spec.yaml"
    path.write_text(classifier("{image: {shape: [8, 8, 1]}}", 3, data="""
  source: {type: tfds, name: mnist, data_dir: tfds, download: false}
"""))
    spec = modelspec.load_spec(path)
    start = time.monotonic()
    with pytest.raises(SpecError) as err:
        build_datasets(spec, {"image": ((8, 8, 1), "float32")}, {"y": ((3,), "float32")})
    assert time.monotonic() - start < 30
    assert "spec.yaml:11:30: data.source.name:" in str(err.value)
    assert "TFDS data set 'mnist' is not prepared" in str(err.value)
    assert "download is false" in str(err.value)


def test_cifar_binary_version_train_and_test_with_class_names(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    records = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(5, -1)],
                             axis=1).astype(np.uint8)
    records[:2].tofile(folder / "data_batch_1.bin")
    records[2:4].tofile(folder / "data_batch_2.bin")
    records[4:].tofile(folder / "test_batch.bin")
    (folder / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n\n")
    from modelspec.data.sources_files import load_cifar
    from modelspec.errors import Collector
    from modelspec.source import SourceMap
    source = load_cifar({"path": "cifar-10-batches-bin"}, tmp_path,
                        Collector(SourceMap("spec.yaml", {})))
    train = source.arrays("train", 0, shuffle=False)
    np.testing.assert_array_equal(train["image"], images[:4])
    np.testing.assert_array_equal(train["label"], [3, 1, 4, 1])
    assert source.arrays("test", 0, shuffle=False)["label"].tolist() == [5]
    assert source.meta["class_names"] == [f"c{i}" for i in range(10)]
    (folder / "test_batch.bin").write_bytes(b"\0" * 100)
    with pytest.raises(SpecError, match="100 bytes is not a whole number of 3073-byte"):
        load_cifar({"path": "cifar-10-batches-bin"}, tmp_path,
                   Collector(SourceMap("spec.yaml", {})))


def test_csv_skiprows_skips_lines_before_the_data(tmp_path):
    (tmp_path / "t.csv").write_text("|1x3 Cross validator\n1, a\n2, b\n3, a\n4, b\n")
    bundle, _ = run(tmp_path, classifier("{x: {shape: [1]}}", 2, flatten=False, data="""
  source: {type: csv, path: t.csv, header: false, column_names: [x, y], skiprows: 1}
  transforms:
    - {type: reshape, field: x, shape: [1]}
    - {type: lookup, field: y, vocabulary: [a, b], num_oov_indices: 0}
  features: {x: x}
  targets: {y: y}
"""))
    assert bundle.counts == {"train": 4}



def test_tfds_download_failure_is_fast_and_names_the_data_set(tmp_path, monkeypatch):
    """Offline, TFDS would retry each URL 10 times with back-off (minutes): modelspec lowers
    its retries to 1 for the call and reports the failure at the source's name."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from tensorflow_datasets.core.download import downloader
    seen = []

    def offline(self, *args, **kwargs):
        seen.append(downloader.MAX_RETRIES)
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    (tmp_path / "tfds").mkdir()
    path = tmp_path / "spec.yaml"
    path.write_text(classifier("{image: {shape: [8, 8, 1]}}", 3, data="""
  source: {type: tfds, name: mnist, data_dir: tfds}
"""))
    with pytest.raises(SpecError) as err:
        build_datasets(modelspec.load_spec(path), {"image": ((8, 8, 1), "float32")},
                       {"y": ((3,), "float32")})
    assert seen == [1] and downloader.MAX_RETRIES == 10
    assert "spec.yaml:11:30: data.source.name: cannot download and prepare TFDS data set " \
           "'mnist' into" in str(err.value)
    assert "Failed to resolve 'storage.googleapis.com' — expected network access, or the data " \
           "set prepared elsewhere (`tfds build mnist`) and copied into TFDS_DATA_DIR" \
        in str(err.value)
