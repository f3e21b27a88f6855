"""JSON Schema fragment and semantic checks of the `tune:` section (no TensorFlow).

Example:
```yaml
params: {width: 64, dropout: 0.0, learning_rate: 0.001}
tune:
  objective: {name: val_accuracy, direction: max}   # any metric the loop logs
  algorithm: random                 # random, hyperband or bayesian (KerasTuner's oracles)
  max_trials: 8
  executions_per_trial: 1
  epochs: 15                        # per trial (hyperband: max_epochs)
  seed: 0
  params:                           # KerasTuner's hp.Choice / hp.Int / hp.Float / hp.Boolean
    width: {type: Choice, values: [32, 64, 128, 256]}
    dropout: {type: Float, min_value: 0.0, max_value: 0.5, step: 0.1}
    learning_rate: {type: Float, min_value: 1.0e-4, max_value: 1.0e-2, sampling: log}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.schema.fragments import BOOL, INT, NUM, POS_INT, STR, obj
from modelspec.source import PathT
from modelspec.tune.config import ALGORITHMS, ORACLE_KEYS, PARAM_TYPES, infer_direction

SAMPLINGS = ["linear", "log", "reverse_log"]
_SCALAR = {"type": ["number", "integer", "string", "boolean"]}


def _param_schema() -> dict[str, Any]:
    rules = {
        "Choice": obj({"type": {"const": "Choice"},
                       "values": {"type": "array", "items": _SCALAR, "minItems": 1,
                                  "uniqueItems": True},
                       "ordered": BOOL}, required=["type", "values"]),
        "Int": obj({"type": {"const": "Int"}, "min_value": INT, "max_value": INT,
                    "step": POS_INT, "sampling": {"enum": SAMPLINGS}},
                   required=["type", "min_value", "max_value"]),
        "Float": obj({"type": {"const": "Float"}, "min_value": NUM, "max_value": NUM,
                      "step": {"type": "number", "exclusiveMinimum": 0},
                      "sampling": {"enum": SAMPLINGS}},
                     required=["type", "min_value", "max_value"]),
        "Boolean": obj({"type": {"const": "Boolean"}}, required=["type"]),
    }
    return {"type": "object", "required": ["type"],
            "properties": {"type": {"enum": list(PARAM_TYPES)}},
            "allOf": [{"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                       "then": rule} for name, rule in rules.items()],
            "description": "a KerasTuner hyperparameter over a spec parameter"}


def tune_schema() -> dict[str, Any]:
    """Returns the JSON Schema (Draft 2020-12) fragment of the `tune:` section."""
    objective = {"anyOf": [STR, obj({"name": STR, "direction": {"enum": ["min", "max"]}},
                                    required=["name"])],
                 "description": "a metric the training loop logs (val_accuracy, val_loss, "
                                "test_accuracy, ...), optionally with its direction"}
    return obj({
        "objective": objective,
        "algorithm": {"enum": list(ALGORITHMS), "description": "KerasTuner's oracle"},
        "max_trials": POS_INT, "executions_per_trial": POS_INT,
        "epochs": POS_INT | {"description": "epochs per trial (hyperband: max_epochs); "
                                            "default train.epochs"},
        "seed": INT, "baseline": BOOL | {"description": "also train the spec as written, "
                                                        "for comparison (default true)"},
        "factor": {"type": "integer", "minimum": 2}, "hyperband_iterations": POS_INT,
        "num_initial_points": POS_INT, "alpha": NUM, "beta": NUM,
        "params": {"type": "object", "minProperties": 1,
                   "additionalProperties": _param_schema()},
    }, required=["objective", "params"],
        description="hyperparameter search over params with KerasTuner (modelspec tune)")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _metric_name(metric: Any) -> str | None:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, dict) and "type" in metric:
        return str(metric.get("name") or _snake(str(metric["type"])))
    return None


def logged_metrics(spec: Any) -> list[str]:
    """The names a supervised run reports at its end: the last epoch's logs (`loss`,
    metrics, their `val_` twins) and the test (else validation) evaluation."""
    train = spec.section("train") or {}
    model = spec.section("model") or {}
    outputs = list(model.get("outputs") or {}) if isinstance(model.get("outputs"), dict) \
        else []
    base = ["loss"]
    metrics = train.get("metrics") or []
    per_output = metrics if isinstance(metrics, dict) else {o: metrics for o in outputs}
    several = len(outputs) > 1
    for output, items in per_output.items():
        if several:
            base.append(f"{output}_loss")
        for item in items if isinstance(items, list) else [items]:
            name = _metric_name(item)
            if name:
                base.append(f"{output}_{name}" if several else name)
    splits = ((spec.section("data") or {}).get("splits") or {})
    prefixes = [""] + (["val_"] if "validation" in splits else [])
    prefixes += ["test_"] if "test" in splits else ["validation_"] if "validation" in \
        splits else []
    return [p + b for p in prefixes for b in dict.fromkeys(base)]


def check_tune(spec: Any, errs: Collector) -> None:
    """Checks the `tune:` section against the spec's params, loop and metrics."""
    section = spec.raw.get("tune")
    if not isinstance(section, dict):
        return
    declared = list(spec.raw.get("params") or {})
    for name, value in (section.get("params") or {}).items():
        path = ("tune", "params", name)
        if name not in declared:
            errs.add(path, f"no parameter '{name}' to search", key=True,
                     expected=f"a key of 'params:' ({', '.join(declared) or 'none'})",
                     suggestion=did_you_mean(name, declared))
        elif isinstance(value, dict):
            _check_range(value, path, errs)
    algorithm = section.get("algorithm", "random")
    for other, keys in ORACLE_KEYS.items():
        for key in keys:
            if key in section and other != algorithm:
                errs.add(("tune", key), f"'{key}' is an option of the {other} algorithm, "
                         f"not of {algorithm}", key=True,
                         expected=f"algorithm: {other}, or no '{key}'")
    if algorithm == "hyperband" and "max_trials" in section:
        errs.add(("tune", "max_trials"), "hyperband sets the number of trials itself (from "
                 "epochs, factor and hyperband_iterations)", key=True,
                 expected="no max_trials with algorithm: hyperband")
    train = spec.section("train")
    if not isinstance(train, dict):
        errs.add(("tune",), "a search trains the spec, but it has no 'train:' section",
                 key=True, expected="a 'train:' section")
        return
    if train.get("type", "supervised") == "adversarial":
        errs.add(("tune",), "tune searches supervised runs; this spec trains adversarially",
                 key=True, expected="train.type: supervised or layerwise")
        return
    _check_objective(spec, section.get("objective"), errs)


