"""JSON Schema fragment and semantic checks of the `export:` section (no TensorFlow).

Example:
```yaml
export:
  models: [encoder, decoder]     # which models (default: all; a GAN: its generator)
  formats: [savedmodel, keras, tflite]
  directory: exported/lenet5     # default --output, relative to the spec
  weights: best                  # from a run: final (default), best or latest
  classify: true                 # add probabilities/classes (default: softmax/sigmoid outputs)
  labels: [zero, one, two, three, four, five, six, seven, eight, nine]
  threshold: 0.5                 # sigmoid outputs: probability counted as class 1
  raw_signature: true            # serving_raw with the data pipeline's preprocessing
  tolerance: 1.0e-5              # reloaded SavedModel vs in-memory model
  tflite: {optimize: dynamic, tolerance: 1.0e-2}
  generate: {feed: decoder_input, output: target, start_token: 1}   # seq2seq decoding
```
`generate` adds a `generate` signature that decodes greedily, feeding each step's output
back (`modelspec.decoding`); `modelspec evaluate` then also reports accuracy without teacher
forcing.
"""

from __future__ import annotations

from typing import Any

from modelspec.errors import Collector, did_you_mean
from modelspec.exporting.options import FORMATS, TFLITE_OPTIMIZE
from modelspec.lang.schema.fragments import BOOL, INT, POS_INT, STR, obj, param_or
from modelspec.lang.spec import CheckedSpec

WEIGHTS = ["final", "best", "latest"]


def _p(schema: dict[str, Any]) -> dict[str, Any]:
    return param_or(schema)


def _names() -> dict[str, Any]:
    return {"type": "array", "items": _p(STR), "minItems": 1, "uniqueItems": True}


def export_schema() -> dict[str, Any]:
    """Returns the JSON Schema (Draft 2020-12) of the `export:` section."""
    labels_list = {"type": "array", "items": _p({"type": ["string", "integer"]}),
                   "minItems": 1}
    positive = {"type": "number", "exclusiveMinimum": 0}
    return obj({
        "models": _p(_names() | {"description": "the models to export (names under "
                                                "`models:`); each gets its own directory "
                                                "when there are several"}),
        "formats": _p({"type": "array", "items": _p({"type": "string", "enum": list(FORMATS)}),
                       "minItems": 1, "uniqueItems": True,
                       "description": "savedmodel (TF Serving), keras (.keras archive), "
                                      "tflite"}),
        "directory": _p(STR | {"description": "default output directory (relative to the "
                                              "spec); `--output` overrides it"}),
        "weights": _p({"type": "string", "enum": WEIGHTS,
                       "description": "which weights of a run to export"}),
        "classify": _p({"anyOf": [BOOL, _names()],
                        "description": "add a `classify` signature (probabilities, classes, "
                                       "labels): true, false or a list of output names; "
                                       "default: outputs ending in softmax or sigmoid"}),
        "labels": _p({"anyOf": [labels_list, {"type": "object",
                                               "additionalProperties": _p(labels_list)}],
                      "description": "class names: a list, or output name → list"}),
        "threshold": _p({"type": "number", "minimum": 0, "maximum": 1,
                         "description": "probability above which a sigmoid output is class 1"}),
        "raw_signature": _p(BOOL | {"description": "add `serving_raw` (raw features through "
                                                   "the data pipeline's preprocessing)"}),
        "tolerance": _p(positive | {"description": "largest abs difference allowed between "
                                                   "the reloaded export and the model"}),
        "tflite": _p(obj({
            "optimize": _p({"type": "string", "enum": list(TFLITE_OPTIMIZE)}),
            "tolerance": _p(positive),
        }, description="TFLite conversion options")),
        "generate": _p(_generate_schema()),
    }, description="SavedModel export for TensorFlow Serving (and other formats)")


def _generate_schema() -> dict[str, Any]:
    token = _p(INT | {"minimum": 0})
    return obj({
        "feed": _p(STR | {"description": "the model input fed the tokens generated so far "
                                         "(trained with the target shifted right)"}),
        "output": _p(STR | {"description": "the output whose argmax is the next token"}),
        "start_token": token,
        "end_token": {"anyOf": [token, {"type": "null"}]},
        "pad_token": token,
        "max_length": _p(POS_INT | {"description": "default: the length of `feed`"}),
    }, required=["feed", "output", "start_token"],
        description="a `generate` signature decoding greedily without teacher forcing "
                    "(each step's output fed back; see modelspec.decoding)")


