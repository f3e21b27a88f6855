"""JSON Schema fragment and semantic checks of the `train:` section (no TensorFlow).

The schema closes every object (`additionalProperties: false`) and accepts `$name` /
`$(expr)` parameter references for every leaf. Names of Keras components (optimizers,
schedules, losses, metrics) and per-optimizer arguments are checked by `check_train`, which
reports each mistake at its YAML position with a "did you mean" suggestion.

Example:
```yaml
train:
  type: supervised
  epochs: 20
  seed: 1
  optimizer: {type: Adam, learning_rate: {type: CosineDecay, initial_learning_rate: 0.001,
              decay_steps: 1000, warmup_steps: 100, warmup_target: 0.002}, clipnorm: 1.0}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {early_stopping: {patience: 3, restore_best_weights: true}}
```
"""

from __future__ import annotations

from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.schema.fragments import BOOL, INT, NUM, POS_INT, STR, obj, param_or
from modelspec.lang.spec import CheckedSpec
from modelspec.training import keras_names as kn

LOOP_TYPES = ["supervised", "adversarial", "layerwise"]
PRECISIONS = ["float32", "mixed_float16", "mixed_bfloat16"]
STRATEGIES = ["default", "one_device", "mirrored", "multi_worker"]
# Lecture V's asynchronous SGD (parameter servers, Hogwild): tf.distribute has
# ParameterServerStrategy, but Keras 3 does not train under it ("Parameter server training is
# not supported in Keras 3", keras-team/keras#18624), so a spec naming it gets that reason.
UNSUPPORTED_STRATEGIES = {"parameter_server": (
    "asynchronous parameter-server training is not supported by Keras 3 (tf.distribute's "
    "ParameterServerStrategy works with tf.keras 2 only; keras-team/keras#18624)")}
MONITOR_MODES = ["auto", "min", "max"]


def _p(schema: dict) -> dict:
    return param_or(schema)


def _enum(values) -> dict:
    return _p({"type": "string", "enum": list(values)})


def _component(kind: str, string_names) -> dict:
    """`"adam"` or `{type: Adam, learning_rate: ...}`: see `argtypes.component_schema`."""
    from modelspec.lang.schema import argtypes
    return argtypes.component_schema(kind, list(string_names))


def optimizer_schema() -> dict:
    """Schema of one optimizer: a name (`adam`) or `{type: Adam, learning_rate: ..., ...}`."""
    from modelspec.lang import catalog
    return _component("optimizers", catalog.string_names("optimizers"))


def _component_schema(what: str) -> dict:
    kind = {"loss": "losses", "metric": "metrics"}[what]
    return _component(kind, kn.loss_names() if what == "loss" else kn.metric_names())


def _loss_schema() -> dict:
    one = _component_schema("loss")
    per_output = {"type": "object", "additionalProperties": one,
                  "description": "one loss per output name"}
    return {"anyOf": [one, per_output]}


def _metrics_schema() -> dict:
    one = _component_schema("metric")
    lst = {"type": "array", "items": one}
    per_output = {"type": "object", "additionalProperties": {"anyOf": [lst, one]},
                  "description": "metrics per output name"}
    return {"anyOf": [lst, per_output]}


def _monitor_props() -> dict:
    return {"monitor": _p(STR), "mode": _enum(MONITOR_MODES), "min_delta": _p(NUM)}


def _keras_callback_props(name: str, **overrides: dict) -> dict:
    """The arguments of `keras.callbacks.<name>`, from Keras's signature (the catalogue)."""
    from modelspec.lang import catalog
    from modelspec.lang.schema.argtypes import argument_schema
    props = {arg: _p(argument_schema("callbacks", name, arg, default))
             for arg, default in catalog.arguments("callbacks", name).items()}
    props.update(overrides)
    return props


