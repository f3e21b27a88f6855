"""The adversarial and layer-wise loops on tiny specs (sklearn digits)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from digits_data import digits_data

GAN = """\
modelspec: 1
name: tiny_gan
models:
  generator:
    inputs: {z: {shape: [16]}}
    layers:
      - {type: Dense, units: 64, activation: relu}
      - {type: Dense, units: 64, activation: tanh}
      - {id: fake, type: Reshape, target_shape: [8, 8, 1]}
    outputs: {image: fake}
  discriminator:
    inputs: {image: {shape: [8, 8, 1]}}
    layers:
      - {type: Flatten}
      - {type: Dense, units: 32}
      - {type: LeakyReLU, negative_slope: 0.2}
      - {id: logit, type: Dense, units: 1}
    outputs: {real: logit}
data:
  source: {type: sklearn, name: digits}
  features: {image: images}
  splits: {train: "all[:50%]"}
  transforms: [{type: rescale, field: images, scale: 0.125, offset: -1.0}]
  batch_size: 64
  seed: 0
train:
  type: adversarial
  epochs: 2
  seed: 1
  generator: generator
  discriminator: discriminator
  noise: {input: z, distribution: normal}
  loss: {type: BinaryCrossentropy, from_logits: true}
  label_smoothing: 0.1
  discriminator_steps: 2
  optimizers:
    generator: {type: Adam, learning_rate: 0.0002, beta_1: 0.5}
    discriminator: {type: Adam, learning_rate: 0.0002, beta_1: 0.5}
  samples: {count: 9}
"""


def _train(*args):
    from modelspec.training.cli import train_command
    return CliRunner().invoke(train_command, [str(a) for a in args])


def test_gan_trains_resumes_and_saves_sample_grids(tmp_path):
    from modelspec.training.checkpoints import load_run
    spec = tmp_path / "gan.yaml"
    spec.write_text(GAN)
    run = tmp_path / "run"
    first = _train(spec, "-o", run, "-q", "--epochs", 1)
    assert first.exit_code == 0, first.output
    result = _train(spec, "-o", run, "-q")
    assert result.exit_code == 0, result.output
    assert (run / "samples" / "epoch-0001.png").exists()
    assert (run / "samples" / "epoch-0002.png").stat().st_size > 1000
    history = json.loads((run / "history.json").read_text())
    assert len(history["d_loss"]) == 2 and len(history["g_loss"]) == 2
    state = json.loads((run / "state.json").read_text())
    ckpt = run / "checkpoints" / state["checkpoint"]
    steps = int(np.ceil(898 / 64))  # 50 % of 1797 digits, batches of 64
    with np.load(ckpt / "discriminator.optimizer.npz") as d, \
            np.load(ckpt / "generator.optimizer.npz") as g:
        # two discriminator steps per generator step, over both epochs (resumed in between)
        assert int(d["v0000"]) == 2 * 2 * steps and int(g["v0000"]) == 2 * steps
    _, models, metrics = load_run(run)
    assert sorted(models) == ["discriminator", "generator"]
    assert np.isfinite(metrics["g_loss"]) and np.isfinite(metrics["d_loss"])
    fake = models["generator"]({"z": np.zeros((2, 16), "float32")})["image"]
    assert tuple(fake.shape) == (2, 8, 8, 1)


LAYERWISE = """\
modelspec: 1
name: tiny_stacked
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: h1, type: Dense, units: 32, activation: sigmoid}
    - {id: h2, type: Dense, units: 16, activation: sigmoid}
    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:70%]", test: "all[70%:]"}') + """\
train:
  type: layerwise
  seed: 2
  pretrain: {layers: [h1, h2], epochs: 3, noise: 0.2, corruption: dropout,
             optimizer: {type: Adam, learning_rate: 0.01}, loss: mse}
  epochs: 8
  optimizer: {type: Adam, learning_rate: 0.02}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {tensorboard: false}
