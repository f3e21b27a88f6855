"""The export options, built once: from the spec's `export:` section and the caller's overrides.

`ExportOptions` travels from `modelspec.exporting.api` to `stage_model` and the signatures
instead of a dozen loose arguments; `ExportOptionError` reports an option that does not fit
the model. No TensorFlow here: `modelspec.exporting.schema` (validation) uses the names too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.errors import UsageError

# Export formats: a SavedModel for TensorFlow Serving, a `.keras` archive, a TFLite flatbuffer.
FORMATS = ("savedmodel", "keras", "tflite")
TFLITE_OPTIMIZE = ("none", "dynamic", "float16")
DEFAULT_TOLERANCE = 1e-5   # reloaded SavedModel / .keras vs the in-memory model
TFLITE_TOLERANCE = 1e-4    # TFLite (its kernels differ more)

# `classify`: None (automatic), True/False, output names, or model name → one of those.
Classify = bool | Sequence[str] | Mapping[str, Any] | None


class ExportOptionError(ValueError):
    """An export option (`classify`, `labels`, `preprocessing`) does not fit the model.

    Args:
        option: The option's key in the spec's `export:` section.
        message: What is wrong.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class ExportOptions:
    """How each model is exported (see `modelspec.exporting.api.export_models`).

    Args:
        formats: Any of `FORMATS`.
        classify: None (automatic: softmax/sigmoid outputs), True/False, or output names;
            or a dict model name → one of those.
        labels: Class names: a list, or output name → list.
        threshold: Decision threshold of sigmoid classifier outputs.
        raw_signature: Add a `serving_raw` signature when preprocessing is given.
        tolerance: Largest allowed abs difference of the reloaded SavedModel / `.keras`.
        tflite_tolerance: The same for TFLite.
        tflite_optimize: `none`, `dynamic` or `float16` TFLite weight quantisation.
        generate: A `modelspec.decoding.GenerateConfig` (from `export.generate`): a
            `generate` signature that decodes greedily, feeding each step's output back.
    """

    formats: tuple[str, ...] = ("savedmodel",)
    classify: Classify = None
    labels: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None
    threshold: float = 0.5
    raw_signature: bool = True
    tolerance: float = DEFAULT_TOLERANCE
    tflite_tolerance: float = TFLITE_TOLERANCE
    tflite_optimize: str = "none"
    generate: Any = None  # modelspec.decoding.GenerateConfig: a `generate` signature

    def __post_init__(self) -> None:
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise UsageError(f"unknown export format(s) {unknown}; expected some of "
                             f"{', '.join(FORMATS)}")

    @classmethod
    def from_section(cls, section: Mapping[str, Any], **overrides: Any) -> ExportOptions:
        """The options a resolved `export:` section gives, with `overrides` (field → value)
        replacing them; a `formats` override of None keeps the section's."""
        tflite = section.get("tflite") or {}
        formats = overrides.pop("formats", None) or section.get("formats") or ["savedmodel"]
        values = {"formats": tuple(formats), "classify": section.get("classify"),
                  "labels": section.get("labels"),
                  "threshold": section.get("threshold", 0.5),
                  "raw_signature": section.get("raw_signature") is not False,
                  "tolerance": section.get("tolerance", DEFAULT_TOLERANCE),
                  "tflite_tolerance": tflite.get("tolerance", TFLITE_TOLERANCE),
                  "tflite_optimize": tflite.get("optimize", "none")}
        values.update(overrides)
        return cls(**values)

    def for_outputs(self, outputs: Collection[str], model: str | None = None) -> ExportOptions:
        """These options for one model: its entry of a per-model `classify`, the parts of
        `classify` (a list of output names) and `labels` (a dict by output) that name
        `outputs`, the model's output names."""
        classify, labels = self.classify, self.labels
        if isinstance(classify, Mapping):
            classify = classify.get(model) if model is not None else None
        if isinstance(classify, (list, tuple)):
            classify = [k for k in classify if k in outputs] or False
        if isinstance(labels, Mapping):
            labels = {k: v for k, v in labels.items() if k in outputs} or None
        return dataclasses.replace(self, classify=classify, labels=labels)

    def check_output_names(self, outputs: Collection[str]) -> None:
        """Raises `ExportOptionError` when `classify` / `labels` name no exported output."""
        per_model = self.classify.values() if isinstance(self.classify, Mapping) \
            else [self.classify]
        classify = [n for value in per_model if isinstance(value, (list, tuple)) for n in value]
        labels = self.labels if isinstance(self.labels, Mapping) else ()
        for option, names in (("classify", classify), ("labels", labels)):
            unknown = [n for n in names if n not in outputs]
            if unknown:
                raise ExportOptionError(option, f"unknown output(s) {unknown}; the exported "
                                        f"outputs are {sorted(outputs)}")
