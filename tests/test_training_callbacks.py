"""EpochCheckpoint and SignalStop under `steps_per_execution` > 1 (modelspec's default).

A signal arriving while Keras runs a group of steps stops training at the end of that group;
when the group was the epoch's last, the epoch is complete and must be saved as one (no work
and no history lost), otherwise the checkpoint is an interrupted one that records the steps done
(the resume continues at the next step: tests/test_training_midepoch.py).
"""

from __future__ import annotations

import signal

import numpy as np
import pytest


def _fit_with_signal(tmp_path, at_epoch, at_step, steps_per_execution=4):
    import keras
    import tensorflow as tf

    from modelspec.training.callbacks import EpochCheckpoint, SignalStop
    from modelspec.training.rundir import RunDir

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(8)  # 8 steps per epoch
    run = RunDir(tmp_path / "run")
    stopper = SignalStop()
    seen = []

    class Trigger(keras.callbacks.Callback):
        """Plays the signal handler: SIGTERM arrives during the group ending at `at_step`."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
            if self.epoch == at_epoch and batch >= at_step and stopper.signum is None:
                stopper.signum = signal.SIGTERM

    checkpoint = EpochCheckpoint(run, {"model": model}, {"model": model.optimizer},
                                 {"fingerprint": "f"}, monitor="loss", stopper=stopper)
    model.fit(data, epochs=4, verbose=0, callbacks=[Trigger(), stopper, checkpoint])
    return run, seen


def test_signal_in_the_last_group_of_steps_keeps_the_complete_epoch(tmp_path):
    run, seen = _fit_with_signal(tmp_path, at_epoch=1, at_step=7)
    assert seen == [3, 7, 3, 7]  # Keras reported each group of 4 steps once
    state = run.state()
    assert state["epoch"] == 2 and state["checkpoint"] == "epoch-0002"
    assert state["interrupted"] is None
    assert len(run.history()["loss"]) == 2


def test_signal_inside_an_epoch_saves_an_interrupted_checkpoint(tmp_path):
    run, seen = _fit_with_signal(tmp_path, at_epoch=1, at_step=3)
    assert seen == [3, 7, 3]
    state = run.state()
    assert state["epoch"] == 1 and state["checkpoint"] == "epoch-0001-interrupted"
    assert state["interrupted"] == {"epoch": 2, "step": 4}  # resumed at step 5
    assert len(run.history()["loss"]) == 1


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_epoch_end_is_found_whatever_the_group_size(tmp_path, steps_per_execution):
    # 8 steps in groups of 3: Keras reports the shorter last group as ending at step 8
    run, _ = _fit_with_signal(tmp_path, at_epoch=0, at_step=7,
                              steps_per_execution=steps_per_execution)
    assert run.state()["epoch"] == 1 and run.state()["interrupted"] is None
