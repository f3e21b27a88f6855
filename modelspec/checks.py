"""Checks a spec: schema pass, then semantic pass; returns a `CheckedSpec`.

1. Load (`modelspec.yamlio`): safe YAML 1.2 with positions.
2. Schema (`modelspec.schema`): JSON Schema Draft 2020-12; jsonschema's errors are rewritten
   into positioned, actionable messages (`unknown argument 'unit' for Dense ... (did you
   mean 'units'?)`).
3. Semantics: parameters, blocks and graphs expand (`modelspec.graph`) and each expanded
   layer's arguments are checked again with parameters substituted; then the `data`,
   `train` and `export` sections check themselves.
No TensorFlow is imported here: `modelspec validate` stays fast.
"""

from __future__ import annotations

import re
from pathlib import Path

from jsonschema import Draft202012Validator, validators

from modelspec import catalog, registry, schema
from modelspec.errors import Collector, SpecError, did_you_mean
from modelspec.expr import ExpressionError, is_reference
from modelspec.graph import expand_graph
from modelspec.source import LoadedSpec
from modelspec.spec import CheckedSpec, resolve_value
from modelspec import yamlio

SECTION_CHECKS = {
    "data": "modelspec.data.schema:check_data",
    "train": "modelspec.training.schema:check_train",
    "export": "modelspec.export_schema:check_export",
}
_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "null"}