def _callbacks_schema() -> dict:
    early = obj(_keras_callback_props("EarlyStopping", **_monitor_props(),
                                      baseline=_p({"type": ["number", "null"]})),
                description="keras.callbacks.EarlyStopping")
    plateau = obj(_keras_callback_props("ReduceLROnPlateau", **_monitor_props()),
                  description="keras.callbacks.ReduceLROnPlateau")
    checkpoint = obj({"monitor": _p(STR), "mode": _enum(MONITOR_MODES),
                      "keep": _p(POS_INT)},
                     description="best and latest checkpoints in the run directory")
    update_freq = {"anyOf": [_p(INT), _enum(["epoch", "batch"])]}
    tensorboard = {"anyOf": [_p(BOOL), obj(_keras_callback_props(
        "TensorBoard", update_freq=update_freq, profile_batch=_p(INT),
        embeddings_metadata=_p({"type": ["object", "string", "null"]})),
        description="keras.callbacks.TensorBoard")]}
    props = {"early_stopping": early, "reduce_lr_on_plateau": plateau,
             "checkpoint": checkpoint, "tensorboard": tensorboard, "csv_log": _p(BOOL),
             "terminate_on_nan": _p(BOOL)}
    from modelspec.lang import registry
    from modelspec.lang.schema.argtypes import argument_schema
    for name, component in registry.python_components("callbacks").items():
        args = {a: _p(argument_schema("callbacks", name, a, d))
                for a, d in component.args.items()}
        props.setdefault(name, {"anyOf": [_p(BOOL), obj(args, description=f"{name} "
                                                         "(registered from Python)")]})
    return obj(props, description="callbacks built from the spec (and those registered "
               "from Python with modelspec.register_callback)")


def _adversarial_props() -> dict:
    noise = obj({"input": _p(STR), "distribution": _enum(["normal", "uniform"]),
                 "stddev": _p(NUM), "minval": _p(NUM), "maxval": _p(NUM)},
                required=["input"], description="the generator's noise input")
    samples = obj({"every": _p(POS_INT), "count": _p(POS_INT), "output": _p(STR)},
                  description="a grid of generated samples saved as PNG")
    reconstruction = obj({"loss": _component_schema("loss"), "weight": _p(NUM)},
                         description="an extra generator loss towards the targets (pix2pix)")
    return {
        "generator": _p(STR), "discriminator": _p(STR), "noise": noise,
        "optimizers": obj({"generator": optimizer_schema(),
                           "discriminator": optimizer_schema()}),
        "discriminator_steps": _p(POS_INT), "generator_steps": _p(POS_INT),
        "label_smoothing": _p(NUM), "samples": samples, "reconstruction": reconstruction,
    }


def _layerwise_props() -> dict:
    pretrain = obj({"layers": {"type": "array", "items": _p(STR)}, "epochs": _p(POS_INT),
                    "optimizer": optimizer_schema(), "loss": _component_schema("loss"),
                    "noise": _p(NUM), "corruption": _enum(["gaussian", "dropout"]),
                    "decoder_activation": _p(STR), "model": _p(STR)},
                   required=["layers"],
                   description="greedy layer-wise autoencoder pretraining of Dense layers")
    return {"pretrain": pretrain}


