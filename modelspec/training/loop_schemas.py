"""The built-in loops as the `train:` section sees them: each loop's name, the keys only it
reads (their JSON Schema), the keys it does not use, and its semantic checks.

`LOOPS` is the table (`LOOP_TYPES` its names; `modelspec.training.run.LOOPS` maps the same
names to the code, a test keeps them equal). A key a loop would silently ignore is reported
by `check_unused_keys` instead. No TensorFlow here (`modelspec validate` reads this).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.schema.fragments import NUM, POS_INT, STR, obj
from modelspec.lang.spec import CheckedSpec
from modelspec.source import PathT
from modelspec.training import keras_names as kn
from modelspec.training.components_schema import (
    Schema,
    check_component,
    check_metrics,
    check_optimizer,
    check_per_output,
    component_schema,
    enum,
    is_component,
    optimizer_schema,
    p,
)

Train = dict[str, Any]  # the resolved `train:` section, as the checks receive it


def output_names(spec: CheckedSpec, model_name: str | None = None) -> list[str]:
    """The output names of the spec's `model:` (or of `models.<model_name>`)."""
    if model_name is None:
        model = spec.section("model")
    else:
        model = (spec.section("models") or {}).get(model_name)
    outs = (model or {}).get("outputs") or {}
    return list(outs) if isinstance(outs, dict) else []


# ----------------------------------------------------------------------------- supervised

def check_supervised(spec: CheckedSpec, train: Train, errs: Collector,
                     outputs: Sequence[str]) -> None:
    """The loss (required by the supervised loop), loss weights and metrics per output."""
    loss = train.get("loss")
    if loss is None and train.get("type", "supervised") == "supervised":
        errs.add(("train",), "missing 'loss'", expected="a Keras loss, e.g. "
                 "'sparse_categorical_crossentropy', or one per output")
    elif is_component(loss):
        check_component(errs, ("train", "loss"), loss, kn.loss_names(), "loss")
    elif isinstance(loss, dict):
        check_per_output(errs, ("train", "loss"), loss, outputs, "loss")
        for key, one in loss.items():
            check_component(errs, ("train", "loss", key), one, kn.loss_names(), "loss")
    weights = train.get("loss_weights")
    if isinstance(weights, dict):
        check_per_output(errs, ("train", "loss_weights"), weights, outputs, "weight")
    elif isinstance(weights, list) and outputs and len(weights) != len(outputs):
        errs.add(("train", "loss_weights"), f"{len(weights)} weights for {len(outputs)} outputs",
                 expected="one weight per output (or a mapping output → weight)")
    for section in ("metrics", "weighted_metrics"):
        check_metrics(errs, section, train.get(section), outputs)


# ----------------------------------------------------------------------------- adversarial

def adversarial_props() -> Schema:
    """The keys only the adversarial loop reads."""
    noise = obj({"input": p(STR), "distribution": enum(["normal", "uniform"]),
                 "stddev": p(NUM), "minval": p(NUM), "maxval": p(NUM)},
                required=["input"], description="the generator's noise input")
    samples = obj({"every": p(POS_INT), "count": p(POS_INT), "output": p(STR)},
                  description="a grid of generated samples saved as PNG")
    reconstruction = obj({"loss": component_schema("loss"), "weight": p(NUM)},
                         description="an extra generator loss towards the targets (pix2pix)")
    return {
        "generator": p(STR), "discriminator": p(STR), "noise": noise,
        "optimizers": obj({"generator": optimizer_schema(),
                           "discriminator": optimizer_schema()}),
        "discriminator_steps": p(POS_INT), "generator_steps": p(POS_INT),
        "label_smoothing": p(NUM), "samples": samples, "reconstruction": reconstruction,
    }


def check_adversarial(spec: CheckedSpec, train: Train, errs: Collector) -> None:
    """Two models named for the roles, the generator's noise, the per-role optimizers."""
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
    _check_noise(spec, train, errs)
    for role, opt in (train.get("optimizers") or {}).items():
        check_optimizer(errs, ("train", "optimizers", role), opt)


def _check_noise(spec: CheckedSpec, train: Train, errs: Collector) -> None:
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


# ----------------------------------------------------------------------------- layerwise

def layerwise_props() -> Schema:
    """The keys only the layer-wise loop reads."""
    pretrain = obj({"layers": {"type": "array", "items": p(STR)}, "epochs": p(POS_INT),
                    "optimizer": optimizer_schema(), "loss": component_schema("loss"),
                    "noise": p(NUM), "corruption": enum(["gaussian", "dropout"]),
                    "decoder_activation": p(STR), "model": p(STR)},
                   required=["layers"],
                   description="greedy layer-wise autoencoder pretraining of Dense layers")
    return {"pretrain": pretrain}


