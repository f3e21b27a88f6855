"""Runtime settings from the spec: precision, jit_compile, steps_per_execution, threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from digits_data import digits_data

REPO = Path(__file__).resolve().parents[1]

SPEC = """\
modelspec: 1
name: runtime_digits
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: h1, type: Dense, units: 16, activation: relu}
    - {id: out, type: Dense, units: 10, activation: softmax, dtype: float32}
  outputs: {digit: out}
""" + digits_data('{train: "all[:40%]", test: "all[40%:60%]"}') + """\
train:
  epochs: 2
  seed: 1
  deterministic: false
  precision: mixed_bfloat16
  jit_compile: true
  steps_per_execution: 4
  threads: {intra_op: 1, inter_op: 1}
  optimizer: {type: SGD, learning_rate: 0.1, momentum: 0.9, nesterov: true, clipnorm: 1.0}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {tensorboard: false}
"""

SCRIPT = textwrap.dedent('''
    import sys, warnings
    warnings.simplefilter("error", UserWarning)  # e.g. "train.threads not applied"
    from modelspec.training.run import train_spec
    import tensorflow as tf, keras
    r = train_spec(sys.argv[1], output=sys.argv[2], verbose=0)
    model = r.models["model"]
    print("POLICY", model.get_layer("h1").dtype_policy.name, model.get_layer("out").dtype_policy.name)
    print("THREADS", tf.config.threading.get_intra_op_parallelism_threads(),
          tf.config.threading.get_inter_op_parallelism_threads())
    print("COMPILE", model.jit_compile, model.steps_per_execution)
    print("AFTER", keras.mixed_precision.global_policy().name)
''')


def test_precision_jit_steps_per_execution_and_threads(tmp_path):
    spec, script = tmp_path / "rt.yaml", tmp_path / "rt.py"
    spec.write_text(SPEC)
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, str(script), str(spec), str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "POLICY mixed_bfloat16 float32" in out
    assert "THREADS 1 1" in out
    assert "COMPILE True 4" in out
    assert "AFTER float32" in out  # the global policy is restored after training
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5


def test_jit_with_op_determinism_is_reported():
    import modelspec
    bad = SPEC.replace("  deterministic: false\n", "")
    problems = [p.format() for p in modelspec.validate(bad, filename="rt.yaml")]
    assert any(p.startswith("rt.yaml:22:16:") and "train.jit_compile" in p
               and "deterministic: false" in p for p in problems), problems


def test_compile_defaults_steps_per_execution_and_jit_by_model_kind():
    import keras
    import tensorflow as tf

    from modelspec.training import runtime
    dense_in = keras.Input((4,))
    dense = keras.Model(dense_in, keras.layers.Dense(2)(dense_in))
    conv_in = keras.Input((8, 8, 1))
    conv = keras.Model(conv_in, keras.layers.Conv2D(2, 3)(conv_in))
    cpu_only = not runtime.has_gpu()
    assert runtime.compile_options({}, dense) == {
        "steps_per_execution": runtime.DEFAULT_STEPS_PER_EXECUTION,
        **({"jit_compile": True} if cpu_only else {})}
    if cpu_only:
        assert runtime.compile_options({}, conv)["jit_compile"] is False
        # a seeded run is deterministic: XLA is not forced on
        assert runtime.compile_options({"seed": 1}, dense)["jit_compile"] is False
    # the spec's own settings win
    assert runtime.compile_options({"steps_per_execution": 1, "jit_compile": True}, conv) == {
        "steps_per_execution": 1, "jit_compile": True}
    # under a distribution strategy Keras's default of one step per call stays
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        assert "steps_per_execution" not in runtime.compile_options({}, dense)
