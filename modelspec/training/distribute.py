"""tf.distribute strategies from `train.distribute`, and local multi-worker launches.

- `default`: TensorFlow's default strategy (one device, no distribution).
- `one_device`: `OneDeviceStrategy` on `devices[0]` (e.g. `/gpu:1`).
- `mirrored`: `MirroredStrategy` over `devices` (all GPUs by default; on a CPU-only machine
  the logical CPU devices configured before TensorFlow starts).
- `multi_worker`: `MultiWorkerMirroredStrategy` configured by the `TF_CONFIG` environment
  variable (the cluster and this worker's index). Keras 3.15's `fit` fails under this strategy
  (keras-team/keras#20585), so the supervised loop runs a custom step with `strategy.run`
  (see `loops.multiworker`).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from modelspec.errors import UsageError


def tf_config() -> dict | None:
    """The parsed `TF_CONFIG` environment variable, or None."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise UsageError(f"TF_CONFIG is not valid JSON: {err}") from None


def make_strategy(config: dict | None):
    """Creates the strategy a `train.distribute` mapping asks for.

    Args:
        config: `{strategy: mirrored, devices: [...], communication: auto}` or None.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        UsageError: For multi_worker without `TF_CONFIG`.
    """
    config = config or {}
    kind = config.get("strategy", "default")
    devices = config.get("devices") or None
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "one_device":
        return tf.distribute.OneDeviceStrategy(devices[0] if devices else "/cpu:0")
    if kind == "mirrored":
        if devices is None and not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multi_worker":
        if tf_config() is None:
            raise UsageError("train.distribute.strategy is 'multi_worker' but TF_CONFIG is not "
                             "set; start workers with `modelspec train SPEC --workers N` or set "
                             "TF_CONFIG on each machine (see docs/training.md)")
        comm = {"auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
                "ring": tf.distribute.experimental.CommunicationImplementation.RING,
                "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL}[
            config.get("communication", "auto")]
        options = tf.distribute.experimental.CommunicationOptions(implementation=comm)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise UsageError(f"unknown distribution strategy '{kind}'")


def is_multi_worker(strategy) -> bool:
    """Whether `strategy` spans several workers."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