def _is_integer(checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 2.0 and 1e12 as integers; a spec must write integers as integers
# (Keras would get a float `units`), so floats never pass `type: integer` here.
Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def _dispatch(validator, table, instance, schema):
    """`{"x-dispatch-type": {X: S}}`: validates an object against S of its own `type`."""
    if isinstance(instance, dict) and isinstance(instance.get("type"), str) \
            and instance["type"] in table:
        yield from validator.descend(instance, table[instance["type"]])


Validator = validators.extend(Validator, validators={"x-dispatch-type": _dispatch})


def _is_type_rule(rule) -> bool:
    cond = rule.get("if") if isinstance(rule, dict) else None
    return (isinstance(cond, dict) and set(rule) == {"if", "then"}
            and set(cond) == {"properties", "required"} and cond["required"] == ["type"]
            and set(cond["properties"]) == {"type"}
            and set(cond["properties"]["type"]) == {"const"})


def fast_schema(node):
    """The document schema with each `allOf` of `if type == X then S` rules (one per layer
    type: the published form) replaced by a direct look-up of S — the same checks, but
    without evaluating ~150 `if`s per layer, so `modelspec validate` stays fast."""
    if isinstance(node, list):
        return [fast_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: fast_schema(v) for k, v in node.items() if k not in ("enum", "const")}
    out.update({k: node[k] for k in ("enum", "const") if k in node})
    rules = node.get("allOf")
    if isinstance(rules, list) and rules and all(_is_type_rule(r) for r in rules):
        del out["allOf"]
        out["x-dispatch-type"] = {r["if"]["properties"]["type"]["const"]: fast_schema(r["then"])
                                  for r in rules}
    return out


# Validators are rebuilt when the schema is (after `modelspec.register_layer`).
_VALIDATORS: dict = {}


def document_validator() -> Draft202012Validator:
    """The validator of the whole document (cached for the current schema)."""
    doc = schema.document_schema()
    cached = _VALIDATORS.get(None)
    if cached is None or cached[0] is not doc:
        _VALIDATORS.clear()
        _VALIDATORS[None] = (doc, Validator(fast_schema(doc)))
    return _VALIDATORS[None][1]


def layer_validator(layer_type: str) -> Draft202012Validator:
    """Validates the resolved arguments of one expanded layer of `layer_type`."""
    document_validator()  # drops stale validators when the schema changed
    if layer_type not in _VALIDATORS:
        args = schema.layer_argument_schemas()[layer_type]
        doc = {"$defs": document_validator().schema["$defs"], "type": "object",
               "properties": fast_schema(args), "additionalProperties": False}
        _VALIDATORS[layer_type] = (None, Validator(doc))
    return _VALIDATORS[layer_type][1]


def load_and_check(path_or_text, *, filename: str | None = None,
                   overrides: dict | None = None) -> CheckedSpec:
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


def check(loaded: LoadedSpec, overrides: dict | None = None) -> CheckedSpec:
    """Runs the schema and semantic passes on a loaded document."""
    errs = Collector(loaded.source)
    schema_problems(loaded.data, errs)
    if errs:
        _graph_problems_despite_schema_errors(loaded, overrides, errs)
        errs.raise_if_any()
    spec = CheckedSpec(loaded)
    spec.params = resolve_params(loaded.data.get("params") or {}, overrides or {}, errs)
    errs.raise_if_any()
    semantic_problems(spec, errs)
    errs.raise_if_any()
    return spec


_LAYER_ITEM = re.compile(r"^(.*layers\[\d+\])")


def _graph_problems_despite_schema_errors(loaded: LoadedSpec, overrides, errs: Collector):
    """Adds the graph's own problems (references, ids, blocks) to the schema's, so that a
    student sees all mistakes of a file at once. Layers with a schema problem are skipped
    (their follow-up problems would only repeat it); anything unexpected in a document that
    failed the schema just ends this best-effort pass."""
    extra = Collector(loaded.source)
    try:
        spec = CheckedSpec(loaded)
        spec.params = resolve_params(loaded.data.get("params") or {}, overrides or {}, extra)
        if extra:
            return
        semantic_problems(spec, extra, sections=False)
    except Exception:  # noqa: BLE001 — the document is known to be malformed
        return
    covered = ["<root>"]  # e.g. "no 'model:'" after a misspelt 'modle:' says nothing new
    for problem in errs.problems:
        match = _LAYER_ITEM.match(problem.path)
        covered.append(match.group(1) if match else problem.path)
    for problem in extra.problems:
        if not any(problem.path == c or problem.path.startswith((c + ".", c + "["))
                   for c in covered):
            errs.problems.append(problem)


def resolve_params(declared: dict, overrides: dict, errs: Collector) -> dict:
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
        flat = expand_graph(raw, graphs[name], blocks, spec.params, errs, set(graphs) - {name})
        if flat is not None:
            check_layer_arguments(flat, errs)
            spec.graphs[name] = flat
    if "models" in doc:
        spec.graphs = {n: spec.graphs[n] for n in doc["models"] if n in spec.graphs}
    if not sections:
        return
    for key in SECTION_CHECKS:
        if key in doc:
            check_references(doc[key], (key,), spec.params, errs)
    for key, dotted in SECTION_CHECKS.items():
        if key in doc:
            module, func = dotted.split(":")
            try:
                getattr(__import__(module, fromlist=[func]), func)(spec, errs)
            except ExpressionError as err:  # a bad `$ref` the passes above reported
                if not errs:
                    errs.add((key,), str(err), expected=err.expected)


def check_references(value, path: tuple, params: dict, errs: Collector) -> None:
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


def _model_order(models: dict, errs: Collector) -> list[str]:
    """Models in dependency order (a model used as a layer is built first); cycles are errors."""
    uses = {name: {item["model"] for item in _items(graph) if "model" in item}
            for name, graph in models.items()}
    order, state = [], {}

    def visit(name, trail):
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


def _items(graph: dict):
    for item in graph.get("layers") or []:
        if isinstance(item, dict):
            yield item


def check_layer_arguments(flat, errs: Collector) -> None:
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
        for error in layer_validator(node.type).iter_errors(node.args):
            arg = error.absolute_path[0] if error.absolute_path else None
            path = node.arg_paths.get(arg, node.path)
            rest = tuple(error.absolute_path)[1:]
            if isinstance(error.instance, dict) and error.validator == "additionalProperties" \
                    and not error.absolute_path:
                continue  # unknown arguments were reported by the schema pass
            _translate(error, path + rest, node.args, errs, owner=node.type,
                       notes=node.expansion)


def schema_problems(document, errs: Collector) -> None:
    """Runs the document schema and adds one readable problem per jsonschema error."""
    if not isinstance(document, dict):
        errs.add((), "the document must be a mapping", expected="'modelspec: 1' and a model")
        return
    for error in document_validator().iter_errors(document):
        _translate(error, tuple(error.absolute_path), document, errs)


def _owner(instance, path) -> str | None:
    if isinstance(instance, dict):
        if isinstance(instance.get("type"), str):
            return instance["type"]
        if "block" in instance:
            return f"block '{instance['block']}'"
    return None


def _at(document, path):
    """The node at `path` inside `document`, or None."""
    for part in path:
        try:
            document = document[part]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def _describe(value) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) < 60 else text[:57] + "..."


