"""Checks a spec: schema pass, then semantic pass; returns a `CheckedSpec`.

1. Load (`modelspec.lang.yamlio`): safe YAML 1.2 with positions.
2. Schema (`modelspec.lang.schema.document`): JSON Schema Draft 2020-12; jsonschema's errors
   are rewritten (`modelspec.lang.schema.messages`) into positioned, actionable messages
   (`unknown argument 'unit' for Dense ... (did you mean 'units'?)`).
3. Semantics: parameters, blocks and graphs expand (`modelspec.lang.expand`) and each expanded
   layer's arguments are checked again with parameters substituted; then the `data`,
   `train` and `export` sections check themselves.
No TensorFlow is imported here: `modelspec validate` stays fast.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelspec.confine import check_confined
from modelspec.errors import Collector, did_you_mean
from modelspec.lang import catalog, registry, yamlio
from modelspec.lang.expand import expand_graph
from modelspec.lang.expr import ExpressionError, is_reference
from modelspec.lang.flatgraph import FlatGraph, Node
from modelspec.lang.schema import document as schema
from modelspec.lang.schema.messages import (  # noqa: F401 — re-exported for callers of checks
    Validator,
    document_validator,
    fast_schema,
    layer_validator,
    schema_problems,
    translate,
)
from modelspec.lang.sections import SECTIONS
from modelspec.lang.spec import CheckedSpec, resolve_value
from modelspec.source import LoadedSpec, PathT


def load_and_check(path_or_text: str | Path | LoadedSpec | CheckedSpec, *,
                   filename: str | None = None,
                   overrides: dict[str, Any] | None = None) -> CheckedSpec:
    """Loads a spec from a path or text and runs every check that needs no TensorFlow.

    Args:
        path_or_text: A file path (str or Path) or YAML text (a str containing a newline).
        filename: Name for error messages when text is given.
        overrides: Values replacing the spec's `params`.

    Returns:
        A `CheckedSpec`.

    Raises:
        SpecError: With all problems found, sorted by line.
    """
    if isinstance(path_or_text, CheckedSpec):
        return path_or_text if not overrides else check(path_or_text.loaded, overrides)
    if isinstance(path_or_text, LoadedSpec):
        return check(path_or_text, overrides)
    if isinstance(path_or_text, Path) or "\n" not in str(path_or_text):
        loaded = yamlio.load(Path(path_or_text))
    else:
        loaded = yamlio.load_text(path_or_text, filename=filename or "<string>")
    return check(loaded, overrides)


def check(loaded: LoadedSpec, overrides: dict[str, Any] | None = None) -> CheckedSpec:
    """Runs the schema and semantic passes on a loaded document."""
    errs = Collector(loaded.source)
    schema_problems(loaded.data, errs)
    if errs:
        _graph_problems_despite_schema_errors(loaded, overrides, errs)
        errs.raise_if_any()
    spec = CheckedSpec(loaded, overrides=dict(overrides or {}))
    spec.params = resolve_params(loaded.data.get("params") or {}, overrides or {}, errs)
    errs.raise_if_any()
    semantic_problems(spec, errs)
    errs.raise_if_any()
    return spec


_LAYER_ITEM = re.compile(r"^(.*layers\[\d+\])")


def _graph_problems_despite_schema_errors(loaded: LoadedSpec, overrides: dict[str, Any] | None,
                                          errs: Collector) -> None:
    """Adds the graph's own problems (references, ids, blocks) to the schema's, so that a
    student sees all mistakes of a file at once. A graph problem is left out where it would
    only repeat a schema problem: at or under the schema problem's path, or about a layer as a
    whole when one of its keys failed the schema; a problem of another key of that layer (an
    undefined `$name`, a bad reference) is kept. Anything unexpected in a document that failed
    the schema just ends this best-effort pass."""
    extra = Collector(loaded.source)
    try:
        spec = CheckedSpec(loaded, overrides=dict(overrides or {}))
        spec.params = resolve_params(loaded.data.get("params") or {}, overrides or {}, extra)
        if extra:
            return
        semantic_problems(spec, extra, sections=False)
    except Exception:  # noqa: BLE001 — the document is known to be malformed
        return
    # e.g. "no 'model:'" after a misspelt 'modle:' says nothing new
    exact, below = {"<root>"}, []
    for problem in errs.problems:
        below.append(problem.path)          # the schema's problem and anything under it
        match = _LAYER_ITEM.match(problem.path)
        if match:
            exact.add(match.group(1))       # the layer as a whole ("needs 'units'" after 'untis')
    for problem in extra.problems:
        if problem.path in exact or any(problem.path == c or problem.path.startswith(
                (c + ".", c + "[")) for c in below):
            continue
        errs.problems.append(problem)


def resolve_params(declared: dict[str, Any], overrides: dict[str, Any],
                   errs: Collector) -> dict[str, Any]:
    """Resolves `params:` in order; a parameter may use the ones before it."""
    values = {}
    for key in overrides:
        if key not in declared:
            errs.add(("params",), f"no parameter '{key}' to override",
                     expected=f"one of: {', '.join(declared) or '(none)'}",
                     suggestion=did_you_mean(key, declared))
    for key, value in declared.items():
        if key in overrides:
            values[key] = overrides[key]
            continue
        try:
            values[key] = resolve_value(value, values)
        except ExpressionError as err:
            errs.add(("params", key), str(err), expected="a parameter defined above this one"
                     if err.name else err.expected,
                     suggestion=did_you_mean(err.name, values) if err.name else None)
    return values


def semantic_problems(spec: CheckedSpec, errs: Collector, sections: bool = True) -> None:
    """Expands and checks every model graph, then (with `sections`) data/train/export."""
    doc = spec.raw
    if "model" in doc and "models" in doc:
        errs.add(("models",), "a spec has either 'model:' or 'models:', not both",
                 expected="one of them", key=True)
        return
    if "model" not in doc and "models" not in doc:
        errs.add((), "the spec has no 'model:' or 'models:' section",
                 expected="a layer graph under 'model:' (or several under 'models:')")
        return
    graphs = {"model": ("model",)} if "model" in doc else {
        name: ("models", name) for name in doc["models"]}
    order = _model_order(doc.get("models") or {}, errs)
    blocks = doc.get("blocks") or {}
    for name in order if "models" in doc else ["model"]:
        raw = doc["model"] if name == "model" and "model" in doc else doc["models"][name]
        others = {n: (list(spec.graphs[n].outputs) if n in spec.graphs else None)
                  for n in graphs if n != name}  # their outputs are the ports of {model: n}
        flat = expand_graph(raw, graphs[name], blocks, spec.params, errs, others)
        if flat is not None:
            check_layer_arguments(flat, errs)
            check_weight_files(flat, spec.base_dir, errs)
            check_model_weights(raw, graphs[name], spec.base_dir, errs)
            spec.graphs[name] = flat
    if "models" in doc:
        spec.graphs = {n: spec.graphs[n] for n in doc["models"] if n in spec.graphs}
    if not sections:
        return
    present = [section for section in SECTIONS if section.key in doc]
    for section in present:
        check_references(doc[section.key], (section.key,), spec.params, errs)
    if not errs:  # MODELSPEC_CONFINE=1: no file outside the allowed folders is ever opened
        check_confined(spec, errs)
        if errs:
            return
    for section in present:
        try:
            section.check(spec, errs)
        except ExpressionError as err:  # a bad `$ref` the passes above reported
            if not errs:
                errs.add((section.key,), str(err), expected=err.expected)


def check_references(value: Any, path: PathT, params: dict[str, Any], errs: Collector) -> None:
    """Reports every `$name` / `$(expression)` in `value` that does not evaluate."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_references(item, path + (key,), params, errs)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_references(item, path + (i,), params, errs)
    elif is_reference(value):
        try:
            resolve_value(value, params)
        except ExpressionError as err:
            errs.add(path, str(err), expected=err.expected,
                     suggestion=did_you_mean(err.name, params) if err.name else None)