def _check_range(value: Mapping[str, Any], path: PathT, errs: Collector) -> None:
    kind = value.get("type")
    if kind == "Choice":
        kinds = {type(v).__name__ for v in value.get("values") or []}
        if len(kinds) > 1:
            errs.add(path + ("values",), "values of different types "
                     f"({', '.join(sorted(kinds))})", expected="values of one type "
                     "(KerasTuner's Choice)")
        return
    if kind not in ("Int", "Float") or not all(k in value for k in ("min_value", "max_value")):
        return
    low, high = value["min_value"], value["max_value"]
    if low > high:
        errs.add(path + ("min_value",), f"empty range: min_value {low} is greater than "
                 f"max_value {high}", expected="min_value <= max_value")
    elif value.get("step") is not None and high > low and value["step"] > high - low:
        errs.add(path + ("step",), f"step {value['step']} is larger than the range "
                 f"{low}..{high}", expected=f"a step of at most {high - low}")
    if value.get("sampling") in ("log", "reverse_log") and low <= 0:
        errs.add(path + ("min_value",), f"log sampling needs a positive range, min_value "
                 f"is {low}", expected="min_value > 0, or sampling: linear")


def _check_objective(spec: Any, objective: Any, errs: Collector) -> None:
    name = objective if isinstance(objective, str) else (objective or {}).get("name")
    if not isinstance(name, str):
        return
    path = ("tune", "objective") if isinstance(objective, str) else ("tune", "objective",
                                                                      "name")
    logged = logged_metrics(spec)
    if name not in logged:
        errs.add(path, f"the training loop does not log '{name}'",
                 expected="one of " + ", ".join(logged),
                 suggestion=did_you_mean(name, logged))
    elif isinstance(objective, str) and infer_direction(name) is None:
        errs.add(path, f"cannot tell whether '{name}' should be minimised or maximised",
                 expected=f"objective: {{name: {name}, direction: min}} (or max)")