def _translate(error, path: tuple, document, errs: Collector, owner: str | None = None,
               notes=()) -> None:
    """Turns one jsonschema error into a positioned problem with an actionable message."""
    kind, inst, value = error.validator, error.instance, error.validator_value
    if kind in ("anyOf", "oneOf") and error.context and all(
            sub.validator == "required" and not sub.relative_path for sub in error.context):
        keys = [sub.validator_value[0] for sub in error.context]
        hint = ("'type:' naming a layer (e.g. type: Dense), or 'block:', 'model:' or 'shares:'"
                if "type" in keys else "one of: " + ", ".join(keys))
        errs.add(path, f"missing key: one of {', '.join(keys)}", expected=hint, notes=notes)
        return
    if kind in ("anyOf", "oneOf"):
        best = _best_branch(error)
        if best is not None:
            _translate(best, path + tuple(best.relative_path), document, errs, owner, notes)
            return
        wanted = _branch_types(error)
        if is_reference(inst):
            return
        if _all_branches_wrong_type(error):
            what = "the value is empty (null)" if inst is None else \
                f"{_describe(inst)} is {_type_of(inst)}"
            errs.add(path, what, expected=wanted + _float_hint(inst, wanted), notes=notes)
            return
        errs.add(path, f"invalid value {_describe(inst)}", expected=wanted, notes=notes)
        return
    owner = owner or _owner(inst, path)
    if owner is None and path and path[-1] in ("first", "vary"):
        owner = _owner(_at(document, path[:-1]), path[:-1])  # `first:` holds layer arguments
    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        has_args = bool(owner) and not owner.startswith("block")
        # a layer item of a graph or block (not a wrapped layer, an initializer, ...)
        layer_item = has_args and bool(path) and isinstance(path[-1], int)
        for key in [k for k in inst if k not in allowed]:
            if owner and key in ("in", "id"):
                continue
            if has_args:
                arguments = [k for k in allowed if k not in schema.COMMON_KEYS and k != "type"]
                expected = f"one of {owner}'s arguments: {', '.join(arguments) or '(none)'}"
                if layer_item:
                    expected += f" (or a layer key: {', '.join(schema.COMMON_KEYS)})"
                what = f"unknown argument '{key}' for {owner}"
            else:
                expected, what = _listing(allowed), f"unknown key '{key}'"
            errs.add(path + (key,), what, expected=expected,
                     suggestion=did_you_mean(key, allowed), key=True, notes=notes)
    elif kind == "required":
        for key in [k for k in value if k not in inst]:
            hint = ("'modelspec: 1' (the language version) as the spec's first key"
                    if key == "modelspec" and not path else f"'{key}: ...' here")
            errs.add(path, f"missing required key '{key}'", expected=hint, notes=notes)
    elif kind == "enum":
        label = _enum_label(path, value)
        options = [v for v in value if v is not None]
        errs.add(path, f"unknown {label} {_describe(inst)}", expected=_listing(options),
                 suggestion=did_you_mean(inst, [str(o) for o in options]), notes=notes)
    elif kind == "const" and path == ("modelspec",):
        errs.add(path, f"unsupported language version {_describe(inst)}",
                 expected="'modelspec: 1'", notes=notes)
    elif kind == "const":
        errs.add(path, f"unsupported value {_describe(inst)}", expected=_describe(value),
                 notes=notes)
    elif kind == "type":
        types = value if isinstance(value, list) else [value]
        wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        errs.add(path, "the value is empty (null)" if inst is None else
                 f"{_describe(inst)} is {_type_of(inst)}",
                 expected=wanted + _float_hint(inst, wanted), notes=notes)
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                "exclusiveMaximum": "less than"}[kind]
        extra = " (a size guard: larger layers would exhaust memory)" if kind == "maximum" \
            and value >= 1 << 16 else ""
        errs.add(path, f"{_describe(inst)} is out of range{extra}", expected=f"{word} {value}",
                 notes=notes)
    elif kind in ("minItems", "maxItems", "minProperties"):
        word = {"minItems": "at least", "maxItems": "at most", "minProperties": "at least"}[kind]
        unit = "entries" if kind == "minProperties" else "items"
        errs.add(path, f"has {len(inst)} {unit}", expected=f"{word} {value} {unit}", notes=notes)
    elif kind == "pattern" and _is_param_pattern(error):
        hint = ""
        if isinstance(inst, str) and inst.startswith("$(") and not inst.endswith(")"):
            hint = (" (is a closing ')' missing? Inside { } or [ ] a comma ends the value: "
                    "quote an expression that has one, e.g. \"$(max(a, b))\")")
        errs.add(path, f"{_describe(inst)} is not a valid parameter reference",
                 expected="'$name' or '$(expression)'" + hint, notes=notes)
    elif kind == "pattern":
        errs.add(path, f"{_describe(inst)} is not a valid name here",
                 expected="letters, digits and _ (not starting with a digit)"
                 + (", optionally .port" if "\\." in value else ""), notes=notes)
    elif kind == "propertyNames":
        errs.add(path, f"invalid name {_describe(inst)}", expected="letters, digits and _",
                 notes=notes)
    elif kind == "anyOf":
        pass
    else:
        errs.add(path, error.message, notes=notes)


