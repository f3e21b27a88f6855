"""Generates docs/REFERENCE.md from the registries: every name a spec may use, with its
arguments, a one-line meaning and a tiny example.

Sources (with the fields they yield), generated data sets, transforms, augmentations,
built-in layers, keras_hub layers, Keras layers, losses, metrics, optimizers, callbacks and
the `train:` keys all come from the same tables the schema is built from, so the reference
cannot drift from what `modelspec validate` accepts: `tests/test_reference.py` fails when
the file is stale (as `tools/gen_catalog.py` for the catalogue).

Usage: python tools/gen_reference.py [--check]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "REFERENCE.md"

# example values of required arguments, by name (others come from their schema's type)
EXAMPLES = {"path": "data/train.csv", "images": "train-images-idx3-ubyte.gz",
            "labels": "train-labels-idx1-ubyte.gz", "field": "image", "fields": ["a", "b"],
            "output": "out", "dtype": "float32", "scale": 0.00392, "height": 28, "width": 28,
            "padding": 2, "shape": [784], "depth": 10, "num_bins": 64, "pattern": "\\\\.$",
            "length": 20, "vocabulary_size": 5000, "values": [1, 5],
            "mapping": {"'1'": 0, "'5'": 1}, "columns": ["temperature"], "window": 24,
            "factor": 0.1, "height_factor": 0.1, "width_factor": 0.1}


SOURCE_EXAMPLES = {"tfds": {"name": "mnist"}, "npz": {"path": "data/arrays.npz"},
                   "image_folder": {"path": "data/photos", "image_size": [64, 64]},
                   "text": {"path": "data/corpus.txt"},
                   "timeseries": {"path": "data/weather.csv"}}


# meanings of the `train:` keys whose schema has no description (the loops' own words)
TRAIN_MEANINGS = {
    "type": "the loop: supervised (Keras fit), adversarial (GANs) or layerwise (stacked "
            "autoencoders); default supervised",
    "epochs": "epochs to train (a resumed run continues to this number)",
    "steps_per_epoch": "Keras fit's steps_per_epoch", "validation_steps": "Keras fit's "
    "validation_steps", "validation_freq": "validate every N epochs (Keras fit)",
    "optimizer": "`adam` or `{type: Adam, learning_rate: ...}` (a number or a schedule)",
    "loss": "one loss for every output, or one per output name",
    "loss_weights": "weights of the per-output losses (Keras compile)",
    "metrics": "a list for every output, or one list per output name",
    "class_weight": "class index → weight of its examples' loss (Keras fit)",
    "seed": "seeds weights, shuffling and dropout, and turns op determinism on",
    "deterministic": "op determinism with a seed (default true)",
    "precision": "float32, mixed_float16 or mixed_bfloat16 (Keras dtype policy)",
    "verbose": "Keras fit's verbosity (the CLI's progress bar by default)",
    "generator": "adversarial: the generator's model name (default generator)",
    "discriminator": "adversarial: the discriminator's model name (default discriminator)",
    "optimizers": "adversarial: one optimizer for the generator, one for the discriminator",
    "discriminator_steps": "adversarial: discriminator updates per step",
    "generator_steps": "adversarial: generator updates per step",
    "label_smoothing": "adversarial: one-sided label smoothing — the discriminator's "
                       "targets for real samples are 1 − label_smoothing (fakes stay 0)",
}


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a `|` would end the cell)."""
    return text.replace("|", "\\|")


