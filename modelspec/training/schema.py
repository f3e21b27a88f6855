"""JSON Schema fragment and semantic checks of the `train:` section (no TensorFlow).

The schema closes every object (`additionalProperties: false`) and accepts `$name` /
`$(expr)` parameter references for every leaf. Names of Keras components (optimizers,
schedules, losses, metrics) and per-optimizer arguments are checked by `check_train`, which
reports each mistake at its YAML position with a "did you mean" suggestion. The components'
schemas and checks are `modelspec.training.components_schema`; each loop's own keys and
checks, `modelspec.training.loop_schemas`; this module assembles them.

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

from pathlib import Path
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.schema.fragments import BOOL, INT, NUM, POS_INT, STR, obj
from modelspec.lang.spec import CheckedSpec
from modelspec.training.components_schema import (
    Schema,
    callbacks_schema,
    check_optimizer,
    enum,
    loss_schema,
    metrics_schema,
    optimizer_schema,
    p,
)
from modelspec.training.loop_schemas import (
    LOOP_TYPES,
    check_adversarial,
    check_layerwise,
    check_supervised,
    check_unused_keys,
    loop_props,
    output_names,
)

__all__ = ["LOOP_TYPES", "PRECISIONS", "STRATEGIES", "UNSUPPORTED_STRATEGIES", "check_train",
           "check_unused_keys", "optimizer_schema", "train_schema"]

PRECISIONS = ["float32", "mixed_float16", "mixed_bfloat16"]
STRATEGIES = ["default", "one_device", "mirrored", "multi_worker"]
# Lecture V's asynchronous SGD (parameter servers, Hogwild): tf.distribute has
# ParameterServerStrategy, but Keras 3 does not train under it ("Parameter server training is
# not supported in Keras 3", keras-team/keras#18624), so a spec naming it gets that reason.
UNSUPPORTED_STRATEGIES = {"parameter_server": (
    "asynchronous parameter-server training is not supported by Keras 3 (tf.distribute's "
    "ParameterServerStrategy works with tf.keras 2 only; keras-team/keras#18624)")}


def train_schema() -> Schema:
    """Returns the JSON Schema (Draft 2020-12) fragment of the `train:` section.

    Returns:
        A closed object schema; every leaf also accepts a parameter reference.

    Example:
    >>> train_schema()["properties"]["type"]
    """
    props = {
        "type": enum(LOOP_TYPES),
        "model": {**p(STR), "description": "in a 'models:' spec, the model the supervised "
                  "loop trains (its layers are shared with the models it calls)"},
        "epochs": p(POS_INT), "steps_per_epoch": p(POS_INT),
        "validation_steps": p(POS_INT), "validation_freq": p(POS_INT),
        "optimizer": optimizer_schema(), "loss": loss_schema(),
        "loss_weights": {"anyOf": [{"type": "object", "additionalProperties": p(NUM)},
                                   {"type": "array", "items": p(NUM)}]},
        "metrics": metrics_schema(),
        "weighted_metrics": {**metrics_schema(), "description": "metrics weighted by "
                             "data.sample_weights (Keras compile's weighted_metrics)"},
        "class_weight": {"type": "object", "propertyNames": {"pattern": "^[0-9]+$"},
                         "additionalProperties": p(NUM)},
        "callbacks": callbacks_schema(), "seed": p(INT),
        "deterministic": p(BOOL), "precision": enum(PRECISIONS),
        "jit_compile": {"anyOf": [p(BOOL), enum(["auto"])],
                        "description": "XLA; default on the CPU: on for dense-only models, off "
                        "for convolutional ones (auto-clustering of their element-wise ops "
                        "with batch normalisation), off in a seeded run; Keras's 'auto' on a "
                        "GPU"},
        "steps_per_execution": {**p(POS_INT), "description": "training steps per call; "
                                "default 8 with one replica, 1 under a distribution strategy"},
        "threads": obj({"intra_op": p(INT), "inter_op": p(INT)},
                       description="CPU thread pools (0 = TensorFlow's choice)"),
        "distribute": obj({"strategy": enum(STRATEGIES + list(UNSUPPORTED_STRATEGIES)),
                           "devices": {"type": "array", "items": p(STR)},
                           "communication": enum(["auto", "ring", "nccl"])},
                          description="a tf.distribute strategy"),
        "verbose": {"anyOf": [p(INT), enum(["auto"])]},
        "init_from": obj({"run": p(STR), "weights": enum(["final", "best", "latest"]),
                          "layers": {"type": "array", "items": p(STR)},
                          "grow": enum(["net2net"])}, required=["run"],
                         description="start from an earlier run's weights (transfer, Net2Net)"),
    }
    props.update(loop_props())
    return obj(props, description="how the model is trained (a built-in loop)")


# ----------------------------------------------------------------------------- semantics

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
        return output_names(spec, models[0]) if len(models) == 1 else []
    if name not in models:
        errs.add(("train", "model"), f"unknown model '{name}'",
                 expected="one of " + ", ".join(models), suggestion=did_you_mean(name, models))
        return []
    return output_names(spec, name)


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
        check_optimizer(errs, ("train", "optimizer"), train["optimizer"])
    if kind == "adversarial":
        check_adversarial(spec, train, errs)
        strategy = (train.get("distribute") or {}).get("strategy")
        if strategy == "mirrored":
            errs.add(("train", "distribute", "strategy"), "the adversarial loop runs on one "
                     "device", expected="strategy: default or one_device")
        return
    outputs = output_names(spec) if spec.section("model") is not None else \
        _trained_model_outputs(spec, train, errs)
    check_supervised(spec, train, errs, outputs)
    if kind == "layerwise":
        check_layerwise(spec, train, errs)
    _check_jit(train, errs)
    _check_init_from(spec, train, errs)
    _check_distribute(train, kind, errs)


def _check_jit(train: dict[str, Any], errs: Collector) -> None:
    """XLA cannot be forced on in a seeded (op-deterministic) run."""
    if train.get("jit_compile") is True and train.get("seed") is not None \
            and train.get("deterministic", True):
        errs.add(("train", "jit_compile"), "jit_compile: true cannot be used with op "
                 "determinism (on whenever a seed is given): Keras then turns XLA off",
                 expected="'deterministic: false' next to 'seed' to use XLA, or no jit_compile")


def _check_init_from(spec: CheckedSpec, train: dict[str, Any], errs: Collector) -> None:
    """`train.init_from.run` is the run directory of an earlier `modelspec train`."""
    init = train.get("init_from")
    if isinstance(init, dict) and isinstance(init.get("run"), str):
        path = Path(init["run"])
        path = path if path.is_absolute() else spec.base_dir / path
        if not (path / "state.json").is_file():
            errs.add(("train", "init_from", "run"), f"'{init['run']}' is not a run directory "
                     f"({path} has no state.json)",
                     expected="the run directory of an earlier `modelspec train`")


def _check_distribute(train: dict[str, Any], kind: str, errs: Collector) -> None:
    """A supported strategy that the loop can use, devices only where they are read."""
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
