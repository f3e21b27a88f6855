"""`TrainContext`: what `modelspec.training.run` hands a loop (`modelspec.training.loops`).

A module of its own so that the loops can name the type without importing `run` (which
imports them). No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelspec.errors import UsageError
from modelspec.training.config import TrainConfig
from modelspec.training.rundir import RunDir


@dataclass
class TrainContext:
    """Everything a loop needs; loops read it and set `models` to what they trained.

    Args:
        config: The typed `train:` section.
        run: The run directory.
        bundle: The datasets (`.train`, `.validation`, `.test`, ...: a `DataBundle`).
        build: Returns the models, built once inside the strategy's scope.
        strategy: The `tf.distribute.Strategy`.
        epochs: The epoch to train up to.
        initial_epoch: The epoch training continues from.
        checkpoint: The checkpoint to resume from, or None.
        base_state: What every checkpoint's `state.json` records (fingerprint, name, ...).
        stopper: The `SignalStop` callback (SIGTERM / Ctrl-C).
        verbose: Keras progress output.
        models: Set by the loop: the trained models.
        resume_state: The state resumed from (callback counters, ...).
    """

    config: TrainConfig
    run: RunDir
    bundle: Any
    build: Callable[[], dict[str, Any]]
    strategy: Any
    epochs: int
    initial_epoch: int
    checkpoint: Path | None
    base_state: dict[str, Any]
    stopper: Any
    verbose: int | str = "auto"
    models: dict[str, Any] = field(default_factory=dict)
    resume_state: dict[str, Any] | None = None

    @property
    def train(self) -> Mapping[str, Any]:
        """The resolved `train:` section as a mapping (what the multi-worker loop reads)."""
        return self.config.section

    @staticmethod
    def usage(message: str) -> UsageError:
        return UsageError(message)
