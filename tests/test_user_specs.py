"""Specs a Keras user writes, run the way a user runs them (issue 16): no internal errors.

Each test is a spec and a command; failures must be clean, positioned exit-2 errors.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modelspec.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def metadata(version: Path) -> dict:
    return json.loads((version / "assets" / "modelspec.json").read_text())


CONV1D = """
    modelspec: 1
    name: conv1d_var
    model:
      inputs: {x: {shape: [null, 1]}}
      layers:
        - {type: Conv1D, filters: 4, kernel_size: 8, strides: 2}
        - {type: Conv1D, filters: 4, kernel_size: 8, strides: 2}
        - {type: GlobalAveragePooling1D}
        - {id: out, type: Dense, units: 3, activation: softmax}
      outputs: {y: out}
    """


def test_export_of_a_variable_length_strided_model_feeds_a_length_it_accepts(tmp_path):
    result = run("export", write(tmp_path, CONV1D), "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "serving_default: (x[None, 1]:float32) -> (y[3]:float32)" in result.output
    assert metadata(tmp_path / "out" / "1")["check"]["max_abs_diff"]["serving_default"] <= 1e-5


def test_a_model_no_batch_fits_is_an_export_check_error_not_a_crash(tmp_path):
    import tensorflow as tf

    from modelspec.exporting.formats import ExportCheckError
    from modelspec.exporting.stage import accepted_batch

    def never(features):
        raise ValueError("Computed output size would be negative")

    with pytest.raises(ExportCheckError, match="rejects every sample batch tried.*negative"):
        accepted_batch("serving_default", never,
                       {"x": tf.TensorSpec((None, None, 1), tf.float32)})


def test_tolerance_is_relative_to_the_outputs_magnitude():
    from modelspec.exporting.signatures import relative_tolerance
    assert relative_tolerance({"y": np.array([[4e6, -1.0]], np.float32)}, 1e-5) == \
        pytest.approx(40.0)
    assert relative_tolerance({"y": np.array([0.1, 0.2])}, 1e-5) == 1e-5
    assert relative_tolerance({"c": np.array([7], np.int64)}, 1e-5) == 1e-5


@pytest.fixture
def tabular(tmp_path):
    rng = random.Random(0)
    rows = ["age,colour,label"] + [
        f"{rng.randint(18, 80)},{rng.choice(['red', 'green', 'blue'])},{rng.randint(0, 1)}"
        for _ in range(1500)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    return write(tmp_path, """
        modelspec: 1
        name: tab
        model:
          inputs: {age: {shape: []}, colour: {shape: [], dtype: int64}}
          layers:
            - {id: emb, in: colour, type: Embedding, input_dim: 3, output_dim: 2}
            - {id: a2, in: age, type: Reshape, target_shape: [1]}
            - {id: cat, type: Concatenate, in: [a2, emb]}
            - {id: out, type: Dense, units: 1, activation: sigmoid}
          outputs: {y: out}
        data:
          source: {type: csv, path: t.csv}
          transforms:
            - {type: normalize, field: age}
            - {type: lookup, field: colour, num_oov_indices: 0}
          features: {age: age, colour: colour}
          targets: {y: label}
          batch_size: 1024
        train:
          epochs: 1
          optimizer: Adam
          loss: binary_crossentropy
        """)


def test_normalize_of_one_csv_column_batches(tabular):
    result = run("data", tabular, "--take", "2")
    assert result.exit_code == 0, result.output
    assert "age" in result.output


def test_serving_raw_is_checked_on_the_datas_own_values(tabular, tmp_path):
    result = run("export", tabular, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "serving_raw: (age[]:float32, colour[]:string)" in result.output


def _cli_in_fresh_python(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    code = ("import sys, time\n"
            "from modelspec.cli.main import main\n"
            "try:\n"
            f"    main({args!r})\n"
            "except SystemExit as e:\n"
            "    print('tensorflow' in sys.modules, e.code)\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    return done, time.perf_counter() - start


@pytest.mark.parametrize("args, message", [
    (["train", "missing.yaml"], "missing.yaml: no such file or directory"),
    (["export", "specs/lenet5.yaml", "-p", "oops"], "--param 'oops': expected NAME=VALUE"),
    (["data", "specs/lenet5.yaml", "-p", "nope=1"], "no parameter 'nope' to override"),
    (["train", "specs/lenet5.yaml", "--bogus"], "No such option '--bogus'"),
    (["dream", "specs/lenet5.yaml", "--out", "d.png", "-p", "x"],
     "--param 'x': expected NAME=VALUE"),
])
def test_usage_mistakes_are_answered_before_tensorflow_is_imported(args, message):
    done, _ = _cli_in_fresh_python(args)
    assert message in done.stderr
    assert done.stdout.split() == ["False", "2"]


def test_export_and_data_take_params(tmp_path):
    spec = write(tmp_path, """
        modelspec: 1
        name: p
        params: {units: 3}
        model:
          inputs: {x: {shape: [4]}}
          layers: [{id: out, type: Dense, units: $units}]
          outputs: {y: out}
        """)
    result = run("export", spec, "-p", "units=5", "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "(y[5]:float32)" in result.output
    request = tmp_path / "r.json"
    request.write_text('{"instances": [{"x": [1.0, 2.0, 3.0, 4.0]}]}')
    result = run("predict", spec, "-i", request, "-p", "units=2")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["predictions"][0]) == 2
    result = run("predict", tmp_path / "out", "-i", request, "-p", "units=2")
    assert result.exit_code == 2 and "-p/--param applies to a spec file" in result.output


AE = """
    modelspec: 1
    name: ae
    models:
      encoder:
        inputs: {x: {shape: [64]}}
        layers:
          - {id: h, type: Dense, units: 16, activation: relu}
          - {id: mean, in: h, type: Dense, units: 4}
          - {id: logvar, in: h, type: Dense, units: 4}
        outputs: {z_mean: mean, z_log_var: logvar}
      decoder:
        inputs: {z: {shape: [4]}}
        layers:
          - {id: out, type: Dense, units: 64, activation: sigmoid}
        outputs: {recon: out}
      ae:
        inputs: {x: {shape: [64]}}
        layers:
          - {id: enc, model: encoder}
          - {id: dec, model: decoder, in: ENC}
        outputs: {recon: dec}
    data:
      source: {type: sklearn, name: digits}
      transforms:
        - {type: rescale, field: images, scale: 0.0625}
        - {type: reshape, field: images, shape: [64]}
      features: {x: images}
      targets: {recon: images}
      splits: {train: "all[:200]", test: "all[200:300]"}
    train:
      model: ae
      epochs: 1
      optimizer: Adam
      loss: mse
    """


def test_a_model_call_exposes_the_called_models_outputs_as_ports(spec_problems):
    assert spec_problems(AE.replace("ENC", "enc.z_mean")) == []
    problems = spec_problems(AE.replace("ENC", "enc"))
    assert problems == ["spec.yaml:20:39: models.ae.layers[1].in: 'enc' calls model "
                        "'encoder', which has several outputs — expected one of them: "
                        "enc.z_mean, enc.z_log_var"]
    problems = spec_problems(AE.replace("ENC", "enc.z"))
    assert "'enc' has no output port 'z' — expected one of its ports: z_mean, z_log_var" \
        in problems[0]


def test_train_model_names_the_model_a_models_spec_trains(spec_problems):
    spec = AE.replace("ENC", "enc.z_mean")
    problems = spec_problems(spec.replace("model: ae", "model: decoders"))
    assert problems == ["spec.yaml:31:10: train.model: unknown model 'decoders' — expected "
                        "one of encoder, decoder, ae (did you mean 'decoder'?)"]
    problems = spec_problems(spec.replace("      model: ae\n", ""))
    assert "train: the supervised loop trains one model; this spec has 3: encoder, decoder, " \
        "ae — expected train.model" in problems[0]


def test_a_models_spec_trains_its_chosen_model_and_exports_every_model(tmp_path):
    spec = write(tmp_path, AE.replace("ENC", "enc.z_mean"))
    result = run("train", spec, "--output", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    result = run("export", tmp_path / "run", "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "exported encoder" in result.output and "exported ae" in result.output
    # a decoder's sigmoid pixels (fed by no data feature) are no class probabilities
    assert " classify:" not in result.output


def test_classify_is_for_class_probabilities_only(tmp_path):
    result = run("export", ROOT / "specs" / "conv_autoencoder.yaml", "--output", tmp_path)
    assert result.exit_code == 0, result.output
    assert "serving_default" in result.output and " classify:" not in result.output
    import keras

    from modelspec.exporting.signatures import find_classifiers
    x = keras.Input((8,), name="x")
    model = keras.Model({"x": x}, {
        "recon": keras.layers.Dense(8, activation="sigmoid")(x),
        "tags": keras.layers.Dense(3, activation="sigmoid")(x),
        "digit": keras.layers.Dense(10, activation="softmax")(x)})
    assert [c.output for c in find_classifiers(model)] == ["tags", "digit"]


def test_keras_hub_layers_by_name(build_spec, spec_problems):
    spec = """
        modelspec: 1
        name: tx
        model:
          inputs: {src: {shape: [10], dtype: int32}, tgt: {shape: [12], dtype: int32}}
          layers:
            - {id: es, in: src, type: keras_hub.TokenAndPositionEmbedding, vocabulary_size: 100, sequence_length: 10, embedding_dim: 16}
            - {id: enc, type: keras_hub.TransformerEncoder, intermediate_dim: 32, num_heads: 2}
            - {id: ts, in: tgt, type: keras_hub.TokenAndPositionEmbedding, vocabulary_size: 100, sequence_length: 12, embedding_dim: 16}
            - {id: dec, in: [ts, enc], type: keras_hub.TransformerDecoder, intermediate_dim: 32, num_heads: HEADS}
            - {id: out, type: Dense, units: 100, activation: softmax}
          outputs: {next: out}
        """  # noqa: E501
    model = build_spec(spec.replace("HEADS", "2"))
    assert model.count_params() == 10_820
    assert [type(layer).__name__ for layer in model.layers[2:6]] == [
        "TokenAndPositionEmbedding", "TokenAndPositionEmbedding", "TransformerEncoder",
        "TransformerDecoder"]
    problems = spec_problems(spec.replace("num_heads: HEADS", "heads: 2"))
    assert problems[0].startswith("spec.yaml:9:90: model.layers[3].heads: unknown argument "
                                  "'heads' for keras_hub.TransformerDecoder — expected one of "
                                  "keras_hub.TransformerDecoder's arguments: activation,")


def test_lambda_and_unknown_layers_say_how_plugins_work(spec_problems):
    problems = spec_problems("""
        modelspec: 1
        model:
          inputs: {x: {shape: [4]}}
          layers:
            - {type: Lambda, function: "lambda x: x * 2"}
            - {id: out, type: MyDense, units: 2}
          outputs: {y: out}
        """)
    assert problems[0] == (
        "spec.yaml:5:14: model.layers[0].type: unknown layer type 'Lambda' — expected a "
        "registered layer: a spec holds no code, so Lambda's Python function cannot be "
        "written in one; a layer of your own is a Python class registered with "
        "modelspec.register_layer('Name', cls) in a file given as `modelspec --plugin "
        "FILE.py COMMAND ...` (the same --plugin for train, export, predict)")
    assert problems[1].endswith("or a layer registered from Python (`modelspec --plugin "
                                "FILE.py ...`) (did you mean 'Dense'?)")


def test_size_tuples_are_refused_at_validate_with_their_expected_form(spec_problems):
    problems = spec_problems("""
        modelspec: 1
        model:
          inputs: {x: {shape: [28, 28, 1]}}
          layers:
            - {type: Conv2D, filters: 4, kernel_size: 5x5, strides: [1, 1, 1]}
            - {type: MaxPooling2D, pool_size: 2x2}
            - {type: Conv1D, filters: 4, kernel_size: [3, 3]}
            - {id: out, type: Dense, units: 2}
          outputs: {y: out}
        """)
    assert problems == [
        "spec.yaml:5:47: model.layers[0].kernel_size: invalid value '5x5' — expected an "
        "integer or a list of 2 integers (e.g. 3 or [3, 3])",
        "spec.yaml:5:61: model.layers[0].strides: has 3 items — expected at most 2 items",
        "spec.yaml:6:39: model.layers[1].pool_size: invalid value '2x2' — expected an "
        "integer or a list of 2 integers (e.g. 3 or [3, 3])",
        "spec.yaml:7:47: model.layers[2].kernel_size: has 2 items — expected at most 1 items"]


def test_a_parameter_is_accepted_inside_every_list(spec_problems):
    assert spec_problems("""
        modelspec: 1
        params: {size: 32, k: 3}
        model:
          inputs: {image: {shape: [$size, $size, 3]}}
          layers:
            - {type: Conv2D, filters: 2, kernel_size: [$k, $k]}
            - {type: Flatten}
            - {id: out, type: Dense, units: 2, activation: softmax}
          outputs: {label: out}
        data:
          source: {type: sklearn, name: digits}
          transforms:
            - {type: resize, field: images, height: $size, width: $size}
          augment:
            - {type: random_zoom, height_factor: [$(-0.1), 0.1]}
        """, build=True) == []


def test_callback_arguments_come_from_keras_signatures(spec_problems):
    problems = spec_problems("""
        modelspec: 1
        model:
          inputs: {x: {shape: [4]}}
          layers: [{id: out, type: Dense, units: 2}]
          outputs: {y: out}
        train:
          optimizer: adam
          loss: mse
          callbacks:
            early_stopping: {verbose: 1, patience: 2, patiense: 3}
            reduce_lr_on_plateau: {verbose: 1, factor: 0.5}
            tensorboard: {write_images: true}
        """)
    assert problems == [
        "spec.yaml:10:47: train.callbacks.early_stopping.patiense: unknown key 'patiense' — "
        "expected one of: baseline, min_delta, mode, monitor, patience, restore_best_weights, "
        "start_from_epoch, verbose (did you mean 'patience'?)"]


PLUGIN = '''
import keras
from keras import ops
import modelspec

def contrastive(y_true, y_pred, margin=1.0):
    d = y_pred[:, 0]
    y = ops.cast(ops.reshape(y_true, [-1]), d.dtype)
    return ops.mean(y * ops.square(d) + (1 - y) * ops.square(ops.maximum(margin - d, 0.0)))

class Printer(keras.callbacks.Callback):
    def __init__(self, every: int = 1):
        super().__init__()
        self.every = every
    def on_epoch_end(self, epoch, logs=None):
        print(f"PRINTER epoch {epoch + 1} every {self.every}")

class MeanPred(keras.metrics.Mean):
    def __init__(self, name="mean_pred", **kwargs):
        super().__init__(name=name, **kwargs)
    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_pred)

modelspec.register_loss("contrastive", contrastive)
modelspec.register_metric("mean_pred", MeanPred)
modelspec.register_callback("printer", Printer)
'''

SIAMESE = """
    modelspec: 1
    name: siam
    model:
      inputs: {x: {shape: [64]}}
      layers:
        - {id: d, type: Dense, units: 1, activation: softplus}
      outputs: {distance: d}
    data:
      source: {type: sklearn, name: digits}
      transforms:
        - {type: reshape, field: images, shape: [64]}
        - {type: rescale, field: images, scale: 0.0625}
      features: {x: images}
      targets: {distance: label}
      splits: {train: "all[:300]", test: "all[300:400]"}
    train:
      epochs: 1
      optimizer: adam
      loss: contrastive
      metrics: [mean_pred]
      callbacks: {printer: {every: 3}}
    """


@pytest.fixture
def plugin_file(tmp_path):
    from modelspec.lang import registry
    path = tmp_path / "my_losses.py"
    path.write_text(PLUGIN)
    yield path
    for kind, name in (("losses", "contrastive"), ("metrics", "mean_pred"),
                       ("callbacks", "printer")):
        registry.unregister_python_component(kind, name)


def test_losses_metrics_and_callbacks_come_from_plugins(tmp_path, plugin_file):
    spec = write(tmp_path, SIAMESE)
    result = run("validate", spec)
    assert result.exit_code == 2
    assert "train.loss: unknown value 'contrastive'" in result.output
    assert "or a loss registered from Python (modelspec.register_loss in a `modelspec " \
        "--plugin FILE.py ...` file)" in result.output
    result = run("--plugin", plugin_file, "train", spec, "--output", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "PRINTER epoch 1 every 3" in result.output
    assert "test_mean_pred" in result.output


def test_sampling_adds_the_vae_kl_term_as_a_loss(build_spec):
    import numpy as np
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {x: {shape: [6]}}
          layers:
            - {id: mean, type: Dense, units: 2, kernel_initializer: ones}
            - {id: log_var, in: x, type: Dense, units: 2, kernel_initializer: zeros}
            - {id: z, in: [mean, log_var], type: Sampling, kl_weight: 0.5}
            - {id: term, in: [z, mean], type: AddLoss, weight: 2.0}
          outputs: {z: term}
        """)
    x = np.ones((3, 6), np.float32)
    z = model({"x": x}, training=False)["z"]
    np.testing.assert_allclose(np.asarray(z), np.full((3, 2), 6.0))  # z_mean at inference
    # KL of N(6, 1) to N(0, 1) per dimension: 0.5 * 36 = 18, summed over 2 dims: 36
    losses = [float(v) for v in model.losses]
    assert losses == pytest.approx([0.5 * 36.0, 2.0 * 6.0])