def train_schema() -> dict:
    """Returns the JSON Schema (Draft 2020-12) fragment of the `train:` section.

    Returns:
        A closed object schema; every leaf also accepts a parameter reference.

    Example:
    >>> train_schema()["properties"]["type"]
    """
    props = {
        "type": _enum(LOOP_TYPES),
        "model": {**_p(STR), "description": "in a 'models:' spec, the model the supervised "
                  "loop trains (its layers are shared with the models it calls)"},
        "epochs": _p(POS_INT), "steps_per_epoch": _p(POS_INT),
        "validation_steps": _p(POS_INT), "validation_freq": _p(POS_INT),
        "optimizer": optimizer_schema(), "loss": _loss_schema(),
        "loss_weights": {"anyOf": [{"type": "object", "additionalProperties": _p(NUM)},
                                   {"type": "array", "items": _p(NUM)}]},
        "metrics": _metrics_schema(),
        "weighted_metrics": {**_metrics_schema(), "description": "metrics weighted by "
                             "data.sample_weights (Keras compile's weighted_metrics)"},
        "class_weight": {"type": "object", "propertyNames": {"pattern": "^[0-9]+$"},
                         "additionalProperties": _p(NUM)},
        "callbacks": _callbacks_schema(), "seed": _p(INT),
        "deterministic": _p(BOOL), "precision": _enum(PRECISIONS),
        "jit_compile": {"anyOf": [_p(BOOL), _enum(["auto"])],
                        "description": "XLA; default on the CPU: on for dense-only models, off "
                        "for convolutional ones (auto-clustering of their element-wise ops "
                        "with batch normalisation), off in a seeded run; Keras's 'auto' on a "
                        "GPU"},
        "steps_per_execution": {**_p(POS_INT), "description": "training steps per call; "
                                "default 8 with one replica, 1 under a distribution strategy"},
        "threads": obj({"intra_op": _p(INT), "inter_op": _p(INT)},
                       description="CPU thread pools (0 = TensorFlow's choice)"),
        "distribute": obj({"strategy": _enum(STRATEGIES + list(UNSUPPORTED_STRATEGIES)),
                           "devices": {"type": "array", "items": _p(STR)},
                           "communication": _enum(["auto", "ring", "nccl"])},
                          description="a tf.distribute strategy"),
        "verbose": {"anyOf": [_p(INT), _enum(["auto"])]},
        "init_from": obj({"run": _p(STR), "weights": _enum(["final", "best", "latest"]),
                          "layers": {"type": "array", "items": _p(STR)},
                          "grow": _enum(["net2net"])}, required=["run"],
                         description="start from an earlier run's weights (transfer, Net2Net)"),
    }
    props.update(_adversarial_props())
    props.update(_layerwise_props())
    return obj(props, description="how the model is trained (a built-in loop)")


# ----------------------------------------------------------------------------- semantics

def _output_names(spec, model_name=None) -> list[str]:
    if model_name is None:
        model = spec.section("model")
    else:
        model = (spec.section("models") or {}).get(model_name)
    outs = (model or {}).get("outputs") or {}
    return list(outs) if isinstance(outs, dict) else []


def _check_name(errs, path, name, options, what):
    if name not in options:
        errs.add(path, f"unknown {what} '{name}'", expected=f"a Keras {what} name",
                 suggestion=did_you_mean(name, options))
        return False
    return True


def _check_optimizer(errs, path, value):
    if isinstance(value, str):
        names = kn.optimizer_names()
        lowered = {n.lower(): n for n in names}
        if value.lower() not in lowered:
            _check_name(errs, path, value, names, "optimizer")
        return
    if not isinstance(value, dict) or "type" not in value:
        return
    if not _check_name(errs, path + ("type",), value["type"], kn.optimizer_names(),
                       "optimizer"):
        return
    allowed = kn.optimizer_args(value["type"])
    for arg in value:
        if arg != "type" and allowed and arg not in allowed:
            errs.add(path + (arg,), f"'{value['type']}' has no argument '{arg}'", key=True,
                     expected="one of " + ", ".join(allowed),
                     suggestion=did_you_mean(arg, allowed))
    lr = value.get("learning_rate")
    if isinstance(lr, dict) and "type" in lr:
        if _check_name(errs, path + ("learning_rate", "type"), lr["type"],
                       kn.schedule_names(), "learning-rate schedule"):
            sargs = kn.schedule_args(lr["type"])
            for arg in lr:
                if arg != "type" and sargs and arg not in sargs:
                    errs.add(path + ("learning_rate", arg),
                             f"'{lr['type']}' has no argument '{arg}'", key=True,
                             expected="one of " + ", ".join(sargs),
                             suggestion=did_you_mean(arg, sargs))


