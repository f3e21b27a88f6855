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


def _weights(directory: Path) -> list:
    import h5py
    out = []
    with h5py.File(directory / "model.weights.h5", "r") as fh:
        fh.visititems(lambda n, obj: out.append((n, np.array(obj)))
                      if isinstance(obj, h5py.Dataset) else None)
    return out


def _close(ours: list, theirs: list, atol: float) -> bool:
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    return all(np.allclose(a, b, rtol=0, atol=atol)
               for (_, a), (_, b) in zip(ours, theirs, strict=True))


def _spawn_workers(spec: Path, run: Path, *args: str, workers: int = 2,
                   plugin: Path | None = None) -> list:
    """Starts a local cluster as a user would on several machines: TF_CONFIG per process."""
    from modelspec.training.cli import _free_ports
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(workers)]}
    procs = []
    for index in range(workers):
        env = dict(_env(), TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "modelspec", *(["--plugin", str(plugin)] if plugin else []),
             "train", str(spec), "-o", str(run), "-q",
             "--strategy", "multi_worker", *args], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    return procs


EQUIV = """\
modelspec: 1
name: mw_digits
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: h1, type: Dense, units: 16, activation: relu}
    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:256]", validation: "all[256:384]"}', batching=False) + """\
  batch_size: 32
  shuffle: false
train:
  epochs: 6
  seed: 1
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {tensorboard: false}
"""


def test_two_workers_match_one_worker_and_a_killed_cluster_resumes(tmp_path):
    """Same global batch (32 = 2 × 16, 8 full steps an epoch): 2 workers reach the weights of
    1 worker (`fit`) within float tolerance, also across a kill of both workers mid-run."""
    import signal
    import time

    from modelspec.training.run import train_spec
    spec = tmp_path / "mw.yaml"
    spec.write_text(EQUIV)
    run = tmp_path / "two"
    procs = _spawn_workers(spec, run)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        state = (run / "state.json").exists() and json.loads((run / "state.json").read_text())
        if state and state["epoch"] >= 2:
            break
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)  # a worker dies; the cluster manager restarts all
    procs[0].send_signal(signal.SIGKILL)
    outputs = [p.communicate() for p in procs]
    assert (run / "state.json").exists(), [o[1][-3000:] for o in outputs]
    killed_at = json.loads((run / "state.json").read_text())
    assert 2 <= killed_at["epoch"] < 6 and not killed_at["finished"], killed_at

    procs = _spawn_workers(spec, run)
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-3000:] for o in outputs]
    assert f"resuming mw_digits from epoch {killed_at['epoch']}" in outputs[0][1]
    assert not any("different weights" in err for _, err in outputs)  # checked at the end
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["epoch"] == 6 and state["replicas"] == 2
    history = json.loads((run / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 6 for values in history.values())

    one = train_spec(spec, output=tmp_path / "one", verbose=0)
    assert _close(_weights(run / "final"), _weights(tmp_path / "one" / "final"), atol=1e-4)
    for key, values in one.history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-4, err_msg=key)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics.keys() == one.metrics.keys()  # the chief's diagnostics: per_class, macro
    assert abs(metrics["validation_macro_f1"] - one.metrics["validation_macro_f1"]) < 0.02


def test_two_workers_train_in_mixed_float16_as_one_worker_does(tmp_path):
    """`precision: mixed_float16` on 2 workers: float16 compute, float32 variables and the
    LossScaleOptimizer Keras's `compile` adds, stepping in every replica; the history and the
    optimizer's state (its dynamic loss scale, 2**15, among them) match one worker's."""
    from modelspec.training.run import train_spec
    spec = tmp_path / "mw.yaml"
    spec.write_text(EQUIV.replace("epochs: 6", "epochs: 2").replace(
        "  seed: 1\n", "  seed: 1\n  precision: mixed_float16\n"))
    procs = _spawn_workers(spec, tmp_path / "two")
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-3000:] for o in outputs]
    one = train_spec(spec, output=tmp_path / "one", verbose=0)
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    for key, values in one.history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-3, err_msg=key)
    ours, theirs = (np.load(tmp_path / run / "checkpoints" / "epoch-0002" /
                            "model.optimizer.npz") for run in ("two", "one"))
    assert ours.files == theirs.files
    assert 2.0 ** 15 in [float(theirs[k]) for k in theirs.files if theirs[k].shape == ()]
    for key in theirs.files:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=1e-3, err_msg=key)
    assert _close(_weights(tmp_path / "two" / "final"), _weights(tmp_path / "one" / "final"),
                  atol=1e-3)


def test_workers_2_on_the_mlp_classifier_stop_early_together(tmp_path, monkeypatch):
    """`modelspec train specs/mlp_classifier.yaml --workers 2` with its metrics and early
    stopping (made to fire at epoch 2) writes the run directory one worker writes."""
    from modelspec.training.cli import train_command
    from modelspec.training.run import train_spec
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    text = (REPO / "specs" / "mlp_classifier.yaml").read_text()
    assert "patience: 5, restore_best_weights: true" in text
    spec = tmp_path / "mlp_classifier.yaml"
    spec.write_text(text.replace("patience: 5,", "patience: 1, min_delta: 10,"))
    run = tmp_path / "two"
    result = CliRunner().invoke(train_command, [str(spec), "-o", str(run), "--epochs", "6"])
    assert result.exit_code == 0, result.output
    one = train_spec(spec, epochs=6, output=tmp_path / "one", verbose=0)

    def listing(root: Path) -> list:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if "logs" not in p.relative_to(root).parts[:1] or p.is_dir())
    assert listing(run) == listing(tmp_path / "one")
    assert (run / "confusion.png").exists()  # the test split's diagnostics, on the chief
    assert list((run / "logs").rglob("*.tfevents.*"))  # TensorBoard, on the chief
    state = json.loads((run / "state.json").read_text())
    assert state["stopped_early"] and state["epoch"] == 2 == one.epochs
    history = json.loads((run / "history.json").read_text())
    assert history.keys() == one.history.keys() and len(history["loss"]) == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics.keys() == one.metrics.keys() and "test_accuracy" in metrics
    assert metrics["per_class"]["digit"].keys() == one.metrics["per_class"]["digit"].keys()
    # restore_best_weights took epoch 1 on every worker; its last batch (1257 = 39 × 32 + 9)
    # is split 5 + 4, which Keras averages per replica: close to one machine, not identical
    assert _close(_weights(run / "final"), _weights(tmp_path / "one" / "final"), atol=1e-3)
    assert abs(metrics["test_accuracy"] - one.metrics["test_accuracy"]) < 0.02
    assert abs(metrics["test_macro_f1"] - one.metrics["test_macro_f1"]) < 0.02


def test_only_the_chief_writes_the_run_directory(tmp_path, monkeypatch):
    from modelspec.training.distribute import worker_output
    train = {"distribute": {"strategy": "multi_worker"}}
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    with worker_output(train, tmp_path / "run") as out:
        assert out != tmp_path / "run" and out.is_dir() and "modelspec-worker-1-" in out.name
        (out / "state.json").write_text("{}")
    assert not out.exists() and not (tmp_path / "run").exists()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 0}}))
    with worker_output(train, tmp_path / "run") as out:
        assert out == tmp_path / "run"
    with worker_output({}, tmp_path / "run") as out:  # one machine
        assert out == tmp_path / "run"


def test_local_launcher_stops_the_other_workers_when_one_fails():
    from modelspec.training.cli import _wait_all
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    failing = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert _wait_all([sleeper, failing], grace=5) == 3
    assert sleeper.returncode is not None  # terminated, not left waiting for its peer


def test_sigterm_on_the_chief_stops_every_worker_after_the_same_step(tmp_path):
    """The signal lands wherever the chief happens to be (inside a collective, writing a
    checkpoint, ...): both workers stop after the same step and exit 143."""
    import signal
    import time
    spec = tmp_path / "mw.yaml"
    spec.write_text(EQUIV.replace("epochs: 6", "epochs: 50"))
    run = tmp_path / "run"
    procs = _spawn_workers(spec, run)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        if (run / "state.json").exists():
            break
        time.sleep(0.05)
    procs[0].send_signal(signal.SIGTERM)  # the chief only: the workers share the stop
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [143, 143], [o[1][-2000:] for o in outputs]
    assert "interrupted; a checkpoint is in" in outputs[0][1]
    state = json.loads((run / "state.json").read_text())
    assert not state["finished"] and 1 <= state["epoch"] < 50
    assert (run / "checkpoints" / state["checkpoint"] / "model.weights.h5").exists()


SIGNAL_PLUGIN = """\
import json, os, signal
import keras
import modelspec