def _value(name: str, schema: dict):
    if name in EXAMPLES:
        return EXAMPLES[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    return {"integer": 8, "number": 0.5, "boolean": True, "array": []}.get(kind, "...")


def _flow(mapping: dict) -> str:
    parts = []
    for key, value in mapping.items():
        text = json.dumps(value, ensure_ascii=False).replace('"', "") \
            if not isinstance(value, str) else value
        parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


def _args(schemas: dict, required) -> str:
    return ", ".join(f"**{a}**" if a in required else a for a in schemas) or "—"


def _sources(lines: list[str]) -> None:
    from modelspec.data.registry import GENERATED, SKLEARN_NAMES, SOURCES
    lines += ["## Data sources (`data.source`)", "",
              "Bold arguments are required. A source yields named *fields*; "
              "`data.features` / `data.targets` map model inputs and outputs to them.", "",
              "| type | meaning (fields) | arguments | example |", "|---|---|---|---|"]
    for name, (schemas, required, meaning) in SOURCES.items():
        example = {"type": name, **{a: _value(a, schemas[a]) for a in required}}
        example.update(SOURCE_EXAMPLES.get(name, {}))
        if name == "sklearn":
            example["name"] = SKLEARN_NAMES[0]
        if name == "generated":
            example["name"] = next(iter(GENERATED))
        lines.append(f"| `{name}` | {meaning} | {_args(schemas, required)} | "
                     f"`{_flow(example)}` |")
    lines += ["", "### Generated data sets (`source: {type: generated, name: ...}`)", "",
              "| name | meaning | fields | arguments |", "|---|---|---|---|"]
    for name, (args, fields, meaning) in GENERATED.items():
        lines.append(f"| `{name}` | {_cell(meaning)} | {', '.join(fields)} | "
                     f"{', '.join(args) or '—'} |")
    lines.append("")


def _transforms(lines: list[str]) -> None:
    from modelspec.data.registry import AUGMENTS, TRANSFORM_FIELDS, TRANSFORMS
    lines += ["## Transforms (`data.transforms`, in order, every split)", "",
              "A transform reads `field` (or `fields`) and writes `output` (default: the "
              "field itself).", "",
              "| type | what it does | arguments | example |", "|---|---|---|---|"]
    for name, (schemas, required, meaning) in TRANSFORMS.items():
        made = TRANSFORM_FIELDS.get(name)
        extra = f" (fields: {', '.join(made)})" if made and "fields:" not in meaning else ""
        example = {"type": name, **{a: _value(a, schemas[a]) for a in required}}
        lines.append(f"| `{name}` | {meaning}{extra} | {_args(schemas, required)} | "
                     f"`{_flow(example)}` |")
    lines += ["", "## Augmentations (`data.augment`, training split only, per batch)", "",
              "| type | Keras layer | arguments | example |", "|---|---|---|---|"]
    for name, (layer, schemas, required) in AUGMENTS.items():
        example = {"type": name, **{a: _value(a, schemas[a]) for a in required}}
        lines.append(f"| `{name}` | `keras.layers.{layer}` | {_args(schemas, required)} | "
                     f"`{_flow(example)}` |")
    lines.append("")


def _layers(lines: list[str]) -> None:
    from modelspec.lang import builtin_args, catalog, registry
    lines += ["## Built-in layers (what keras.layers lacks)", "",
              "| type | meaning | arguments (default) |", "|---|---|---|"]
    for name, args in builtin_args.BUILTIN_LAYER_ARGS.items():
        listed = ", ".join(f"{a}={s['default']}" if "default" in s else f"{a} (required)"
                           for a, s in args.items() if a != "dtype")
        lines.append(f"| `{name}` | {builtin_args.BUILTIN_LAYER_DOCS.get(name, '')} | "
                     f"{listed or '—'} |")
    hub = [n for n in catalog.names("layers") if n.startswith(registry.KERAS_HUB_PREFIX)]
    keras_layers = [n for n in catalog.names("layers") if n not in hub]
    lines += ["", "## keras_hub layers (`type: keras_hub.<Name>`)", "",
              "keras_hub's transformer building blocks; `in: [decoder, encoder]` for "
              "`keras_hub.TransformerDecoder`. Example: `{type: keras_hub.TransformerEncoder, "
              "intermediate_dim: 64, num_heads: 2}`.", "",
              "| type | required arguments | other arguments |", "|---|---|---|"]
    for name in hub:
        args = catalog.arguments("layers", name)
        req = [a for a, d in args.items() if d == catalog.REQUIRED]
        other = [a for a, d in args.items() if d != catalog.REQUIRED]
        lines.append(f"| `{name}` | {', '.join(req) or '—'} | {', '.join(other)} |")
    lines += ["", "## Keras layers (`type: <Name>`, Keras's own arguments)", "",
              "| type | required arguments |", "|---|---|"]
    for name in keras_layers:
        req = [a for a, d in catalog.arguments("layers", name).items() if d == catalog.REQUIRED]
        lines.append(f"| `{name}` | {', '.join(req) or '—'} |")
    lines.append("")


def _training(lines: list[str]) -> None:
    from modelspec.lang import catalog
    from modelspec.training import keras_names as kn
    from modelspec.training.schema import train_schema
    lines += ["## Losses (`train.loss`)", "",
              "A name (`sparse_categorical_crossentropy`), or a class with its arguments "
              "(`{type: Huber, delta: 2.0}`), or one per output. Names: "
              + ", ".join(f"`{n}`" for n in kn.loss_names()) + ".", "",
              "## Metrics (`train.metrics`)", "",
              "Names or classes, as for losses: " + ", ".join(f"`{n}`" for n in kn.metric_names())
              + ".", "", "## Optimizers (`train.optimizer`)", "",
              "`adam` or `{type: Adam, learning_rate: 1.0e-3}`; learning-rate schedules: "
              + ", ".join(f"`{n}`" for n in catalog.names("schedules")) + ". Optimizers: "
              + ", ".join(f"`{n}`" for n in catalog.names("optimizers")) + ".", ""]
    props = train_schema()["properties"]
    callbacks = props["callbacks"]["properties"]
    lines += ["## Callbacks (`train.callbacks`)", "",
              "| key | meaning | arguments |", "|---|---|---|"]
    for name, schema in callbacks.items():
        obj = next((b for b in schema.get("anyOf", [schema]) if b.get("type") == "object"),
                   schema)
        meaning = obj.get("description") or schema.get("description") or \
            {"csv_log": "history as CSV in the run directory (default on)",
             "terminate_on_nan": "stop on a NaN loss (always on; exit 3)"}.get(name, "")
        args = ", ".join(obj.get("properties", {})) or "true / false"
        lines.append(f"| `{name}` | {meaning} | {args} |")
    lines += ["", "## `train:` keys", "", "| key | meaning |", "|---|---|"]
    for key, schema in props.items():
        meaning = TRAIN_MEANINGS.get(key) or schema.get("description") or next(
            (b.get("description") for b in schema.get("anyOf", []) if b.get("description")), "")
        lines.append(f"| `{key}` | {meaning} |")
    lines.append("")


def build() -> str:
    lines = ["# Reference", "",
             "Generated by `python tools/gen_reference.py` from modelspec's registries (the "
             "tables its schema is built from); `tests/test_reference.py` fails when it is "
             "stale. The language itself is in [LANGUAGE.md](LANGUAGE.md); "
             "`modelspec schema` prints the full JSON Schema.", ""]
    _sources(lines)
    _transforms(lines)
    _layers(lines)
    _training(lines)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    text = build()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python tools/gen_reference.py")
            return 1
        return 0
    tmp = OUT.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, OUT)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