def _check_component(errs, path, value, names, what):
    if isinstance(value, str):
        _check_name(errs, path, value, names, what)
    elif isinstance(value, dict) and "type" in value:
        _check_name(errs, path + ("type",), value["type"], names, what)


def _is_component(value) -> bool:
    return isinstance(value, str) or (isinstance(value, dict) and "type" in value)


def _check_per_output(errs, path, mapping, outputs, what):
    for key in mapping:
        if outputs and key not in outputs:
            errs.add(path + (key,), f"'{key}' is not an output of the model", key=True,
                     expected="one of " + ", ".join(outputs) + f" (a {what} per output)",
                     suggestion=did_you_mean(key, outputs))


def _check_supervised(spec, train, errs, outputs):
    loss = train.get("loss")
    if loss is None and train.get("type", "supervised") == "supervised":
        errs.add(("train",), "missing 'loss'", expected="a Keras loss, e.g. "
                 "'sparse_categorical_crossentropy', or one per output")
    elif _is_component(loss):
        _check_component(errs, ("train", "loss"), loss, kn.loss_names(), "loss")
    elif isinstance(loss, dict):
        _check_per_output(errs, ("train", "loss"), loss, outputs, "loss")
        for key, one in loss.items():
            _check_component(errs, ("train", "loss", key), one, kn.loss_names(), "loss")
    weights = train.get("loss_weights")
    if isinstance(weights, dict):
        _check_per_output(errs, ("train", "loss_weights"), weights, outputs, "weight")
    elif isinstance(weights, list) and outputs and len(weights) != len(outputs):
        errs.add(("train", "loss_weights"), f"{len(weights)} weights for {len(outputs)} outputs",
                 expected="one weight per output (or a mapping output → weight)")
    for section in ("metrics", "weighted_metrics"):
        _check_metrics(errs, section, train.get(section), outputs)


def _check_metrics(errs, section, metrics, outputs):
    """Checks `metrics` / `weighted_metrics`: a list for every output, or one per output."""
    if isinstance(metrics, list):
        for i, m in enumerate(metrics):
            _check_component(errs, ("train", section, i), m, kn.metric_names(), "metric")
    elif isinstance(metrics, dict):
        _check_per_output(errs, ("train", section), metrics, outputs, "metric list")
        for key, ms in metrics.items():
            for i, m in enumerate(ms if isinstance(ms, list) else [ms]):
                p = ("train", section, key, i) if isinstance(ms, list) else \
                    ("train", section, key)
                _check_component(errs, p, m, kn.metric_names(), "metric")


def _check_adversarial(spec, train, errs):
    names = list((spec.section("models") or {}).keys())
    if not names:
        errs.add(("train", "type"), "an adversarial loop needs two models",
                 expected="a 'models:' section with a generator and a discriminator")
        return
    for role in ("generator", "discriminator"):
        name = train.get(role, role)
        if name not in names:
            at = ("train", role) if role in train else ("train", "type")
            errs.add(at, f"no model named '{name}' for the {role}",
                     expected="one of " + ", ".join(names), suggestion=did_you_mean(name, names))
    _check_noise(spec, train, errs, names)
    for role, opt in (train.get("optimizers") or {}).items():
        _check_optimizer(errs, ("train", "optimizers", role), opt)