"""


def test_layerwise_pretrains_each_layer_then_finetunes(tmp_path):
    import keras

    from modelspec.training.rundir import load_models
    spec = tmp_path / "stacked.yaml"
    spec.write_text(LAYERWISE)
    run = tmp_path / "run"
    result = _train(spec, "-o", run, "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["pretrain_h1_loss"] < 0.2 and metrics["pretrain_h2_loss"] < 0.2
    assert metrics["test_accuracy"] > 0.5
    # fine-tuning started from the pretrained weights: a reconstruction through h1 with the
    # stored weights is far better than through a fresh layer
    import modelspec
    model = modelspec.build_model(spec)
    fresh = model.get_layer("h1").get_weights()
    load_models(run / "final", {"model": model})
    trained = model.get_layer("h1").get_weights()
    assert not np.allclose(fresh[0], trained[0])
    assert json.loads((run / "state.json").read_text())["pretrain"].keys() == {
        "pretrain_h1_loss", "pretrain_h2_loss"}
    assert isinstance(model.get_layer("h2"), keras.layers.Dense)


SMALL = """\
modelspec: 1
name: NAME
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: h1, type: Dense, units: UNITS, activation: relu}
DEEPER    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:50%]", test: "all[50%:]"}') + """\
train:
  epochs: 1
  seed: 4
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {tensorboard: false}
INIT"""


def test_net2net_grown_network_computes_the_same_function(tmp_path):
    import modelspec
    from modelspec.training.checkpoints import load_run
    from modelspec.training.config import InitFromConfig
    from modelspec.training.warmstart import warm_start
    small = tmp_path / "small.yaml"
    small.write_text(SMALL.replace("NAME", "small").replace("UNITS", "8")
                     .replace("DEEPER", "").replace("INIT", ""))
    assert _train(small, "-o", tmp_path / "runs" / "small", "-q").exit_code == 0
    big = tmp_path / "big.yaml"
    big.write_text(SMALL.replace("NAME", "big").replace("UNITS", "20")
                   .replace("DEEPER", "    - {id: h1b, type: Dense, units: 20, "
                                      "activation: relu}\n")
                   .replace("INIT", "  init_from: {run: runs/small, grow: net2net}\n"))
    _, teacher, _ = load_run(tmp_path / "runs" / "small")
    student = {"model": modelspec.build_model(big)}
    report = warm_start(student, InitFromConfig(run="runs/small", grow="net2net"), tmp_path,
                        seed=0)
    assert report["widened"] == ["h1"] and report["deepened"] == ["h1b"]
    x = np.random.default_rng(1).uniform(0, 1, size=(16, 8, 8, 1)).astype("float32")
    before = teacher["model"]({"image": x})["digit"]
    after = student["model"]({"image": x})["digit"]
    np.testing.assert_allclose(np.asarray(after), np.asarray(before), rtol=1e-5, atol=1e-6)
    # through `modelspec train`: the grown run starts from the small one and records it
    result = _train(big, "-o", tmp_path / "runs" / "big", "-q")
    assert result.exit_code == 0, result.output
    state = json.loads((tmp_path / "runs" / "big" / "state.json").read_text())
    assert state["init_from"]["widened"] == ["h1"]
    missing = SMALL.replace("NAME", "m").replace("UNITS", "8").replace("DEEPER", "") \
        .replace("INIT", "  init_from: {run: runs/nothing}\n")
    problems = [p.format() for p in modelspec.validate(missing, filename="m.yaml")]
    assert any("train.init_from.run: 'runs/nothing' is not a run directory" in p
               for p in problems), problems


CGAN = """\
modelspec: 1
name: tiny_cgan
models:
  generator:
    inputs: {z: {shape: [8]}, label: {shape: [10]}}
    layers:
      - {id: zc, type: Concatenate, in: [z, label]}
      - {type: Dense, units: 32, activation: relu}
      - {type: Dense, units: 64, activation: tanh}
      - {id: fake, type: Reshape, target_shape: [8, 8, 1]}
    outputs: {image: fake}
  discriminator:
    inputs: {image: {shape: [8, 8, 1]}, label: {shape: [10]}}
    layers:
      - {id: flat, type: Flatten, in: image}
      - {id: joined, type: Concatenate, in: [flat, label]}
      - {type: Dense, units: 32}
      - {type: LeakyReLU, negative_slope: 0.2}
      - {id: logit, type: Dense, units: 1}
    outputs: {real: logit}
