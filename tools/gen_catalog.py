"""Regenerates modelspec/lang/keras_catalog.json from the installed Keras.

The catalogue lists every Keras component a spec may name (layers, optimizers, losses,
metrics, initialisers, regularisers, constraints, activations, learning-rate schedules,
applications) with its constructor arguments and defaults. `modelspec validate` reads this
JSON instead of importing TensorFlow, which keeps validation well under a second.
`tests/test_catalog.py` fails when the file no longer matches the installed Keras.

Usage: python tools/gen_catalog.py [--check]
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUT = Path(__file__).resolve().parents[1] / "modelspec" / "lang" / "keras_catalog.json"

# Layers that need Python objects (functions, cells, other frameworks) or are internal.
EXCLUDED_LAYERS = {
    "Layer", "InputLayer", "Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer",
    "Wrapper", "RNN", "GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells", "Pipeline",
}
BASE_LAYER_ARGS = {"dtype": None, "activity_regularizer": None}
# keras_hub's layers that map tensors to tensors (its transformer building blocks), usable as
# `type: keras_hub.<Name>`; its image/audio converters, packers and task heads are left out.
KERAS_HUB_LAYERS = ("AlibiBias", "FNetEncoder", "PositionEmbedding", "ReversibleEmbedding",
                    "RMSNormalization", "RotaryEmbedding", "SinePositionEncoding",
                    "TokenAndPositionEmbedding", "TransformerDecoder", "TransformerEncoder")
REQUIRED = "__required__"


def _json_default(value):
    if value is inspect.Parameter.empty:
        return REQUIRED
    if isinstance(value, tuple):
        return [_json_default(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, list):
        return [_json_default(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_default(v) for k, v in value.items()}
    return {"__object__": type(value).__name__}


def _args(func, skip=("self",)) -> dict:
    out = {}
    for name, param in inspect.signature(func).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        out[name] = _json_default(param.default)
    return out


def _classes(module, base) -> dict:
    found = {}
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base:
            found[name] = obj
    return found


def _layer_entry(cls) -> dict:
    args = _args(cls.__init__)
    for key, default in BASE_LAYER_ARGS.items():
        args.setdefault(key, default)
    args.pop("name", None)
    return {"args": args, "call": _args(cls.call), "class": cls.__name__}


def build() -> dict:
    import keras
    import keras_hub

    catalog = {"keras_version": keras.__version__, "layers": {}}
    for name, cls in _classes(keras.layers, keras.layers.Layer).items():
        if name in EXCLUDED_LAYERS:
            continue
        catalog["layers"][name] = _layer_entry(cls)
    catalog["keras_hub_version"] = keras_hub.__version__
    for name in KERAS_HUB_LAYERS:
        catalog["layers"][f"keras_hub.{name}"] = _layer_entry(getattr(keras_hub.layers, name))
    skip_opt = {"Optimizer", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"}
    catalog["optimizers"] = {n: _args(c.__init__) for n, c in
                             _classes(keras.optimizers, keras.optimizers.Optimizer).items()
                             if n not in skip_opt}
    for kind, module, base in (
        ("losses", keras.losses, keras.losses.Loss),
        ("metrics", keras.metrics, keras.metrics.Metric),
        ("initializers", keras.initializers, keras.initializers.Initializer),
        ("regularizers", keras.regularizers, keras.regularizers.Regularizer),
        ("constraints", keras.constraints, keras.constraints.Constraint),
        ("schedules", keras.optimizers.schedules,
         keras.optimizers.schedules.LearningRateSchedule),
    ):
        entries = {}
        for name, cls in _classes(module, base).items():
            args = _args(cls.__init__)
            args.pop("name", None)
            entries[name] = args
        catalog[kind] = entries
    catalog["loss_functions"] = sorted(
        n for n in dir(keras.losses) if not n.startswith("_") and n[0].islower()
        and n not in {"get", "serialize", "deserialize"} and callable(getattr(keras.losses, n)))
    catalog["metric_functions"] = sorted(
        n for n in dir(keras.metrics) if not n.startswith("_") and n[0].islower()
        and n not in {"get", "serialize", "deserialize"} and callable(getattr(keras.metrics, n)))
    catalog["activations"] = sorted(
        n for n in dir(keras.activations) if not n.startswith("_")
        and n not in {"get", "serialize", "deserialize"}
        and callable(getattr(keras.activations, n)))
    catalog["initializer_names"] = sorted(
        n for n in dir(keras.initializers) if n[0].islower() and not n.startswith("_")
        and n not in {"get", "serialize", "deserialize"})
    catalog["regularizer_names"] = ["l1", "l1_l2", "l2", "orthogonal_regularizer"]
    catalog["constraint_names"] = ["max_norm", "min_max_norm", "non_neg", "unit_norm"]
    # the callbacks `train.callbacks` builds (their arguments, less what modelspec sets:
    # the log directory, the CSV file)
    catalog["callbacks"] = {n: {k: v for k, v in _args(getattr(keras.callbacks, n).__init__)
                                .items() if k not in ("log_dir", "filename", "append")}
                            for n in ("CSVLogger", "EarlyStopping", "ReduceLROnPlateau",
                                      "TensorBoard")}
    catalog["applications"] = {
        n: _args(getattr(keras.applications, n)) for n in sorted(dir(keras.applications))
        if n[0].isupper() and callable(getattr(keras.applications, n))}
    return catalog


def main() -> int:
    text = json.dumps(build(), indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python tools/gen_catalog.py")
            return 1
        return 0
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, OUT)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
