"""`tune`: the search, the baseline and the report, as `modelspec tune` runs them."""

from __future__ import annotations

import os
from pathlib import Path

from modelspec.source import LoadedSpec
from modelspec.tune.config import TuneConfig
from modelspec.tune.report import (
    Leaderboard,
    leaderboard,
    leaderboard_table,
    write_best_spec,
    write_tune_json,
)
from modelspec.tune.search import run_baseline, run_search, trial_records


def is_worker() -> bool:
    """True in a KerasTuner worker process (KERASTUNER_TUNER_ID other than the chief's)."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    return bool(os.environ.get("KERASTUNER_ORACLE_IP")) and "chief" not in str(tuner_id)


def tune(loaded: LoadedSpec, config: TuneConfig, output: Path, spec_path: str,
         echo: bool = True) -> Leaderboard | None:
    """Runs or resumes the search in `output`, then (in the chief or a local search) trains
    the baseline and writes `tune.json` and `best.yaml`; returns the leaderboard (None in a
    worker, which only runs trials)."""
    tuner = run_search(loaded, config, output)
    if is_worker():
        return None
    baseline = run_baseline(loaded, config, output) if config.baseline else None
    board = leaderboard(config, trial_records(tuner), baseline)
    write_tune_json(board, output / "tune.json", spec_path)
    write_best_spec(board, loaded.text, output / "best.yaml", spec_path)
    if echo:
        print(leaderboard_table(board))
        if board.best is not None:
            print(f"best spec: {output / 'best.yaml'} (train it with `modelspec train "
                  f"{output / 'best.yaml'}`)")
        print(f"search directory: {output}")
    return board