data:
  source: {type: sklearn, name: digits}
  features: {image: images, label: label}
  splits: {train: "all[:30%]"}
  transforms:
    - {type: rescale, field: images, scale: 0.125, offset: -1.0}
    - {type: one_hot, field: label, depth: 10}
  batch_size: 64
  seed: 0
train:
  type: adversarial
  epochs: 1
  seed: 1
  noise: {input: z, distribution: uniform, minval: -1.0, maxval: 1.0}
  optimizers:
    generator: {type: Adam, learning_rate: 0.001, beta_1: 0.5}
    discriminator: {type: Adam, learning_rate: 0.001, beta_1: 0.5}
  reconstruction: {loss: mae, weight: 0.0}
  samples: {count: 10}
"""


def test_conditional_gan_feeds_conditions_to_both_models(tmp_path):
    from modelspec.training.checkpoints import load_run
    spec = tmp_path / "cgan.yaml"
    spec.write_text(CGAN)
    result = _train(spec, "-o", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "samples" / "epoch-0001.png").exists()
    _, models, metrics = load_run(tmp_path / "run")
    assert np.isfinite(metrics["d_loss"])
    labels = np.eye(10, dtype="float32")[[3, 7]]
    fake = models["generator"]({"z": np.zeros((2, 8), "float32"), "label": labels})["image"]
    out = np.asarray(fake)
    assert out.shape == (2, 8, 8, 1) and not np.allclose(out[0], out[1])


def test_generator_noise_is_needed_only_for_inputs_the_data_does_not_give(spec_problems):
    no_noise = CGAN.replace("  noise: {input: z, distribution: uniform, minval: -1.0, "
                            "maxval: 1.0}\n", "")
    assert spec_problems(no_noise, filename="cgan.yaml") == [
        "cgan.yaml:31:3: train: missing 'noise': the generator's input 'z' is not a data "
        "feature — expected noise: {input: z, distribution: normal}, or 'z' among "
        "data.features"]
    misspelt = CGAN.replace("noise: {input: z,", "noise: {input: zz,")
    assert spec_problems(misspelt, filename="cgan.yaml") == [
        "cgan.yaml:34:18: train.noise.input: 'zz' is not an input of the generator — "
        "expected one of z, label (did you mean 'z'?)"]
    # pix2pix: every generator input comes from the data, dropout is the only noise
    conditional_only = no_noise.replace("inputs: {z: {shape: [8]}, label: {shape: [10]}}",
                                        "inputs: {label: {shape: [10]}}").replace(
        "- {id: zc, type: Concatenate, in: [z, label]}", "- {id: drop, type: Dropout, rate: 0.5}")
    assert spec_problems(conditional_only) == []


def test_pretraining_leaves_every_layer_trainable_for_fine_tuning(tmp_path):
    """Pretraining h2 reads h1's features without freezing h1 (shared with the model)."""
    import keras
    import tensorflow as tf

    from modelspec.training.config import PretrainConfig
    from modelspec.training.loops.layerwise import pretrain
    from modelspec.training.rundir import RunDir
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="x")
    h1 = keras.layers.Dense(4, activation="sigmoid", name="h1")(inputs)
    h2 = keras.layers.Dense(3, activation="sigmoid", name="h2")(h1)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h2))
    x = np.random.default_rng(0).uniform(size=(32, 6)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x[:, :2])).batch(8)
    losses = pretrain(model, data, PretrainConfig(layers=("h1", "h2"), epochs=1),
                      RunDir(tmp_path))
    assert set(losses) == {"pretrain_h1_loss", "pretrain_h2_loss"}
    assert all(layer.trainable for layer in model.layers)
    before = model.get_layer("h1").get_weights()[0].copy()
    model.compile("adam", "mse")
    model.fit(data, epochs=1, verbose=0)
    assert not np.allclose(before, model.get_layer("h1").get_weights()[0])  # fine-tuned


def test_every_loop_type_of_the_schema_has_a_loop():
    """`train.type`'s schema enum and the loops `modelspec train` runs name the same kinds."""
    from modelspec.training.run import LOOPS
    from modelspec.training.schema import LOOP_TYPES
    assert sorted(LOOPS) == sorted(LOOP_TYPES)