def test_predict_sends_an_image_through_the_specs_own_preprocessing(tmp_path):
    from PIL import Image
    spec = write(tmp_path, """
        modelspec: 1
        name: padded
        model:
          inputs: {image: {shape: [12, 12, 1]}}
          layers:
            - {type: Flatten}
            - {id: digit, type: Dense, units: 10, activation: softmax}
          outputs: {digit: digit}
        data:
          source: {type: sklearn, name: digits}
          transforms:
            - {type: rescale, field: images, scale: 0.0625}
            - {type: pad, field: images, padding: 2}
          features: {image: images}
          targets: {digit: label}
        """)
    result = run("export", spec, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "serving_raw: (images[8, 8, 1]:float32)" in result.output
    pixels = (np.arange(64).reshape(8, 8) * 4).astype("uint8")
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    answer = json.loads(run("predict", tmp_path / "out", "-i", tmp_path / "digit.png").output)
    padded = np.pad(pixels.astype("float32") * 0.0625, 2)[None, :, :, None]
    request = tmp_path / "padded.json"
    request.write_text(json.dumps({"instances": [{"image": padded[0].tolist()}]}))
    direct = json.loads(run("predict", tmp_path / "out", "-i", request).output)
    assert set(answer["predictions"][0]) == {"digit", "probabilities", "classes"}
    np.testing.assert_allclose(answer["predictions"][0]["digit"],
                               direct["predictions"][0], rtol=1e-5)


def test_dream_writes_a_picture_one_can_look_at(tmp_path):
    from PIL import Image
    out = tmp_path / "three.png"
    result = run("dream", ROOT / "specs" / "lenet5.yaml", "--class", 3, "--steps", 2,
                 "--out", out)
    assert result.exit_code == 0, result.output
    with Image.open(out) as picture:
        width, height = picture.size
    assert width == 256 and height > width  # 32×32 scaled ×8, with a caption band beneath


def test_output_always_means_a_path_never_a_model_output():
    result = run("attack", ROOT / "specs" / "lenet5.yaml", "--output", "digit")
    assert result.exit_code == 2 and "No such option '--output'" in result.output
    result = run("attack", "--help")
    assert "--model-output NAME" in result.output