def _graph_outputs(spec: CheckedSpec, model_name: str) -> list[str]:
    graph = spec.graphs.get(model_name)
    return list(graph.outputs) if graph is not None else []


def default_models(spec: CheckedSpec) -> list[str]:
    """The models exported when `export.models` is absent: a GAN's generator, else all."""
    train = spec.section("train") or {}
    names = list(spec.model_names)
    if isinstance(train, dict) and train.get("type") == "adversarial":
        generator = train.get("generator", "generator")
        if generator in names:
            return [generator]
    return names


def exported_models(spec: CheckedSpec) -> list[str]:
    """The names of the models a spec exports (`export.models`, or `default_models`)."""
    section = spec.section("export") or {}
    return list(section.get("models") or default_models(spec))


def check_export(spec: CheckedSpec, errs: Collector) -> None:
    """Checks the `export:` section against the spec's models and outputs.

    Args:
        spec: The `CheckedSpec` (graphs expanded).
        errs: The `Collector` problems are added to.
    """
    section = spec.section("export")
    if not isinstance(section, dict):
        return
    names = list(spec.model_names)
    for i, name in enumerate(section.get("models") or []):
        if name not in names:
            errs.add(("export", "models", i), f"unknown model '{name}'",
                     expected=f"one of the spec's models ({', '.join(names)})",
                     suggestion=did_you_mean(name, names))
    exported = exported_models(spec)
    if any(m not in names for m in exported):  # a typo above: accept the outputs of all models
        exported = names
    outputs = sorted({o for m in exported for o in _graph_outputs(spec, m)})
    where = ", ".join(outputs) or "none"
    classify = section.get("classify")
    if isinstance(classify, list):
        for i, name in enumerate(classify):
            if name not in outputs:
                errs.add(("export", "classify", i), f"unknown output '{name}'",
                         expected=f"an output of an exported model ({where})",
                         suggestion=did_you_mean(name, outputs))
    labels = section.get("labels")
    if classify is False and labels:
        errs.add(("export", "labels"), "labels are given but classify is false",
                 expected="classify: true (or no classify key), or no labels")
    lists = labels.items() if isinstance(labels, dict) else \
        [(None, labels)] if isinstance(labels, list) else []
    for output, values in lists:
        path = ("export", "labels") + ((output,) if output is not None else ())
        if output is not None and output not in outputs:
            errs.add(path, f"unknown output '{output}'", key=True,
                     expected=f"an output of an exported model ({where})",
                     suggestion=did_you_mean(output, outputs))
        seen = set()
        for i, value in enumerate(values or []):
            if str(value) in seen:
                errs.add(path + (i,), f"duplicate label '{value}'",
                         expected="distinct class names")
            seen.add(str(value))
    _check_generate(spec, section.get("generate"), exported, errs)
    formats = section.get("formats") or ["savedmodel"]
    if "tflite" in section and "tflite" not in formats:
        errs.add(("export", "tflite"), "TFLite options are given but 'tflite' is not in "
                 "export.formats", key=True, expected="formats: [..., tflite] or no tflite key")
    if section.get("raw_signature") and "savedmodel" not in formats:
        errs.add(("export", "raw_signature"), "raw_signature needs the SavedModel format",
                 expected="formats to include 'savedmodel'")


def _check_generate(spec: CheckedSpec, generate: Any, exported: list[str],
                    errs: Collector) -> None:
    """`export.generate` names an input and an output of the one exported model."""
    if not isinstance(generate, dict):
        return
    if len(exported) != 1 or exported[0] not in spec.graphs:
        errs.add(("export", "generate"), f"generate needs one exported model; this spec "
                 f"exports {', '.join(exported) or 'none'}", key=True,
                 expected="export.models naming the decoder model")
        return
    graph = spec.graphs[exported[0]]
    for key, names, what in (("feed", list(graph.inputs), "input"),
                             ("output", list(graph.outputs), "output")):
        name = generate.get(key)
        if isinstance(name, str) and name not in names:
            errs.add(("export", "generate", key), f"unknown {what} '{name}'",
                     expected=f"an {what} of model '{exported[0]}' ({', '.join(names)})",
                     suggestion=did_you_mean(name, names))
    end = generate.get("end_token")
    if end is not None and end == generate.get("pad_token", 0):
        errs.add(("export", "generate", "end_token"), "end_token equals pad_token",
                 expected="distinct end and padding tokens")
