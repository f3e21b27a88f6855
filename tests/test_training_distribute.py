"""tf.distribute: mirrored over two logical CPUs, and two local multi-worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from digits_data import digits_data

REPO = Path(__file__).resolve().parents[1]

MIRRORED = textwrap.dedent('''
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from modelspec.training.run import run_training, as_bundle

    def build():
        i = keras.Input((4,), name="x")
        o = keras.layers.Dense(1)(keras.layers.Dense(8, activation="relu")(i))
        return {"model": keras.Model({"x": i}, {"y": o})}

    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(({"x": x}, {"y": x[:, :1] * 3})).batch(32)
    train = {"epochs": 2, "seed": 1, "loss": "mse", "optimizer": "adam",
             "distribute": {"strategy": "mirrored"}, "callbacks": {"tensorboard": False}}
    r = run_training(train, sys.argv[1], build, as_bundle(ds, ds), fingerprint="m", verbose=0)
    print("LOSS", r.metrics["loss"], r.history["loss"][0])
''')


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")


def test_mirrored_over_two_logical_cpus(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "run")], env=_env(),
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["replicas"] == 2 and state["finished"]
    last, first = map(float, done.stdout.split("LOSS")[1].split())
    assert last < first


SPEC = """\
modelspec: 1
name: mw_digits
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: h1, type: Dense, units: 16, activation: relu}
    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:40%]"}') + """\
train:
  epochs: 2
  seed: 1
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  callbacks: {tensorboard: false}
"""


def test_two_local_workers_end_with_identical_weights(tmp_path, monkeypatch):
    import h5py
    from modelspec.training.cli import train_command
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    spec = tmp_path / "mw.yaml"
    spec.write_text(SPEC)
    run = tmp_path / "run"
    result = CliRunner().invoke(train_command, [str(spec), "-o", str(run), "--workers", "2"])
    assert result.exit_code == 0, result.output
    states = [json.loads((d / "state.json").read_text())
              for d in (run, tmp_path / "run.worker-1")]
    assert [s["replicas"] for s in states] == [2, 2]
    assert all(s["finished"] and s["epoch"] == 2 for s in states)

    def weights(directory):
        out = []
        with h5py.File(directory / "final" / "model.weights.h5", "r") as fh:
            fh.visititems(lambda n, obj: out.append((n, np.array(obj)))
                          if isinstance(obj, h5py.Dataset) else None)
        return out

    ours, theirs = weights(run), weights(tmp_path / "run.worker-1")
    assert len(ours) == 4 and [n for n, _ in ours] == [n for n, _ in theirs]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ours, theirs))
    history = json.loads((run / "history.json").read_text())
    assert history["loss"][1] < history["loss"][0]


def test_multiworker_per_example_loss_matches_keras_for_rank_1_targets():
    import keras
    import tensorflow as tf

    from modelspec.training.loops_multiworker import _per_example
    y_true = tf.constant([0.0, 1.0, 1.0, 0.0])                  # (4,) labels from the data
    y_pred = tf.constant([[0.1], [0.8], [0.4], [0.3]])          # (4, 1) sigmoid outputs
    ours = _per_example(keras.losses.binary_crossentropy, y_true, y_pred)
    reference = keras.losses.BinaryCrossentropy(reduction=None)(y_true, y_pred)
    np.testing.assert_allclose(ours.numpy(), np.ravel(reference), rtol=1e-6)
    assert tuple(ours.shape) == (4,)


def test_parameter_server_strategy_is_refused_with_its_reason(spec_problems):
    """Lecture V's asynchronous SGD: Keras 3 cannot train under ParameterServerStrategy."""
    problems = spec_problems("""
    modelspec: 1
    model:
      inputs: {x: {shape: [2]}}
      layers: [{id: y, type: Dense, units: 1}]
      outputs: {y: y}
    train:
      loss: mse
      distribute: {strategy: parameter_server}
    """)
    assert len(problems) == 1, problems
    assert "train.distribute.strategy: asynchronous parameter-server training is not " \
           "supported by Keras 3" in problems[0]
    assert "keras-team/keras#18624" in problems[0]
    assert "expected a synchronous strategy: default, one_device, mirrored, multi_worker" \
        in problems[0]