def check_layerwise(spec: CheckedSpec, train: Train, errs: Collector) -> None:
    """`train.pretrain` names the layers to pretrain and a known optimizer."""
    pre = train.get("pretrain")
    if not isinstance(pre, dict):
        errs.add(("train",), "missing 'pretrain'",
                 expected="pretrain: {layers: [<Dense layer ids>], epochs: N}")
        return
    if not pre.get("layers"):
        errs.add(("train", "pretrain", "layers"), "no layers to pretrain",
                 expected="a list of Dense layer ids, from the input upwards")
    if "optimizer" in pre:
        check_optimizer(errs, ("train", "pretrain", "optimizer"), pre["optimizer"])


# ----------------------------------------------------------------------------- the table

@dataclass(frozen=True)
class LoopSchema:
    """One built-in loop, as the `train:` section sees it.

    Args:
        name: `train.type`.
        does: What the loop does (in the message about a key it does not use).
        props: The schema of the keys only this loop reads.
        unused: The section's keys this loop does not read (an error when given).
    """

    name: str
    does: str
    props: Callable[[], Schema]
    unused: tuple[str, ...]


ADVERSARIAL_ONLY = ("generator", "discriminator", "noise", "optimizers",
                    "discriminator_steps", "generator_steps", "label_smoothing", "samples",
                    "reconstruction")
LOOPS: tuple[LoopSchema, ...] = (
    LoopSchema("supervised", "Keras's fit on one model", dict,
               ADVERSARIAL_ONLY + ("pretrain",)),
    LoopSchema("adversarial", "its own step: it logs d_loss and g_loss, checkpoints every "
               "epoch and writes TensorBoard scalars by itself", adversarial_props,
               ("model", "loss_weights", "metrics", "weighted_metrics", "class_weight",
                "callbacks", "jit_compile", "steps_per_execution", "pretrain")),
    LoopSchema("layerwise", "layer-wise pretraining, then Keras's fit", layerwise_props,
               ADVERSARIAL_ONLY),
)
LOOP_TYPES = [loop.name for loop in LOOPS]
_BY_NAME = {loop.name: loop for loop in LOOPS}
# the multi-worker loop runs Keras's train_step, metrics and callbacks (loops.multiworker)
# but no XLA: collectives inside jit-compiled steps are not supported on every device
_UNUSED_BY_MULTI_WORKER = ("jit_compile",)


def loop_props() -> Schema:
    """The schemas of every loop's own keys (one `train:` schema accepts them all; which
    loop may use which is `check_unused_keys`'s)."""
    props: Schema = {}
    for loop in LOOPS:
        props.update(loop.props())
    return props


def _used(train: Train, key: str) -> list[PathT]:
    """Paths of `key` in `train` that ask for something: for `callbacks`, each callback not
    turned off (`tensorboard: false` asks for nothing; NaN stops every loop anyway)."""
    if key not in train:
        return []
    if key == "callbacks" and isinstance(train[key], dict):
        return [("train", key, name) for name, value in train[key].items()
                if value not in (False, None) and name != "terminate_on_nan"]
    return [("train", key)]


def _check_loop_keys(train: Train, loop: LoopSchema, errs: Collector) -> None:
    """The keys of `train` that `loop` does not read."""
    for key in loop.unused:
        for path in _used(train, key):
            errs.add(path, f"the {loop.name} loop does not use "
                     f"'{'.'.join(map(str, path[1:]))}' ({loop.does})",
                     expected="no such key here (remove it)"
                     if loop.name != "supervised" or key == "pretrain" else
                     "no such key here, or 'type: adversarial' with two models", key=True)


def check_unused_keys(train: Train, kind: str, errs: Collector) -> None:
    """Reports `train:` keys the chosen loop would not use, rather than ignoring them."""
    loop = _BY_NAME.get(kind)
    if loop is not None:
        _check_loop_keys(train, loop, errs)
    strategy = (train.get("distribute") or {}).get("strategy")
    if strategy == "multi_worker" and kind == "supervised":
        for key in _UNUSED_BY_MULTI_WORKER:
            for path in _used(train, key):
                errs.add(path, "the multi-worker loop does not use "
                         f"'{'.'.join(map(str, path[1:]))}': its steps run without XLA",
                         expected="no such key with strategy: multi_worker, or strategy: "
                         "mirrored on one machine", key=True)
    elif strategy == "multi_worker":
        where: PathT = ("train", "type") if "type" in train else ("train",)
        errs.add(where, f"the {kind} loop cannot be distributed over several workers "
                 "(strategy: multi_worker or --workers)",
                 expected="one machine (strategy: default, one_device, or mirrored for a "
                 "supervised spec; no --workers), or train.type: supervised to scale out")
