"""The search: a KerasTuner tuner whose trials are ordinary modelspec training runs.

`SpecTuner` subclasses KerasTuner's `BaseTuner` (the model-agnostic tuner: the oracle, its
project directory, resuming and the chief/worker distribution are KerasTuner's). Each
trial checks the spec with the trial's values as `params` overrides and trains it with
`modelspec.training.run.train_spec` into `OUT/trials/<trial id>/`, so it has the spec's data
pipeline, loop, seeds, runtime defaults and a resumable run directory of its own. After a
kill, KerasTuner reloads the oracle from `OUT/keras_tuner/` and retries the trials that were
running, whose run directories resume from their last checkpoint.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras_tuner
from keras_tuner.src.engine.base_tuner import BaseTuner

from modelspec.errors import ModelspecError
from modelspec.source import LoadedSpec
from modelspec.training.rundir import atomic_write_json, read_json
from modelspec.tune.config import TuneConfig
from modelspec.tune.space import make_oracle, spec_values

PROJECT = "keras_tuner"
TRIAL_FILE = "trial.json"


@dataclass(frozen=True)
class TrialRecord:
    """What one trial (or the baseline) trained and measured."""

    trial_id: str
    values: dict[str, Any]
    metrics: dict[str, float]
    epochs: int
    seconds: float
    run_dir: str
    tuner_id: str = "tuner0"


def clean_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Spec values of a trial: no Hyperband keys, floats without binary noise (0.3, not
    0.30000000000000004), so that best.yaml holds exactly what the trial trained."""
    return {k: float(f"{v:.12g}") if isinstance(v, float) else v
            for k, v in spec_values(values).items()}


def _with_seed(loaded: LoadedSpec, offset: int) -> LoadedSpec:
    """The spec with `train.seed` moved by `offset` (another execution of a trial)."""
    train = dict(loaded.data.get("train") or {})
    if offset == 0 or not isinstance(train.get("seed"), int):
        return loaded
    train["seed"] = train["seed"] + offset
    return replace(loaded, data=dict(loaded.data, train=train))


def train_once(loaded: LoadedSpec, values: dict[str, Any], run_dir: Path,
               epochs: int | None) -> dict[str, Any]:
    """Trains the spec with `values` as params into `run_dir` (resuming it) and returns its
    final metrics; a run that already finished is read back, not trained again."""
    from modelspec.lang.checks import check
    from modelspec.training.config import TrainConfig
    from modelspec.training.run import train_spec

    spec = check(loaded, values)
    target = epochs if epochs is not None else \
        TrainConfig.from_section(spec.section("train") or {}).epochs
    state = read_json(run_dir / "state.json")
    if state and state.get("finished") and int(state.get("epochs", 0)) >= target:
        return read_json(run_dir / "metrics.json", {}) or {}
    return train_spec(spec, epochs=epochs, output=run_dir, verbose=0).metrics


def run_configuration(loaded: LoadedSpec, values: dict[str, Any], trial_dir: Path,
                      epochs: int | None, executions: int) -> TrialRecord:
    """Trains one configuration `executions` times (seeds 0, 1, ... after train.seed) and
    records the mean of each final metric in `trial_dir/trial.json`."""
    start = time.monotonic()
    runs = []
    for index in range(executions):
        run_dir = trial_dir if executions == 1 else trial_dir / f"execution-{index}"
        runs.append(train_once(_with_seed(loaded, index), values, run_dir, epochs))
    names = [k for k in runs[0] if all(isinstance(r.get(k), (int, float)) for r in runs)]
    metrics = {k: sum(float(r[k]) for r in runs) / len(runs) for k in names}
    done = read_json((trial_dir if executions == 1 else trial_dir / "execution-0")
                     / "state.json", {}) or {}
    record = TrialRecord(trial_dir.name, values, metrics, int(done.get("epoch", 0)),
                         round(time.monotonic() - start, 1), str(trial_dir),
                         os.environ.get("KERASTUNER_TUNER_ID", "tuner0"))
    atomic_write_json(trial_dir / TRIAL_FILE, record.__dict__)
    return record


class SpecTuner(BaseTuner):
    """KerasTuner's `BaseTuner` running modelspec trainings as trials."""

    def __init__(self, loaded: LoadedSpec, config: TuneConfig, output: Path, epochs: int,
                 **kwargs: Any) -> None:
        self.loaded, self.config, self.output, self.epochs = loaded, config, output, epochs
        super().__init__(oracle=make_oracle(config, epochs), directory=str(output),
                         project_name=PROJECT, **kwargs)

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
        values = trial.hyperparameters.values
        trial_dir = self.output / "trials" / trial.trial_id
        previous = values.get("tuner/trial_id")
        if previous and not (trial_dir / "state.json").exists():  # Hyperband's next round
            shutil.copytree(self.output / "trials" / previous, trial_dir, dirs_exist_ok=True)
        epochs = int(values.get("tuner/epochs", self.epochs))
        try:
            record = run_configuration(self.loaded, clean_values(values), trial_dir, epochs,
                                       self.config.executions_per_trial)
        except ModelspecError as err:
            print(f"trial {trial.trial_id} failed: {err}", file=sys.stderr)
            raise keras_tuner.errors.FailedTrialError(str(err)) from None
        return record.metrics


def run_search(loaded: LoadedSpec, config: TuneConfig, output: Path,
               overwrite: bool = False) -> SpecTuner:
    """Runs (or resumes) the search in `output`; returns the tuner.

    Under KerasTuner's distribution variables (`KERASTUNER_TUNER_ID`, `_ORACLE_IP`,
    `_ORACLE_PORT`) this process is the chief (it serves the oracle until every trial has
    ended) or a worker (it asks the chief for trials and runs them).
    """
    output.mkdir(parents=True, exist_ok=True)
    tuner = SpecTuner(loaded, config, output, config.trial_epochs(),
                      overwrite=overwrite)
    tuner.search(verbose=1)
    return tuner


def run_baseline(loaded: LoadedSpec, config: TuneConfig, output: Path) -> TrialRecord:
    """Trains the spec as written (its own params) with the trials' budget, for comparison."""
    defaults = {p.name: p.default for p in config.params}
    return run_configuration(loaded, defaults, output / "baseline",
                             config.trial_epochs(), config.executions_per_trial)


def trial_records(tuner: SpecTuner) -> list[tuple[Any, TrialRecord | None]]:
    """Every trial of the oracle with its record (None when it wrote none: failed)."""
    out = []
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.trials[trial_id]
        data = read_json(tuner.output / "trials" / trial_id / TRIAL_FILE)
        out.append((trial, TrialRecord(**data) if data else None))
    return out

