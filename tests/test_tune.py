"""`modelspec tune`: the `tune:` section's checks, a local search, resuming it, best.yaml,
and KerasTuner's distributed mode with two local workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner
from digits_data import digits_data

REPO = Path(__file__).resolve().parents[1]

SPEC = """\
modelspec: 1
name: tiny_tune
params: {width: 16, rate: 0.0}
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {type: Flatten}
    - {id: hidden, type: Dense, units: $width, activation: relu}
    - {type: Dropout, rate: $rate, if: $(rate > 0)}
    - {id: probs, type: Dense, units: 10, activation: softmax}
  outputs: {digit: probs}
""" + digits_data('{train: "all[:30%]", validation: "all[30%:45%]", test: "all[45%:60%]"}') + """\
train:
  epochs: 1
  seed: 0
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
tune:
  objective: val_accuracy
  max_trials: 2
  seed: 3
  params:
    width: {type: Choice, values: [4, 32]}
    rate: {type: Float, min_value: 0.0, max_value: 0.4, step: 0.2}
"""


def _with_tune(tune: str) -> str:
    return SPEC[:SPEC.index("tune:")] + textwrap.dedent(tune).lstrip("\n")


def test_tune_section_errors_are_positioned(spec_problems):
    problems = spec_problems(_with_tune("""
        tune:
          objective: val_acuracy
          factor: 3
          params:
            widht: {type: Choice, values: [4, 32]}
            rate: {type: Float, min_value: 0.5, max_value: 0.1}
            width: {type: Float, min_value: 0.0, max_value: 1.0, sampling: log}
        """))
    text = "\n".join(problems)
    assert "spec.yaml:27:14: tune.objective: the training loop does not log 'val_acuracy'" \
        in text and "(did you mean 'val_accuracy'?)" in text
    assert "spec.yaml:28:3: tune.factor: 'factor' is an option of the hyperband algorithm" \
        in text
    assert "spec.yaml:30:5: tune.params.widht: no parameter 'widht' to search — expected a " \
        "key of 'params:' (width, rate) (did you mean 'width'?)" in text
    assert "tune.params.rate.min_value: empty range: min_value 0.5 is greater than " \
        "max_value 0.1" in text
    assert "tune.params.width.min_value: log sampling needs a positive range" in text
    assert len(problems) == 5


def test_tune_schema_is_closed_and_objective_direction_needed(spec_problems):
    problems = spec_problems(_with_tune("""
        tune:
          objective: val_loss
          algorithm: hyperband
          max_trials: 3
          params: {width: {type: Choice, values: [4, 32], step: 2}}
        """))
    assert any("tune.params.width" in p and "step" in p for p in problems), problems
    problems = spec_problems(_with_tune("""
        tune:
          objective: val_loss
          algorithm: hyperband
          max_trials: 3
          params: {width: {type: Int, min_value: 4, max_value: 32}}
        """))
    assert len(problems) == 1 and "hyperband sets the number of trials itself" in problems[0]
    assert spec_problems(_with_tune("""
        tune:
          objective: {name: val_loss, direction: min}
          params: {width: {type: Int, min_value: 4, max_value: 32, step: 4}}
        """)) == []


def test_tune_section_is_in_the_document_schema():
    from modelspec.lang.schema.document import document_schema
    tune = document_schema()["properties"]["tune"]
    assert tune["additionalProperties"] is False and "objective" in tune["required"]


def test_search_writes_leaderboard_and_best_spec_and_resumes(tmp_path):
    from modelspec.build.compiler import build_from_spec
    from modelspec.lang.checks import load_and_check
    from modelspec.tune.cli import tune_command

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "search"
    result = CliRunner().invoke(tune_command, [str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "leaderboard (val_accuracy, higher is better)" in result.output
    assert "baseline" in result.output
    report = json.loads((out / "tune.json").read_text())
    assert len(report["trials"]) == 2 and report["baseline"]["values"] == {"width": 16,
                                                                         "rate": 0.0}
    scores = [t["metrics"]["val_accuracy"] for t in report["trials"]]
    assert scores == sorted(scores, reverse=True)
    best = report["best"]
    best_spec = load_and_check(out / "best.yaml")
    assert "tune" not in best_spec.raw
    assert best_spec.params == {"width": best["values"]["width"],
                                "rate": best["values"]["rate"]}
    trial_spec = load_and_check(spec, overrides=best["values"])
    assert build_from_spec(best_spec).count_params() == \
        build_from_spec(trial_spec).count_params()
    # again, with one more trial: the two finished trials are not trained again
    stamp = (out / "trials" / "0" / "metrics.json").stat().st_mtime_ns
    result = CliRunner().invoke(tune_command, [str(spec), "-o", str(out), "--max-trials", "3"])
    assert result.exit_code == 0, result.output
    assert (out / "trials" / "0" / "metrics.json").stat().st_mtime_ns == stamp
    assert len(json.loads((out / "tune.json").read_text())["trials"]) == 3


def test_interrupted_trial_is_retried_and_its_run_resumes(tmp_path):
    """A search killed during a trial: KerasTuner retries that trial (same values) and its
    run directory resumes; nothing finished is trained again."""
    from modelspec.lang.checks import load_and_check
    from modelspec.tune.config import tune_config
    from modelspec.tune.run import tune
    from modelspec.tune.search import SpecTuner

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.replace("max_trials: 2", "max_trials: 1"))
    checked = load_and_check(spec)
    config = tune_config(checked)
    out = tmp_path / "search"
    tuner = SpecTuner(checked.loaded, config, out, 1)
    trial = tuner.oracle.create_trial(tuner.tuner_id)   # the search starts a trial ...
    tuner.save()                                         # ... and the process is killed
    board = tune(checked.loaded, config, out, str(spec), echo=False)
    assert [r.trial_id for r in board.ranked] == [trial.trial_id]
    assert board.ranked[0].values == {k: v for k, v in trial.hyperparameters.values.items()}


def test_distributed_search_with_two_workers(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.replace("max_trials: 2", "max_trials: 3"))
    out = tmp_path / "search"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "modelspec", "tune", str(spec), "-o",
                           str(out), "--workers", "2"], env=env, capture_output=True,
                          text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "tune.json").read_text())
    assert len(report["trials"]) == 3
    assert (out / "best.yaml").is_file()
    # the trials ran in the two worker processes (KERASTUNER_TUNER_ID tuner0, tuner1)
    assert {t["tuner_id"] for t in report["trials"]} <= {"tuner0", "tuner1"}
    # each worker saves its tuner state after each trial it ran: both ran trials
    saved = {p.name for p in (out / "keras_tuner").glob("*.json")}
    assert {"chief.json", "tuner0.json", "tuner1.json"} <= saved, saved


def test_hyperband_continues_a_trial_from_the_run_it_promotes(tmp_path):
    """Hyperband's later rounds train a promoted configuration further: the trial starts
    from a copy of the earlier trial's run directory and resumes it (same first epoch)."""
    from modelspec.lang.checks import load_and_check
    from modelspec.tune.config import tune_config
    from modelspec.tune.run import tune

    spec = tmp_path / "tiny.yaml"
    spec.write_text(_with_tune("""
        tune:
          objective: val_loss
          algorithm: hyperband
          epochs: 2
          factor: 2
          seed: 0
          baseline: false
          params: {width: {type: Choice, values: [4, 8, 16, 32]}}
        """))
    checked = load_and_check(spec)
    out = tmp_path / "search"
    board = tune(checked.loaded, tune_config(checked), out, str(spec), echo=False)
    oracle = json.loads((out / "keras_tuner" / "oracle.json").read_text())
    assert oracle and board.best is not None and board.baseline is None
    promoted = []
    for trial_dir in sorted((out / "keras_tuner").glob("trial_*")):
        values = json.loads((trial_dir / "trial.json").read_text())["hyperparameters"]["values"]
        if values.get("tuner/trial_id"):
            promoted.append((trial_dir.name[len("trial_"):], values["tuner/trial_id"]))
    assert promoted
    for trial_id, previous in promoted:
        later = json.loads((out / "trials" / trial_id / "history.json").read_text())
        earlier = json.loads((out / "trials" / previous / "history.json").read_text())
        assert len(later["loss"]) == 2 and len(earlier["loss"]) == 1
        assert later["loss"][0] == earlier["loss"][0]