def _check_noise(spec, train, errs, names):
    """The generator's inputs are the noise (`train.noise.input`) and data features.

    A generator may have no noise input at all (pix2pix, whose only noise is dropout) when
    every input it has comes from the data; one input the data does not give must be the noise.
    """
    gen = (spec.section("models") or {}).get(train.get("generator", "generator"))
    if not isinstance(gen, dict) or not isinstance(gen.get("inputs"), dict):
        return
    inputs = list(gen["inputs"])
    features = list(((spec.section("data") or {}).get("features") or {}).keys())
    noise = train.get("noise")
    if isinstance(noise, dict) and isinstance(noise.get("input"), str):
        if noise["input"] not in inputs:
            errs.add(("train", "noise", "input"),
                     f"'{noise['input']}' is not an input of the generator",
                     expected="one of " + ", ".join(inputs),
                     suggestion=did_you_mean(noise["input"], inputs))
        return
    if noise is not None:
        return  # malformed: the schema reports it
    undetermined = [n for n in inputs if n not in features]
    if undetermined:
        errs.add(("train",), f"missing 'noise': the generator's input '{undetermined[0]}' is "
                 "not a data feature",
                 expected=f"noise: {{input: {undetermined[0]}, distribution: normal}}, or "
                 f"'{undetermined[0]}' among data.features")


def _check_layerwise(spec, train, errs):
    pre = train.get("pretrain")
    if not isinstance(pre, dict):
        errs.add(("train",), "missing 'pretrain'",
                 expected="pretrain: {layers: [<Dense layer ids>], epochs: N}")
        return
    if not pre.get("layers"):
        errs.add(("train", "pretrain", "layers"), "no layers to pretrain",
                 expected="a list of Dense layer ids, from the input upwards")
    if "optimizer" in pre:
        _check_optimizer(errs, ("train", "pretrain", "optimizer"), pre["optimizer"])


_ADVERSARIAL_ONLY = ("generator", "discriminator", "noise", "optimizers",
                     "discriminator_steps", "generator_steps", "label_smoothing", "samples",
                     "reconstruction")
# what each loop does not read: a key it would silently ignore is an error instead
_UNUSED_BY_LOOP = {
    "supervised": _ADVERSARIAL_ONLY + ("pretrain",),
    "layerwise": _ADVERSARIAL_ONLY,
    "adversarial": ("model", "loss_weights", "metrics", "weighted_metrics", "class_weight",
                    "callbacks", "jit_compile", "steps_per_execution", "pretrain"),
}
_WHAT_LOOP_DOES = {
    "supervised": "Keras's fit on one model",
    "layerwise": "layer-wise pretraining, then Keras's fit",
    "adversarial": "its own step: it logs d_loss and g_loss, checkpoints every epoch and "
                   "writes TensorBoard scalars by itself",
}
# the multi-worker loop runs Keras's train_step, metrics and callbacks (loops_multiworker)
# but no XLA: collectives inside jit-compiled steps are not supported on every device
_UNUSED_BY_MULTI_WORKER = ("jit_compile",)


def _used(train, key) -> list[tuple]:
    """Paths of `key` in `train` that ask for something: for `callbacks`, each callback not
    turned off (`tensorboard: false` asks for nothing; NaN stops every loop anyway)."""
    if key not in train:
        return []
    if key == "callbacks" and isinstance(train[key], dict):
        return [("train", key, name) for name, value in train[key].items()
                if value not in (False, None) and name != "terminate_on_nan"]
    return [("train", key)]


def check_unused_keys(train: dict[str, Any], kind: str, errs: Collector) -> None:
    """Reports `train:` keys the chosen loop would not use, rather than ignoring them."""
    for key in _UNUSED_BY_LOOP.get(kind, ()):
        for path in _used(train, key):
            errs.add(path, f"the {kind} loop does not use '{'.'.join(path[1:])}' "
                     f"({_WHAT_LOOP_DOES[kind]})", expected="no such key here (remove it)"
                     if kind != "supervised" or key == "pretrain" else
                     "no such key here, or 'type: adversarial' with two models", key=True)
    strategy = (train.get("distribute") or {}).get("strategy")
    if strategy == "multi_worker" and kind == "supervised":
        for key in _UNUSED_BY_MULTI_WORKER:
            for path in _used(train, key):
                errs.add(path, f"the multi-worker loop does not use '{'.'.join(path[1:])}': "
                         "its steps run without XLA",
                         expected="no such key with strategy: multi_worker, or strategy: "
                         "mirrored on one machine", key=True)
    elif strategy == "multi_worker":
        where = ("train", "type") if "type" in train else ("train",)
        errs.add(where, f"the {kind} loop cannot be distributed over several workers "
                 "(strategy: multi_worker or --workers)",
                 expected="one machine (strategy: default, one_device, or mirrored for a "
                 "supervised spec; no --workers), or train.type: supervised to scale out")