class SignalAfterTraining(keras.callbacks.Callback):
    \"\"\"SIGTERM to worker `worker` itself when epoch `epoch`'s training steps end.\"\"\"

    def __init__(self, worker=1, epoch=1):
        super().__init__()
        self.worker, self.epoch, self.current = worker, epoch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        if (index, self.current, batch + 1) == (self.worker, self.epoch, self.params["steps"]):
            signal.raise_signal(signal.SIGTERM)


modelspec.register_callback("signal_after_training", SignalAfterTraining)
"""


def test_a_signal_between_training_and_validation_stops_both_workers_after_the_epoch(
        tmp_path):
    """Worker 1 is signalled after its last training call of epoch 2, before the validation
    pass (where a worker that read its own flag would skip the validation its peer runs and
    pair different collectives: "Collective instance N expected ... data_type 1 but got
    ... data_type 2"). The stop is agreed at the epoch's end: epoch 2, validated, is saved
    complete on the chief and both workers exit 143."""
    plugin = tmp_path / "signal_plugin.py"
    plugin.write_text(SIGNAL_PLUGIN)
    spec = tmp_path / "mw.yaml"
    spec.write_text(EQUIV.replace("epochs: 6", "epochs: 4").replace(
        "callbacks: {tensorboard: false}",
        "callbacks: {tensorboard: false, signal_after_training: {worker: 1, epoch: 1}}"))
    run = tmp_path / "run"
    procs = _spawn_workers(spec, run, plugin=plugin)
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [143, 143], [o[1][-2000:] for o in outputs]
    assert "interrupted; a checkpoint is in" in outputs[0][1]
    state = json.loads((run / "state.json").read_text())
    assert (state["epoch"], state["checkpoint"], state["interrupted"]) == (2, "epoch-0002", None)
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_loss"]) == 2


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
