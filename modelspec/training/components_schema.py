"""The Keras components of the `train:` section: their JSON Schema and their name checks.

Optimizers (with learning-rate schedules), losses, metrics and callbacks are named as Keras
names them, as a string (`adam`) or `{type: Adam, argument: value}`; the schemas come from
the catalogue of Keras's signatures (`modelspec.lang.catalog`, `lang.schema.argtypes`), the
checks report an unknown name or argument at its YAML position with a "did you mean".
Used by `modelspec.training.schema` and `modelspec.training.loop_schemas`; no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.schema.fragments import BOOL, INT, NUM, STR, obj, param_or
from modelspec.source import PathT
from modelspec.training import keras_names as kn
from modelspec.training.config import KEEP_AT_LEAST

Schema = dict[str, Any]
MONITOR_MODES = ["auto", "min", "max"]


def p(schema: Schema) -> Schema:
    """`schema`, or a `$name` / `$(expr)` parameter reference."""
    return param_or(schema)


def enum(values: Iterable[str]) -> Schema:
    return p({"type": "string", "enum": list(values)})


def _component(kind: str, string_names: Iterable[str]) -> Schema:
    """`"adam"` or `{type: Adam, learning_rate: ...}`: see `argtypes.component_schema`."""
    from modelspec.lang.schema import argtypes
    return argtypes.component_schema(kind, list(string_names))


def optimizer_schema() -> Schema:
    """Schema of one optimizer: a name (`adam`) or `{type: Adam, learning_rate: ..., ...}`."""
    from modelspec.lang import catalog
    return _component("optimizers", catalog.string_names("optimizers"))


def component_schema(what: str) -> Schema:
    """Schema of one loss (`what="loss"`) or metric (`what="metric"`)."""
    kind = {"loss": "losses", "metric": "metrics"}[what]
    return _component(kind, kn.loss_names() if what == "loss" else kn.metric_names())


def loss_schema() -> Schema:
    """One loss for every output, or output name → loss."""
    one = component_schema("loss")
    per_output = {"type": "object", "additionalProperties": one,
                  "description": "one loss per output name"}
    return {"anyOf": [one, per_output]}


def metrics_schema() -> Schema:
    """A list of metrics for every output, or output name → metrics."""
    one = component_schema("metric")
    lst = {"type": "array", "items": one}
    per_output = {"type": "object", "additionalProperties": {"anyOf": [lst, one]},
                  "description": "metrics per output name"}
    return {"anyOf": [lst, per_output]}


def _monitor_props() -> Schema:
    return {"monitor": p(STR), "mode": enum(MONITOR_MODES), "min_delta": p(NUM)}


def _keras_callback_props(name: str, **overrides: Schema) -> Schema:
    """The arguments of `keras.callbacks.<name>`, from Keras's signature (the catalogue)."""
    from modelspec.lang import catalog
    from modelspec.lang.schema.argtypes import argument_schema
    props = {arg: p(argument_schema("callbacks", name, arg, default))
             for arg, default in catalog.arguments("callbacks", name).items()}
    props.update(overrides)
    return props


def callbacks_schema() -> Schema:
    """`train.callbacks`: Keras's callbacks by name, and those registered from Python."""
    early = obj(_keras_callback_props("EarlyStopping", **_monitor_props(),
                                      baseline=p({"type": ["number", "null"]})),
                description="keras.callbacks.EarlyStopping")
    plateau = obj(_keras_callback_props("ReduceLROnPlateau", **_monitor_props()),
                  description="keras.callbacks.ReduceLROnPlateau")
    checkpoint = obj({"monitor": p(STR), "mode": enum(MONITOR_MODES),
                      "keep": p({"type": "integer", "minimum": KEEP_AT_LEAST})},
                     description="best and latest checkpoints in the run directory")
    update_freq = {"anyOf": [p(INT), enum(["epoch", "batch"])]}
    tensorboard = {"anyOf": [p(BOOL), obj(_keras_callback_props(
        "TensorBoard", update_freq=update_freq, profile_batch=p(INT),
        embeddings_metadata=p({"type": ["object", "string", "null"]})),
        description="keras.callbacks.TensorBoard")]}
    props = {"early_stopping": early, "reduce_lr_on_plateau": plateau,
             "checkpoint": checkpoint, "tensorboard": tensorboard, "csv_log": p(BOOL),
             "terminate_on_nan": p(BOOL)}
    from modelspec.lang import registry
    from modelspec.lang.schema.argtypes import argument_schema
    for name, component in registry.python_components("callbacks").items():
        args = {a: p(argument_schema("callbacks", name, a, d))
                for a, d in component.args.items()}
        props.setdefault(name, {"anyOf": [p(BOOL), obj(args, description=f"{name} "
                                                        "(registered from Python)")]})
    return obj(props, description="callbacks built from the spec (and those registered "
               "from Python with modelspec.register_callback)")