def test_trial_values_and_execution_seeds():
    from modelspec.source import LoadedSpec, SourceMap
    from modelspec.tune.search import _with_seed, clean_values

    assert clean_values({"rate": 0.1 * 3, "width": 8, "tuner/epochs": 2}) == \
        {"rate": 0.3, "width": 8}
    loaded = LoadedSpec({"train": {"seed": 5, "epochs": 1}}, SourceMap("s.yaml"))
    assert _with_seed(loaded, 0) is loaded
    assert _with_seed(loaded, 2).data["train"] == {"seed": 7, "epochs": 1}
    assert loaded.data["train"]["seed"] == 5


def test_trial_epochs_are_the_resolved_train_epochs_unless_tune_says(tmp_path):
    """`train.epochs` read from the checked spec: a parameter (`$epochs`) is resolved."""
    from modelspec.lang.checks import load_and_check
    from modelspec.tune.config import tune_config

    text = SPEC.replace("params: {width: 16, rate: 0.0}",
                        "params: {width: 16, rate: 0.0, epochs: 3}")
    text = text.replace("  epochs: 1\n", "  epochs: $epochs\n")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(text)
    config = tune_config(load_and_check(spec))
    assert (config.train_epochs, config.trial_epochs()) == (3, 3)
    spec.write_text(text.replace("  max_trials: 2\n", "  max_trials: 2\n  epochs: 2\n"))
    assert tune_config(load_and_check(spec)).trial_epochs() == 2


def test_best_spec_keeps_comments_and_rebases_file_paths(tmp_path):
    from modelspec.tune.report import best_spec_text

    specs, out = tmp_path / "specs", tmp_path / "runs" / "search"
    (specs / "data").mkdir(parents=True)
    (specs / "data" / "x.npz").write_bytes(b"")
    out.mkdir(parents=True)
    text = ("modelspec: 1\nparams:\n  width: 4   # hidden units\n"
            "data:\n  source: {type: npz, path: data/x.npz}\n"
            "model: {layers: [{type: Dense, units: $width, activation: relu}]}\n"
            "tune: {objective: val_loss, params: {width: {type: Int, min_value: 1, "
            "max_value: 9}}}\n")
    best = best_spec_text(text, {"width": 8}, "best of a search", specs, out)
    assert best.startswith("# best of a search\nmodelspec: 1\n")
    assert "  width: 8   # hidden units\n" in best
    assert "path: ../../specs/data/x.npz" in best and "activation: relu" in best
    assert "tune" not in best
