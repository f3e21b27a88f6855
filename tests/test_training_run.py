"""Run directories, resume after kill -9 / SIGTERM, divergence and reproducibility.

The models here are built by hand (tiny Dense nets on in-memory tf.data), so these tests
exercise the training machinery independently of the spec compiler.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf, keras
    from modelspec.training.run import run_training, as_bundle
    from modelspec.cli.util import handle_errors

    def build():
        i = keras.Input((4,), name="x")
        h = keras.layers.Dense(16, activation="relu")(i)
        o = keras.layers.Dense(3, activation="softmax")(h)
        return {"model": keras.Model({"x": i}, {"y": o})}

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 4)).astype("float32")
    Y = (X[:, 0] > 0).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices(({"x": X}, {"y": Y})).batch(4)
    train = {"epochs": EPOCHS, "seed": 3, "loss": "sparse_categorical_crossentropy",
             "optimizer": {"type": "SGD", "learning_rate": 0.01, "momentum": 0.9},
             "metrics": ["accuracy"], "callbacks": {"tensorboard": False}}

    @handle_errors
    def main():
        r = run_training(train, sys.argv[1], build, as_bundle(ds, ds), fingerprint=FP,
                         name="kill", verbose=0)
        print("RESULT", r.epochs, r.resumed_from)
    main()
''')


def _script(tmp_path, n=1200, epochs=6, fp="fp1"):
    path = tmp_path / "train_script.py"
    path.write_text(SCRIPT.replace("N,", f"{n},").replace("EPOCHS", str(epochs))
                    .replace("FP", repr(fp)))
    return path


def _env():
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _wait_for_epoch(run, epoch, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = run / "state.json"
        if state.exists():
            try:
                if json.loads(state.read_text())["epoch"] >= epoch:
                    return
            except (json.JSONDecodeError, KeyError):
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("training did not reach the epoch in time")


def _optimizer_iterations(checkpoint_dir):
    with np.load(checkpoint_dir / "model.optimizer.npz") as data:
        return int(data["v0000"])


def _start(script, run):
    return subprocess.Popen([sys.executable, str(script), str(run)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill9_resume_sigterm_resume(tmp_path):
    """kill -9 → resume from the last completed epoch → SIGTERM mid-epoch → resume → done."""
    script, run = _script(tmp_path, n=1600, epochs=5), tmp_path / "run"
    steps = 1600 // 4
    proc = _start(script, run)
    _wait_for_epoch(run, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((run / "state.json").read_text())["epoch"]
    assert 1 <= killed_at < 5
    assert _optimizer_iterations(run / "checkpoints" / f"epoch-{killed_at:04d}") == \
        killed_at * steps

    proc = _start(script, run)
    _wait_for_epoch(run, killed_at + 1, proc)
    time.sleep(0.2)  # inside the next epoch
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert f"resuming kill from epoch {killed_at}" in err
    assert "interrupted" in err and "run the same command again" in err
    state = json.loads((run / "state.json").read_text())
    assert state["interrupted"]["epoch"] == state["epoch"] + 1
    assert 0 < state["interrupted"]["step"] < steps
    ckpt = run / "checkpoints" / state["checkpoint"]
    assert ckpt.name.endswith("-interrupted") and (ckpt / "model.weights.h5").exists()
    # the optimizer state continued across the kill and includes the interrupted steps
    assert _optimizer_iterations(ckpt) > state["epoch"] * steps

    done = subprocess.run([sys.executable, str(script), str(run)], env=_env(),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"RESULT 5 {state['epoch']}" in done.stdout
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["epoch"] == 5
    assert len(json.loads((run / "history.json").read_text())["loss"]) == 5
    iterations = _optimizer_iterations(run / "checkpoints" / state["checkpoint"])
    assert iterations == 5 * steps  # the interrupted epoch continued where it stopped
    assert (run / "final" / "model.weights.h5").exists()
    assert (run / "curves.png").stat().st_size > 1000
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best", "epoch-0004", "epoch-0005"]  # the one before: the fallback if damaged


def _tiny(seed=3, nan_epoch=None):
    import keras
    import tensorflow as tf

    def build():
        i = keras.Input((4,), name="x")
        h = keras.layers.Dense(8, activation="relu")(i)
        o = keras.layers.Dense(1)(h)
        return {"model": keras.Model({"x": i}, {"y": o})}

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32 * 4, 4)).astype("float32")
    y = x[:, :1] * 2.0
    if nan_epoch is not None:  # step 5 of epoch `nan_epoch`, 8 steps per epoch
        y[((nan_epoch - 1) * 8 + 4) * 4 + 1, 0] = np.nan
    ds = tf.data.Dataset.from_tensor_slices(({"x": x}, {"y": y})).batch(4)
    train = {"epochs": 4, "seed": seed, "loss": "mse", "optimizer": "adam",
             "steps_per_epoch": 8, "callbacks": {"tensorboard": False}}
    return train, build, ds


@pytest.mark.parametrize("steps_per_execution, where", [
    (None, "steps 1–8"),  # the default runs 8 steps per call: the group is named
    (1, "step 5"),
])
def test_nan_loss_raises_diverged_and_keeps_checkpoint(tmp_path, steps_per_execution, where):
    from modelspec.errors import DivergedError
    from modelspec.training.run import as_bundle, run_training
    from modelspec.training.rundir import RunDir, load_models
    train, build, ds = _tiny(nan_epoch=3)
    if steps_per_execution:
        train["steps_per_execution"] = steps_per_execution
    with pytest.raises(DivergedError) as info:
        run_training(train, tmp_path / "run", build, as_bundle(ds), fingerprint="f",
                     verbose=0)
    assert info.value.exit_code == 3
    msg = str(info.value)
    assert f"loss is nan at epoch 3, {where};" in msg
    assert "last good checkpoint (epoch 2)" in msg
    state = RunDir(tmp_path / "run").state()
    assert state["epoch"] == 2 and state["checkpoint"] == "epoch-0002"
    models = build()
    load_models(tmp_path / "run" / "checkpoints" / "epoch-0002", models)
    assert all(np.isfinite(w).all() for w in models["model"].get_weights())
    assert not (tmp_path / "run" / "final").exists()


def test_changed_spec_refuses_to_resume_unless_restart(tmp_path):
    from modelspec.errors import StateConflictError
    from modelspec.training.run import as_bundle, run_training
    train, build, ds = _tiny()
    train["epochs"] = 1
    ds = ds.repeat()
    run_training(train, tmp_path / "run", build, as_bundle(ds), fingerprint="a" * 64,
                 verbose=0)
    with pytest.raises(StateConflictError) as info:
        run_training(train, tmp_path / "run", build, as_bundle(ds), fingerprint="b" * 64,
                     verbose=0)
    assert info.value.exit_code == 4
    assert "different spec" in str(info.value) and "--restart" in str(info.value)
    result = run_training(train, tmp_path / "run", build, as_bundle(ds),
                          fingerprint="b" * 64, restart=True, verbose=0)
    assert result.resumed_from == 0 and result.epochs == 1


def test_seeded_runs_are_bit_identical(tmp_path):
    from modelspec.training.run import as_bundle, run_training
    weights = []
    for i in range(2):
        train, build, ds = _tiny(seed=11)
        train["epochs"] = 2
        # datasets are built after the seed is applied, as train_spec does
        result = run_training(train, tmp_path / f"run{i}", build,
                              lambda models, ds=ds: as_bundle(ds.shuffle(16).repeat()),
                              fingerprint="s", verbose=0)
        weights.append(result.models["model"].get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    train, build, ds = _tiny(seed=12)
    train["epochs"] = 2
    ds = ds.repeat()
    other = run_training(train, tmp_path / "run3", build, as_bundle(ds), fingerprint="s",
                         verbose=0).models["model"].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], other))


def test_multi_output_losses_weights_and_metrics(tmp_path):
    import keras
    import tensorflow as tf

    from modelspec.training.run import as_bundle, run_training

    def build():
        i = keras.Input((4,), name="x")
        h = keras.layers.Dense(8, activation="relu")(i)
        cls = keras.layers.Dense(2, activation="softmax", name="cls")(h)
        reg = keras.layers.Dense(1, name="reg")(h)
        return {"model": keras.Model({"x": i}, {"label": cls, "value": reg})}

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    targets = {"label": (x[:, 0] > 0).astype("int32"), "value": x[:, 1:2]}
    ds = tf.data.Dataset.from_tensor_slices(({"x": x}, targets)).batch(16)
    train = {"epochs": 2, "seed": 0, "optimizer": "adam",
             "loss": {"label": "sparse_categorical_crossentropy", "value": {"type": "Huber"}},
             "loss_weights": {"label": 1.0, "value": 0.5},
             "metrics": {"label": ["accuracy"], "value": [{"type": "MeanAbsoluteError"}]},
             "callbacks": {"tensorboard": False, "reduce_lr_on_plateau": {"patience": 1}}}
    result = run_training(train, tmp_path / "run", build, as_bundle(ds, ds), fingerprint="m",
                          verbose=0)
    history = result.history
    for key in ("label_loss", "value_loss", "label_accuracy", "value_mean_absolute_error",
                "val_label_accuracy"):
        assert len(history[key]) == 2, sorted(history)
    assert np.isclose(history["loss"][-1], history["label_loss"][-1]
                      + 0.5 * history["value_loss"][-1], rtol=1e-3)


def test_early_stopping_records_the_epochs_trained_and_a_rerun_does_not_train(tmp_path, capsys):
    from modelspec.training.run import as_bundle, run_training
    train, build, ds = _tiny()
    train["callbacks"] = {"tensorboard": False, "early_stopping": {
        "monitor": "loss", "patience": 0, "min_delta": 100.0}}  # no epoch improves by 100
    result = run_training(train, tmp_path / "run", build, as_bundle(ds.repeat()),
                          fingerprint="f", verbose=0)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert result.epochs == 2  # epoch 1 sets the best, epoch 2 does not improve: stop
    assert state["finished"] and state["epoch"] == 2 and state["epochs"] == 4
    assert state["stopped_early"] is True
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 2
    again = run_training(train, tmp_path / "run", build, as_bundle(ds.repeat()),
                         fingerprint="f", verbose=0)
    assert again.epochs == 2 and again.resumed_from == 2
    err = capsys.readouterr().err
    assert "stopped early at epoch 2 of 4" in err and "resuming" not in err
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 2
    longer = run_training(train, tmp_path / "run", build, as_bundle(ds.repeat()),
                          fingerprint="f", verbose=0, epochs=6)
    assert longer.resumed_from == 2 and longer.epochs == 4  # stops early again, 2 epochs on
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 4 and state["epochs"] == 6 and state["stopped_early"]


def test_best_checkpoint_cut_mid_swap_is_restored_before_resuming(tmp_path):
    import os

    from modelspec.training.run import as_bundle, run_training
    from modelspec.training.rundir import RunDir
    train, build, ds = _tiny()
    train["epochs"] = 2
    ds = ds.repeat()
    run_training(train, tmp_path / "run", build, as_bundle(ds), fingerprint="f", verbose=0)
    run = RunDir(tmp_path / "run")
    best = run.checkpoints / "best"
    saved = sorted(p.name for p in best.iterdir())
    # a kill between replace_dir's two renames: best/ moved aside, the new one not yet in
    os.replace(best, run.checkpoints / ".best.old")
    run_training(train, tmp_path / "run", build, as_bundle(ds), fingerprint="f", verbose=0)
    assert sorted(p.name for p in best.iterdir()) == saved   # the complete one is back
    assert not (run.checkpoints / ".best.old").exists()
    os.replace(tmp_path / "run" / "final", tmp_path / "run" / ".final.old")  # same for final/
    run.recover()
    assert (tmp_path / "run" / "final" / "model.weights.h5").is_file()
