"""Smoke tests of the benchmark harness (bench/): tiny sizes, no timing assertions."""

from __future__ import annotations

import importlib.util
import json

import pytest

from bench import run, sections
from bench.common import alternate, median

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed (bench-only dependency)")


def test_alternate_runs_every_side_in_abba_order():
    calls = []
    out = alternate({"a": lambda: calls.append("a") or 1.0,
                     "b": lambda: calls.append("b") or 2.0}, rounds=3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert out == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}
    assert median([3, 1, 2]) == 2.0


def test_section_table_renders_markdown():
    sec = sections.Section("t")
    sec.table(["x", "y"], [[1, "two"]])
    assert sec.lines[:3] == ["| x | y |", "|---|---|", "| 1 | two |"]


def test_spec_model_and_hand_written_twin_train_identically():
    tf = pytest.importorskip("tensorflow")
    from bench.tf_worker import overhead_one
    res = overhead_one(tf, "mlp", steps=2, rounds=2, loss_steps=3)
    assert res["params"][0] == res["params"][1] == 235_146
    assert res["layers_copied"] == 3
    assert res["max_loss_diff"] < 1e-5
    assert len(res["ratios"]) == 2 and res["spec_step_ms"] > 0
    # the same train-step graph but for Keras's sum over named outputs (one scalar add)
    graph = res["graph"]
    assert graph["hand_only"] == {} and graph["spec_only"] == {"AddV2": 1, "Const": 1}
    assert graph["spec_ops"] == graph["hand_ops"] + 2
    assert sections._graph_cell(graph) == (f"{graph['spec_ops']} / {graph['hand_ops']} "
                                           "(spec +1 AddV2, spec +1 Const)")


def test_overhead_compiles_both_sides_like_modelspec_train():
    pytest.importorskip("tensorflow")
    from modelspec.training.runtime import DEFAULT_STEPS_PER_EXECUTION
    assert run.OVERHEAD_SPE == DEFAULT_STEPS_PER_EXECUTION
    assert run.config(quick=False)["overhead_spe"] == DEFAULT_STEPS_PER_EXECUTION
    # whole groups of steps per timed run
    assert all(n % DEFAULT_STEPS_PER_EXECUTION == 0
               for n in run.config(quick=False)["overhead_steps"].values())


@needs_torch
def test_torch_worker_and_report(tmp_path):
    from bench.torch_worker import train_steps
    res = train_steps({"models": ["mlp"], "steps": {"mlp": 2}, "rounds": 1, "threads": [1, 1]})
    assert res["pools"][0] == 1 and res["models"]["mlp"]["step_ms"] > 0
    fake = {"models": {"mlp": {"configs": [
        {"spe": 1, "jit": "auto", "step_ms": 4.0, "all_ms": [4.0], "first_fit_s": 1.0},
        {"spe": 16, "jit": True, "step_ms": 1.6, "all_ms": [1.6], "first_fit_s": 2.0}]}}}
    own = {"models": {"mlp": {"configs": [
        {"spe": "modelspec", "jit": "modelspec", "step_ms": 2.0, "all_ms": [2.0],
         "first_fit_s": 1.0, "options": {"steps_per_execution": 8, "jit_compile": True}}]}}}
    cfg = run.config(quick=True)
    tf_runs = {None: fake, "modelspec": own}
    secs = [sections._defaults_section(cfg, tf_runs),
            sections._torch_section(cfg, tf_runs, {None: res}, True)]
    # the headline is modelspec's own defaults; the best measured setting is reported beside
    assert secs[0].headline["defaults_mlp"] == 2.0
    assert secs[0].headline["best_mlp"] == {"threads": None, "spe": 16, "jit": True,
                                            "speed": 2.5}
    pt = res["models"]["mlp"]["step_ms"]
    assert secs[1].headline["torch_mlp"] == pytest.approx(2.0 / pt)
    assert secs[1].headline["torch_best_mlp"] == pytest.approx(1.6 / pt)
    text = run.render(secs, 1.0, ["--quick"], {"date": "today", "cores": 2})
    assert ("| `modelspec train` defaults ÷ fit defaults throughput, mlp (modelspec defaults "
            "(steps_per_execution=8, jit_compile=True); best measured 2.50×) | 2.00× | ≥ 1.3× |"
            ) in text
    assert "| modelspec defaults ÷ PyTorch best time, mlp |" in text
    assert json.dumps(secs[1].headline)  # plain numbers only


def test_runs_of_the_same_setting_merge_all_their_timed_runs():
    a = {"models": {"mlp": {"configs": [{"spe": 1, "jit": "auto", "step_ms": 3.0,
                                         "min_ms": 2.0, "all_ms": [2.0, 3.0, 4.0]}]}}}
    b = {"models": {"mlp": {"configs": [{"spe": 1, "jit": "auto", "step_ms": 1.5,
                                         "min_ms": 1.5, "all_ms": [1.5, 9.0]}]}}}
    (c,) = sections._merge_runs(a, b)["models"]["mlp"]["configs"]
    assert c["all_ms"] == [2.0, 3.0, 4.0, 1.5, 9.0]
    assert c["min_ms"] == 1.5 and c["step_ms"] == 3.0
    assert a["models"]["mlp"]["configs"][0]["min_ms"] == 2.0  # inputs untouched
