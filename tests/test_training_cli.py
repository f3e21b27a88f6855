"""`modelspec train` / `modelspec evaluate` on real specs (sklearn digits), and train: checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from digits_data import TINY_OPTIMIZER, TINY_SPLITS, tiny_digits_spec, tiny_train

ROOT = Path(__file__).resolve().parents[1]

# the tiny digits classifier of tests/digits_data.py; OPTIMIZER is replaced by `_write`
SPEC = tiny_digits_spec("tiny_digits", TINY_SPLITS, tiny_train("OPTIMIZER"))


def _write(tmp_path, optimizer=TINY_OPTIMIZER, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(SPEC.replace("OPTIMIZER", optimizer))
    return path


def _train(*args):
    from modelspec.training.cli import train_command
    return CliRunner().invoke(train_command, [str(a) for a in args])


def test_train_evaluate_and_load_run(tiny_digits_run, tiny_digits_run_copy):
    """`modelspec train` (the session's run, trained by conftest.tiny_digits_run), then
    evaluate, load_run and training on."""
    from modelspec.training.checkpoints import load_run
    from modelspec.training.cli import evaluate_command
    spec, run = tiny_digits_run[0], tiny_digits_run_copy
    for name in ("spec.yaml", "resolved.json", "fingerprint", "history.json", "metrics.json",
                 "curves.png", "training.csv", "final/model.weights.h5"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5
    checked, models, loaded_metrics = load_run(run)
    assert checked.name == "tiny_digits" and list(models) == ["model"]
    assert loaded_metrics == metrics
    out = CliRunner().invoke(evaluate_command, [str(run), "--json"])
    assert out.exit_code == 0, out.output
    assert np.isclose(json.loads(out.output)["test_accuracy"], metrics["test_accuracy"])
    # a finished run trained further with --epochs continues from epoch 2
    more = _train(spec, "--output", run, "--epochs", 3, "--quiet")
    assert more.exit_code == 0, more.output
    assert len(json.loads((run / "history.json").read_text())["loss"]) == 3


def test_changed_spec_exits_4_and_restart_trains(tiny_digits_run_copy, tmp_path):
    run = tiny_digits_run_copy  # a finished run of _write(tmp_path)'s spec
    changed = _write(tmp_path, "{type: Adam, learning_rate: 0.02}")
    result = _train(changed, "-o", run, "-q", "--epochs", 1)
    assert result.exit_code == 4
    assert "holds a run of a different spec" in result.output
    assert _train(changed, "-o", run, "-q", "--epochs", 1, "--restart").exit_code == 0


def test_spec_failing_the_keras_build_writes_and_clears_nothing(tiny_digits_run_copy,
                                                                  tmp_path):
    run = tiny_digits_run_copy  # a finished run of _write(tmp_path)'s spec
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    broken = tmp_path / "broken.yaml"   # passes the checks, fails Keras's build (8 + 16 units)
    broken.write_text(_write(tmp_path).read_text().replace(
        "    - {id: out, type: Dense,",
        "    - {id: h2, type: Dense, units: 8, in: h1}\n"
        "    - {id: sum, type: Add, in: [h1, h2]}\n    - {id: out, type: Dense,"))
    for output in (run, tmp_path / "fresh"):
        result = _train(broken, "-o", output, "-q", "--restart")
        assert result.exit_code == 2, result.output
        assert "Keras cannot build layer 'sum' (Add)" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "fresh").exists()
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # --restart kept it
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0


def test_divergence_exits_3(tmp_path):
    spec = _write(tmp_path, "{type: SGD, learning_rate: 1.0e+12}")
    result = _train(spec, "-o", tmp_path / "run", "-q")
    assert result.exit_code == 3, result.output
    assert "training diverged: loss is" in result.output and "at epoch 1, step" in result.output
    assert not (tmp_path / "run" / "final").exists()


def test_bad_train_section_is_positioned(tmp_path):
    import modelspec
    spec = _write(tmp_path, "{type: Adam, learning_rte: 0.01}")
    problems = [p.format() for p in modelspec.validate(spec)]
    assert any(f"{spec}:21:27" in p and "train.optimizer.learning_rte" in p
               and "did you mean 'learning_rate'" in p for p in problems), problems
    bad = SPEC.replace("OPTIMIZER", "adam").replace("loss: sparse_categorical_crossentropy",
                                                    "loss: {dgit: mse}")
    problems = [p.format() for p in modelspec.validate(bad, filename="x.yaml")]
    assert any("x.yaml:22:" in p and "'dgit' is not an output of the model" in p
               and "did you mean 'digit'" in p for p in problems), problems


def test_train_help_has_examples():
    from modelspec.training.cli import evaluate_command, train_command
    for command in (train_command, evaluate_command):
        out = CliRunner().invoke(command, ["--help"])
        assert out.exit_code == 0 and "Examples:" in out.output


def test_train_schema_is_closed():
    from modelspec.training.schema import train_schema

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                # closed directly, or by one if/then rule per component class
                assert node.get("additionalProperties") is False or all(
                    rule["then"]["additionalProperties"] is False
                    for rule in node["allOf"]), node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(train_schema())


def test_optimizer_schedule_and_warmup_build():
    from modelspec.training.objects import make_optimizer
    opt = make_optimizer({"type": "SGD", "momentum": 0.9, "nesterov": True, "clipnorm": 1.0,
                          "learning_rate": {"type": "CosineDecay", "initial_learning_rate": 0.0,
                                            "decay_steps": 100, "warmup_steps": 10,
                                            "warmup_target": 0.1}})
    assert opt.nesterov and opt.clipnorm == 1.0
    assert np.isclose(float(opt.learning_rate), 0.0)
    opt.iterations.assign(10)
    assert np.isclose(float(opt.learning_rate), 0.1)
    ema = make_optimizer({"type": "AdamW", "weight_decay": 0.01, "use_ema": True})
    assert ema.use_ema and np.isclose(ema.weight_decay, 0.01)


def test_strategy_override_keeps_metrics_and_callbacks_and_asks_for_tf_config(tmp_path,
                                                                              monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    spec = _write(tmp_path)
    result = _train(spec, "-o", tmp_path / "run", "-q", "--strategy", "multi_worker")
    assert result.exit_code == 2, result.output
    assert "does not use" not in result.output  # metrics and early stopping are used
    assert "TF_CONFIG is not set" in result.output and "--workers N" in result.output
    assert not (tmp_path / "run").exists()


def test_strategy_override_refuses_a_loop_that_cannot_be_distributed(tmp_path):
    spec = tmp_path / "gan.yaml"
    spec.write_text((ROOT / "tests" / "fixtures" / "bad" / "train_adversarial_multi_worker.yaml")
                    .read_text().replace("  distribute: {strategy: multi_worker}\n", ""))
    result = _train(spec, "-o", tmp_path / "run", "-q", "--strategy", "multi_worker")
    assert result.exit_code == 2, result.output
    assert (f"{spec}:19:9: train.type: the adversarial loop cannot be distributed over several "
            "workers" in result.output), result.output
    assert not (tmp_path / "run").exists()
