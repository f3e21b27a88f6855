"""Runtime settings from the spec: precision, jit_compile, steps_per_execution, threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from digits_data import digits_data, tiny_digits_spec

REPO = Path(__file__).resolve().parents[1]

SPEC = tiny_digits_spec("runtime_digits", '{train: "all[:40%]", test: "all[40%:60%]"}',
                        """\
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
""", out_args=", dtype: float32")

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
    from modelspec.training.config import RuntimeConfig
    dense_in = keras.Input((4,))
    dense = keras.Model(dense_in, keras.layers.Dense(2)(dense_in))
    conv_in = keras.Input((8, 8, 1))
    conv = keras.Model(conv_in, keras.layers.Conv2D(2, 3)(conv_in))
    cpu_only = not runtime.has_gpu()
    assert runtime.compile_options(RuntimeConfig.from_section({}), dense) == {
        "steps_per_execution": runtime.DEFAULT_STEPS_PER_EXECUTION,
        **({"jit_compile": True} if cpu_only else {})}
    if cpu_only:
        assert runtime.compile_options(RuntimeConfig.from_section({}), conv)["jit_compile"] is False
        # a seeded run is deterministic: XLA is not forced on
        assert runtime.compile_options(RuntimeConfig.from_section({"seed": 1}), dense)["jit_compile"] is False
    # the spec's own settings win
    assert runtime.compile_options(RuntimeConfig.from_section({"steps_per_execution": 1, "jit_compile": True}), conv) == {
        "steps_per_execution": 1, "jit_compile": True}
    # under a distribution strategy Keras's default of one step per call stays
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        assert "steps_per_execution" not in runtime.compile_options(RuntimeConfig.from_section({}), dense)


def test_xla_flags_are_added_before_tensorflow_only():
    from modelspec import tfenv as xla_flags
    env = {"TF_XLA_FLAGS": "--tf_xla_min_cluster_size=2"}
    assert xla_flags.prepare(env, modules={}) is True
    assert env["TF_XLA_FLAGS"].split() == ["--tf_xla_min_cluster_size=2", *xla_flags.FLAGS]
    assert xla_flags.prepare(env, modules={}) is True  # idempotent (e.g. a child process)
    assert env["TF_XLA_FLAGS"].count("--tf_xla_cpu_global_jit") == 1
    # too late once TensorFlow is imported: nothing changes, clustering is not used
    late = {}
    assert xla_flags.prepare(late, modules={"tensorflow": object()}) is False
    assert late == {}
    # the user's own clustering choice is left alone
    mine = {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2"}
    assert xla_flags.prepare(mine, modules={}) is False
    assert mine == {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2"}
    # the test process imports modelspec before TensorFlow (conftest.py)
    assert xla_flags.active()


def test_autoclustering_default_by_model_kind_and_restored():
    import keras
    import tensorflow as tf

    from modelspec.training import runtime
    from modelspec.training.config import RuntimeConfig
    conv_in = keras.Input((8, 8, 1))
    conv = keras.Model(conv_in, keras.layers.Conv2D(2, 3)(conv_in))
    x = keras.layers.Conv2D(2, 3)(conv_in)
    conv_bn = keras.Model(conv_in, keras.layers.BatchNormalization()(x))
    dense_in = keras.Input((4,))
    dense_bn = keras.Model(dense_in, keras.layers.BatchNormalization()(
        keras.layers.Dense(2)(dense_in)))
    if not runtime.has_gpu():
        assert runtime.wants_autoclustering(RuntimeConfig.from_section({}), conv_bn) is True
    assert runtime.wants_autoclustering(RuntimeConfig.from_section({}), conv) is False  # LeNet-like: no gain measured
    assert runtime.wants_autoclustering(RuntimeConfig.from_section({}), dense_bn) is False  # fully XLA-compiled instead
    assert runtime.wants_autoclustering(RuntimeConfig.from_section({"seed": 0}), conv_bn) is False  # deterministic
    assert runtime.wants_autoclustering(RuntimeConfig.from_section({"seed": 0, "deterministic": False}), conv_bn) \
        is not runtime.has_gpu()
    assert runtime.wants_autoclustering(RuntimeConfig.from_section({"jit_compile": False}), conv_bn) is False
    before = tf.config.optimizer.get_jit()
    with runtime.autoclustering(True):
        assert tf.config.optimizer.get_jit() == "autoclustering"
    assert tf.config.optimizer.get_jit() == before
    with runtime.autoclustering(False):
        assert tf.config.optimizer.get_jit() == before


AUTOCLUSTER_SCRIPT = textwrap.dedent('''
    import os, sys
    import modelspec  # first: its XLA flags must be in place before TensorFlow starts
    import keras, tensorflow as tf
    from modelspec.training.run import train_spec
    seen = []
    fit = keras.Model.fit
    def recording_fit(self, *args, **kwargs):
        seen.append(tf.config.optimizer.get_jit())
        return fit(self, *args, **kwargs)
    keras.Model.fit = recording_fit
    r = train_spec(sys.argv[1], output=sys.argv[2], verbose=0)
    print("FLAGS", os.environ.get("TF_XLA_FLAGS"))
    print("DURING", seen)
    print("AFTER", repr(tf.config.optimizer.get_jit()))
''')

CONV_BN_SPEC = """\
modelspec: 1
name: conv_bn_digits
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Conv2D, filters: 16, kernel_size: 3, padding: same, use_bias: false}
    - {type: BatchNormalization}
    - {type: ReLU}
    - {type: Flatten}
    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:50%]", test: "all[50%:70%]"}') + """\
train:
  epochs: 4
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {tensorboard: false}
"""


def test_conv_bn_model_trains_with_autoclustering_then_restores(tmp_path):
    spec, script = tmp_path / "cbn.yaml", tmp_path / "cbn.py"
    spec.write_text(CONV_BN_SPEC)
    script.write_text(AUTOCLUSTER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_XLA_FLAGS", None)
    done = subprocess.run([sys.executable, str(script), str(spec), str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "--tf_xla_cpu_global_jit --tf_xla_ops_to_cluster=PW,RED,PWRED,BN,MISC" in out
    assert "DURING ['autoclustering']" in out
    assert "AFTER ''" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5, metrics