# ----------------------------------------------------------------------------- checks

def check_name(errs: Collector, path: PathT, name: str, options: Sequence[str],
               what: str) -> bool:
    """Adds a problem when `name` is not among `options`; returns whether it is."""
    if name not in options:
        errs.add(path, f"unknown {what} '{name}'", expected=f"a Keras {what} name",
                 suggestion=did_you_mean(name, options))
        return False
    return True


def _check_arguments(errs: Collector, path: PathT, value: Mapping[str, Any],
                     allowed: Sequence[str]) -> None:
    """Each key of `value` but `type` is an argument of `value["type"]`."""
    for arg in value:
        if arg != "type" and allowed and arg not in allowed:
            errs.add(path + (arg,), f"'{value['type']}' has no argument '{arg}'", key=True,
                     expected="one of " + ", ".join(allowed),
                     suggestion=did_you_mean(arg, allowed))


def check_optimizer(errs: Collector, path: PathT, value: Any) -> None:
    """An optimizer's name, its arguments and its learning-rate schedule's."""
    if isinstance(value, str):
        names = kn.optimizer_names()
        lowered = {n.lower(): n for n in names}
        if value.lower() not in lowered:
            check_name(errs, path, value, names, "optimizer")
        return
    if not isinstance(value, dict) or "type" not in value:
        return
    if not check_name(errs, path + ("type",), value["type"], kn.optimizer_names(),
                      "optimizer"):
        return
    _check_arguments(errs, path, value, kn.optimizer_args(value["type"]))
    lr = value.get("learning_rate")
    if isinstance(lr, dict) and "type" in lr:
        if check_name(errs, path + ("learning_rate", "type"), lr["type"],
                      kn.schedule_names(), "learning-rate schedule"):
            _check_arguments(errs, path + ("learning_rate",), lr, kn.schedule_args(lr["type"]))


def check_component(errs: Collector, path: PathT, value: Any, names: Sequence[str],
                    what: str) -> None:
    """The name of a loss or metric given as a string or `{type: Name, ...}`."""
    if isinstance(value, str):
        check_name(errs, path, value, names, what)
    elif isinstance(value, dict) and "type" in value:
        check_name(errs, path + ("type",), value["type"], names, what)


def is_component(value: Any) -> bool:
    """True for one component (`"mse"`, `{type: Huber}`), not a mapping by output."""
    return isinstance(value, str) or (isinstance(value, dict) and "type" in value)


def check_per_output(errs: Collector, path: PathT, mapping: Mapping[str, Any],
                     outputs: Sequence[str], what: str) -> None:
    """The keys of a per-output mapping name outputs of the model."""
    for key in mapping:
        if outputs and key not in outputs:
            errs.add(path + (key,), f"'{key}' is not an output of the model", key=True,
                     expected="one of " + ", ".join(outputs) + f" (a {what} per output)",
                     suggestion=did_you_mean(key, outputs))


def check_metrics(errs: Collector, section: str, metrics: Any, outputs: Sequence[str]) -> None:
    """Checks `metrics` / `weighted_metrics`: a list for every output, or one per output."""
    if isinstance(metrics, list):
        for i, m in enumerate(metrics):
            check_component(errs, ("train", section, i), m, kn.metric_names(), "metric")
    elif isinstance(metrics, dict):
        check_per_output(errs, ("train", section), metrics, outputs, "metric list")
        for key, ms in metrics.items():
            for i, m in enumerate(ms if isinstance(ms, list) else [ms]):
                path: PathT = ("train", section, key, i) if isinstance(ms, list) else \
                    ("train", section, key)
                check_component(errs, path, m, kn.metric_names(), "metric")