def _best_branch(error):
    """Of an anyOf's failed branches, the one the user most likely meant."""
    inst = error.instance
    candidates = {}
    for sub in error.context or []:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        candidates.setdefault(branch, []).append(sub)
    plausible = []
    for branch, subs in candidates.items():
        shallow_type = [s for s in subs if not s.relative_path and s.validator in ("type", "$ref")
                        and s.validator == "type"]
        if shallow_type:
            continue
        if any(_is_param_pattern(s) and not s.relative_path for s in subs) \
                and isinstance(inst, str) and not inst.startswith("$"):
            continue
        plausible.append(subs)
    if len(plausible) == 1:
        subs = plausible[0]
        return max(subs, key=lambda s: len(s.relative_path))
    return None


def _all_branches_wrong_type(error) -> bool:
    """True when every branch of an anyOf failed on the value's type itself."""
    branches = {}
    for sub in error.context or []:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(branch, []).append(sub)
    inst = error.instance

    def wrong_type(sub) -> bool:
        if sub.relative_path:
            return False
        if sub.validator == "type":
            return True
        # a plain string failing the `$name` / `$(expr)` pattern of a parameter reference
        return _is_param_pattern(sub) and isinstance(inst, str) and not inst.startswith("$")

    return bool(branches) and all(any(wrong_type(s) for s in subs)
                                  for subs in branches.values())


def _is_param_pattern(sub) -> bool:
    """True for a failure of the `$name` / `$(expr)` parameter-reference pattern."""
    return sub.validator == "pattern" and str(sub.validator_value).startswith("^\\$")


def _float_hint(value, wanted: str) -> str:
    if isinstance(value, float) and "integer" in wanted:
        return " (write it without a decimal point or exponent; in $(...) divide with //)"
    return ""


def _branch_types(error) -> str:
    words = []
    for sub in error.context or []:
        if sub.validator == "type":
            types = sub.validator_value if isinstance(sub.validator_value, list) else [
                sub.validator_value]
            words += [_TYPE_WORDS.get(t, t) for t in types]
        elif sub.validator == "enum":
            words.append(_listing([v for v in sub.validator_value if v is not None]))
    words = [w for w in dict.fromkeys(words) if w != "a string" or len(words) == 1]
    return " or ".join(words) if words else "a valid value"


def _type_of(value) -> str:
    for pytype, word in ((bool, "a boolean"), (int, "an integer"), (float, "a float"),
                         (str, "a string"), (list, "a list"), (dict, "a mapping")):
        if isinstance(value, pytype):
            return word
    return "null"


def _enum_label(path: tuple, options) -> str:
    last = path[-1] if path else ""
    if last == "type" and len(path) >= 2:
        parent = path[-2] if isinstance(path[-2], str) else ""
        for kind in ("initializer", "regularizer", "constraint"):
            if parent.endswith(kind):
                return kind
        return "layer type" if "layers" in path else "type"
    if isinstance(last, str) and last.endswith("activation"):
        return "activation"
    return "value"


def _listing(options, limit: int = 12) -> str:
    options = [str(o) for o in options]
    if not options:
        return "nothing here"
    shown = ", ".join(options[:limit])
    if len(options) > limit:
        shown += f", ... ({len(options)} in all; `modelspec schema` lists them)"
    return "one of: " + shown


def validate_file(path) -> list:
    """Checks one file and returns its problems (empty when valid)."""
    try:
        load_and_check(Path(path))
    except SpecError as err:
        return list(err.problems)
    return []