def _model_order(models: dict[str, Any], errs: Collector) -> list[str]:
    """Models in dependency order (a model used as a layer is built first); cycles are errors."""
    uses = {name: {item["model"] for item in _items(graph) if "model" in item}
            for name, graph in models.items()}
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done" or name not in uses:
            return
        if state.get(name) == "active":
            errs.add(("models", name), "models use each other in a cycle: "
                     + " → ".join(trail + [name]), expected="models that form no cycle")
            return
        state[name] = "active"
        for used in sorted(uses[name]):
            visit(used, trail + [name])
        state[name] = "done"
        order.append(name)

    for name in models:
        visit(name, [])
    return order


def _items(graph: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in graph.get("layers") or []:
        if isinstance(item, dict):
            yield item


_VALID_ARGUMENTS: set[tuple[str, str]] = set()
registry.on_change(_VALID_ARGUMENTS.clear)  # a registered layer changes what is valid


def _valid_arguments(layer_type: str, args: dict[str, Any]) -> bool:
    """True when these resolved arguments passed before (memoised; ResNet-1001 repeats)."""
    try:
        key = (layer_type, json.dumps(args, sort_keys=True))
    except (TypeError, ValueError):
        return False
    if key in _VALID_ARGUMENTS:
        return True
    if layer_validator(layer_type).is_valid(args):
        _VALID_ARGUMENTS.add(key)
        return True
    return False


def weights_file(node: Node, base_dir: str | Path) -> Path | None:
    """The local weights file of an Application node (its `weights:` relative to the spec's
    folder), or None when it has none (null, or "imagenet", which Keras downloads)."""
    weights = node.args.get("weights") if node.type == registry.APPLICATION else None
    if not isinstance(weights, str) or weights == "imagenet":
        return None
    return Path(weights) if Path(weights).is_absolute() else Path(base_dir) / weights


def check_weight_files(flat: FlatGraph, base_dir: str | Path, errs: Collector) -> None:
    """Reports an Application's `weights:` file that does not exist (relative to the spec)."""
    for node in flat.nodes:
        path = weights_file(node, base_dir)
        if path is not None and not path.is_file():
            weights = node.args["weights"]
            errs.add(node.arg_paths.get("weights", node.path), f"weights file '{weights}' "
                     f"does not exist ({path})", expected="a Keras weights file (.h5 or "
                     ".weights.h5) relative to the spec, 'imagenet' (downloaded by Keras), "
                     "or null for random weights", notes=node.expansion)


def model_weights_file(graph: dict[str, Any], base_dir: Path | str) -> Path | None:
    """The `weights:` file a model starts from (relative to the spec's folder), or None."""
    weights = graph.get("weights")
    if not isinstance(weights, str):
        return None
    return Path(weights) if Path(weights).is_absolute() else Path(base_dir) / weights


def check_model_weights(graph: dict[str, Any], path: PathT, base_dir: Path | str,
                        errs: Collector) -> None:
    """Reports a model's `weights:` file that does not exist."""
    file = model_weights_file(graph, base_dir)
    if file is not None and not file.is_file():
        errs.add(path + ("weights",), f"weights file '{graph['weights']}' does not exist "
                 f"({file})", expected="a Keras weights file (.weights.h5, as "
                 "model.save_weights or 'modelspec import --weights' writes it) relative to "
                 "the spec")


def check_layer_arguments(flat: FlatGraph, errs: Collector) -> None:
    """Checks each expanded layer's resolved arguments against its type's schema."""
    for node in flat.nodes:
        if node.kind != "layer":
            continue
        if node.type not in schema.layer_argument_schemas():
            continue  # an unknown type: reported by the schema pass
        if len(node.inputs) > 1 and registry.input_convention(node.type) == "single":
            errs.add(node.path + ("in",), f"{node.type} takes one input tensor, but 'in:' names "
                     f"{len(node.inputs)}", expected="one id (merge several first, e.g. with "
                     "Concatenate or Add)", notes=node.expansion)
        defaults = registry.layer_arguments(node.type)
        for arg, default in defaults.items():
            if default == catalog.REQUIRED and arg not in node.args:
                errs.add(node.path, f"{node.type} needs argument '{arg}'",
                         expected=f"'{arg}: ...' in this layer", notes=node.expansion)
        if _valid_arguments(node.type, node.args):
            continue  # the common case: repeated layers share their arguments
        for error in layer_validator(node.type).iter_errors(node.args):
            key = error.absolute_path[0] if error.absolute_path else None
            path = node.arg_paths.get(key, node.path) if isinstance(key, str) else node.path
            rest = tuple(error.absolute_path)[1:]
            if isinstance(error.instance, dict) and error.validator == "additionalProperties" \
                    and not error.absolute_path:
                continue  # unknown arguments were reported by the schema pass
            translate(error, path + rest, node.args, errs, owner=node.type,
                       notes=node.expansion)