def _trained_model_outputs(spec: CheckedSpec, train: dict[str, Any],
                           errs: Collector) -> list[str]:
    """Checks `train.model` of a `models:` spec; returns that model's output names."""
    models = list(spec.section("models") or {})
    name = train.get("model")
    if name is None:
        if len(models) > 1:
            errs.add(("train",), f"the supervised loop trains one model; this spec has "
                     f"{len(models)}: {', '.join(models)}",
                     expected="train.model: the one to train (e.g. the model calling the "
                     "others), or train.type: adversarial")
        return _output_names(spec, models[0]) if len(models) == 1 else []
    if name not in models:
        errs.add(("train", "model"), f"unknown model '{name}'",
                 expected="one of " + ", ".join(models), suggestion=did_you_mean(name, models))
        return []
    return _output_names(spec, name)


def check_train(spec: CheckedSpec, errs: Collector) -> None:
    """Checks the `train:` section of a spec beyond the schema (no TensorFlow).

    Args:
        spec: A `CheckedSpec` (its `section("train")` has parameters substituted).
        errs: The `Collector` to add problems to.
    """
    train = spec.section("train")
    if not isinstance(train, dict):
        return
    kind = train.get("type", "supervised")
    check_unused_keys(train, kind, errs)
    if "optimizer" in train:
        _check_optimizer(errs, ("train", "optimizer"), train["optimizer"])
    if kind == "adversarial":
        _check_adversarial(spec, train, errs)
        strategy = (train.get("distribute") or {}).get("strategy")
        if strategy == "mirrored":
            errs.add(("train", "distribute", "strategy"), "the adversarial loop runs on one "
                     "device", expected="strategy: default or one_device")
        return
    outputs = _output_names(spec) if spec.section("model") is not None else \
        _trained_model_outputs(spec, train, errs)
    _check_supervised(spec, train, errs, outputs)
    if kind == "layerwise":
        _check_layerwise(spec, train, errs)
    if train.get("jit_compile") is True and train.get("seed") is not None \
            and train.get("deterministic", True):
        errs.add(("train", "jit_compile"), "jit_compile: true cannot be used with op "
                 "determinism (on whenever a seed is given): Keras then turns XLA off",
                 expected="'deterministic: false' next to 'seed' to use XLA, or no jit_compile")
    init = train.get("init_from")
    if isinstance(init, dict) and isinstance(init.get("run"), str):
        from pathlib import Path
        path = Path(init["run"])
        path = path if path.is_absolute() else spec.base_dir / path
        if not (path / "state.json").is_file():
            errs.add(("train", "init_from", "run"), f"'{init['run']}' is not a run directory "
                     f"({path} has no state.json)",
                     expected="the run directory of an earlier `modelspec train`")
    dist = train.get("distribute") or {}
    if dist.get("strategy") in UNSUPPORTED_STRATEGIES:
        errs.add(("train", "distribute", "strategy"),
                 UNSUPPORTED_STRATEGIES[dist["strategy"]],
                 expected="a synchronous strategy: " + ", ".join(STRATEGIES))
    if dist.get("strategy") == "mirrored" and kind != "supervised":
        errs.add(("train", "distribute", "strategy"), f"the {kind} loop runs on one device",
                 expected="strategy: default or one_device (or train.type: supervised)")
    if dist.get("devices") and dist.get("strategy") not in ("mirrored", "one_device"):
        errs.add(("train", "distribute", "devices"), "devices are only used by the "
                 "'mirrored' and 'one_device' strategies",
                 expected="strategy: mirrored (or remove 'devices')")
