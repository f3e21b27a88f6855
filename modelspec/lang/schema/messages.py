"""Schema validation of a spec, and jsonschema's errors rewritten for students.

The document schema (`modelspec.lang.schema.document`) is checked with a Draft 2020-12
validator whose `integer` excludes floats (`units: 1e12` is a float) and which looks each layer
type's `if type == X then ...` rule up directly (the same rules, much faster). Every jsonschema
error becomes one positioned `Problem` with what was expected and a did-you-mean, e.g.
`unknown argument 'unit' for Dense — expected one of Dense's arguments: ... (did you mean
'units'?)`. No TensorFlow is imported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from modelspec.errors import Collector, did_you_mean
from modelspec.lang.expr import is_reference
from modelspec.lang.schema import document as schema
from modelspec.source import PathT

_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "null"}


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 2.0 and 1e12 as integers; a spec must write integers as integers
# (Keras would get a float `units`), so floats never pass `type: integer` here.
Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def _dispatch(validator: Any, table: dict[str, Any], instance: Any,
              schema: Any) -> Iterator[ValidationError]:
    """`{"x-dispatch-type": {X: S}}`: validates an object against S of its own `type`."""
    if isinstance(instance, dict) and isinstance(instance.get("type"), str) \
            and instance["type"] in table:
        yield from validator.descend(instance, table[instance["type"]])


Validator = validators.extend(Validator, validators={"x-dispatch-type": _dispatch})


def _is_type_rule(rule: Any) -> bool:
    cond = rule.get("if") if isinstance(rule, dict) else None
    return (isinstance(cond, dict) and set(rule) == {"if", "then"}
            and set(cond) == {"properties", "required"} and cond["required"] == ["type"]
            and set(cond["properties"]) == {"type"}
            and set(cond["properties"]["type"]) == {"const"})


def fast_schema(node: Any) -> Any:
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
_VALIDATORS: dict[str, Any] = {}


def document_validator() -> Draft202012Validator:
    """The validator of the whole document (cached for the current schema)."""
    doc = schema.document_schema()
    cached = _VALIDATORS.get("")
    if cached is None or cached[0] is not doc:
        _VALIDATORS.clear()
        _VALIDATORS[""] = (doc, Validator(fast_schema(doc)))
    validator: Draft202012Validator = _VALIDATORS[""][1]
    return validator


def layer_validator(layer_type: str) -> Draft202012Validator:
    """Validates the resolved arguments of one expanded layer of `layer_type`."""
    document_validator()  # drops stale validators when the schema changed
    if layer_type not in _VALIDATORS:
        args = schema.layer_argument_schemas()[layer_type]
        doc = {"$defs": document_validator().schema["$defs"], "type": "object",
               "properties": fast_schema(args), "additionalProperties": False}
        _VALIDATORS[layer_type] = (None, Validator(doc))
    validator: Draft202012Validator = _VALIDATORS[layer_type][1]
    return validator


def schema_problems(document: Any, errs: Collector) -> None:
    """Runs the document schema and adds one readable problem per jsonschema error."""
    if not isinstance(document, dict):
        errs.add((), "the document must be a mapping", expected="'modelspec: 1' and a model")
        return
    for error in document_validator().iter_errors(document):
        translate(error, tuple(error.absolute_path), document, errs)


def _owner(instance: Any, path: PathT) -> str | None:
    if isinstance(instance, dict):
        if isinstance(instance.get("type"), str):
            return str(instance["type"])
        if "block" in instance:
            return f"block '{instance['block']}'"
    return None


def _at(document: Any, path: PathT) -> Any:
    """The node at `path` inside `document`, or None."""
    for part in path:
        try:
            document = document[part]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def _describe(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) < 60 else text[:57] + "..."


def translate(error: ValidationError, path: PathT, document: Any, errs: Collector,
              owner: str | None = None, notes: Sequence[str] = ()) -> None:
    """Turns one jsonschema error into a positioned problem with an actionable message."""
    kind, inst = error.validator, error.instance
    if kind in ("anyOf", "oneOf"):
        _translate_alternatives(error, path, document, errs, owner, notes)
        return
    owner = owner or _owner(inst, path)
    if owner is None and path and path[-1] in ("first", "vary"):
        owner = _owner(_at(document, path[:-1]), path[:-1])  # `first:` holds layer arguments
    if kind == "additionalProperties":
        _unknown_keys(error, path, owner, errs, notes)
    elif kind == "required":
        for key in [k for k in error.validator_value if k not in inst]:
            hint = ("'modelspec: 1' (the language version) as the spec's first key"
                    if key == "modelspec" and not path else f"'{key}: ...' here")
            errs.add(path, f"missing required key '{key}'", expected=hint, notes=notes)
    elif kind == "enum":
        label = _enum_label(path, error.validator_value)
        options = [v for v in error.validator_value if v is not None]
        listing = _listing(options) or ""
        if label == "layer type":
            listing = _layer_type_hint(inst, listing)
        own = _own_component(path)
        if own:
            listing += f"; or a {own} registered from Python (modelspec.register_{own} in " \
                "a `modelspec --plugin FILE.py ...` file)"
        errs.add(path, f"unknown {label} {_describe(inst)}", expected=listing,
                 suggestion=did_you_mean(inst, [str(o) for o in options]), notes=notes)
    else:
        what, expected = _value_problem(error, path)
        errs.add(path, what, expected=expected, notes=notes)


def _translate_alternatives(error: ValidationError, path: PathT, document: Any,
                            errs: Collector, owner: str | None, notes: Sequence[str]) -> None:
    """An anyOf / oneOf error: a missing key, the one plausible branch's own error, or what
    the value's type should have been."""
    inst = error.instance
    if error.context and all(sub.validator == "required" and not sub.relative_path
                             for sub in error.context):
        keys = [sub.validator_value[0] for sub in error.context]
        hint = ("'type:' naming a layer (e.g. type: Dense), or 'block:', 'model:' or 'shares:'"
                if "type" in keys else "one of: " + ", ".join(keys))
        errs.add(path, f"missing key: one of {', '.join(keys)}", expected=hint, notes=notes)
        return
    best = _best_branch(error)
    if best is not None:
        translate(best, path + tuple(best.relative_path), document, errs, owner, notes)
        return
    wanted = _branch_types(error)
    described = _described_schema(error.schema)
    if described and wanted == "a valid value":
        wanted = described
    if is_reference(inst):
        return
    if _all_branches_wrong_type(error):
        what = "the value is empty (null)" if inst is None else \
            f"{_describe(inst)} is {_type_of(inst)}"
        errs.add(path, what, expected=wanted + _float_hint(inst, wanted), notes=notes)
        return
    errs.add(path, f"invalid value {_describe(inst)}", expected=wanted, notes=notes)


def _unknown_keys(error: ValidationError, path: PathT, owner: str | None, errs: Collector,
                  notes: Sequence[str]) -> None:
    """One problem per key `additionalProperties: false` rejected, worded as an unknown
    argument of the layer (or component) `owner` when there is one."""
    inst = error.instance
    allowed = list(error.schema.get("properties", {}))
    has_args = owner is not None and not owner.startswith("block")
    # a layer item of a graph or block (not a wrapped layer, an initializer, ...)
    layer_item = has_args and bool(path) and isinstance(path[-1], int) and "layers" in path
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


_BOUND_WORDS = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                "exclusiveMaximum": "less than"}
_SIZE_WORDS = {"minItems": "at least", "maxItems": "at most", "minProperties": "at least"}


def _value_problem(error: ValidationError, path: PathT) -> tuple[str, str | None]:
    """(what is wrong, what was expected) for an error about one value."""
    kind, inst, value = error.validator, error.instance, error.validator_value
    if kind == "const" and path == ("modelspec",):
        return f"unsupported language version {_describe(inst)}", "'modelspec: 1'"
    if kind == "const":
        return f"unsupported value {_describe(inst)}", _describe(value)
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        wanted = " or ".join(_TYPE_WORDS.get(t, str(t)) for t in types)
        what = "the value is empty (null)" if inst is None else \
            f"{_describe(inst)} is {_type_of(inst)}"
        return what, wanted + _float_hint(inst, wanted)
    if kind in _BOUND_WORDS:
        extra = " (a size guard: larger layers would exhaust memory)" if kind == "maximum" \
            and value >= 1 << 16 else ""
        return f"{_describe(inst)} is out of range{extra}", f"{_BOUND_WORDS[kind]} {value}"
    if kind in _SIZE_WORDS:
        unit = "entries" if kind == "minProperties" else "items"
        return f"has {len(inst)} {unit}", f"{_SIZE_WORDS[kind]} {value} {unit}"
    if kind == "pattern" and _is_param_pattern(error):
        hint = ""
        if isinstance(inst, str) and inst.startswith("$(") and not inst.endswith(")"):
            hint = (" (is a closing ')' missing? Inside { } or [ ] a comma ends the value: "
                    "quote an expression that has one, e.g. \"$(max(a, b))\")")
        return (f"{_describe(inst)} is not a valid parameter reference",
                "'$name' or '$(expression)'" + hint)
    if kind == "pattern" and isinstance(error.schema, dict) and error.schema.get("description"):
        return f"{_describe(inst)} is not valid here", error.schema["description"]
    if kind == "pattern":
        return (f"{_describe(inst)} is not a valid name here",
                "letters, digits and _ (not starting with a digit)"
                + (", optionally .port" if "\\." in value else ""))
    if kind == "propertyNames":
        return f"invalid name {_describe(inst)}", "letters, digits and _"
    return error.message, None


def _branches(error: ValidationError) -> dict[Any, list[ValidationError]]:
    """The sub-errors of an anyOf/oneOf error, grouped by the branch that raised them."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or []:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(branch, []).append(sub)
    return branches


def _best_branch(error: ValidationError) -> ValidationError | None:
    """Of an anyOf's failed branches, the one the user most likely meant."""
    inst = error.instance
    plausible = []
    for subs in _branches(error).values():
        if any(_fails_on_type(s) for s in subs):
            continue
        if any(_is_param_pattern(s) and not s.relative_path for s in subs) \
                and isinstance(inst, str) and not inst.startswith("$"):
            continue
        plausible.append(subs)
    if len(plausible) == 1:
        subs = plausible[0]
        return max(subs, key=lambda s: len(s.relative_path))
    return None


def _fails_on_type(sub: ValidationError) -> bool:
    """True when `sub` rejects the value's type itself: a `type` error at the value, or a
    nested anyOf/oneOf all of whose branches do (a list where one metric name was expected)."""
    if sub.relative_path:
        return False
    if sub.validator == "type":
        return True
    if sub.validator in ("anyOf", "oneOf") and sub.context:
        return all(any(_fails_on_type(s) or (_is_param_pattern(s) and not s.relative_path)
                       for s in subs) for subs in _branches(sub).values())
    return False


def _all_branches_wrong_type(error: ValidationError) -> bool:
    """True when every branch of an anyOf failed on the value's type itself."""
    branches = _branches(error)
    inst = error.instance

    def wrong_type(sub: ValidationError) -> bool:
        if sub.relative_path:
            return False
        if sub.validator == "type":
            return True
        # a plain string failing the `$name` / `$(expr)` pattern of a parameter reference
        return _is_param_pattern(sub) and isinstance(inst, str) and not inst.startswith("$")

    return bool(branches) and all(any(wrong_type(s) for s in subs)
                                  for subs in branches.values())


def _described_schema(schema: Any) -> str | None:
    """The `description` of an anyOf schema or of one of its branches (a parameter reference
    wraps the argument's own schema as a branch)."""
    if not isinstance(schema, dict):
        return None
    if isinstance(schema.get("description"), str):
        return str(schema["description"])
    for branch in schema.get("anyOf") or []:
        if isinstance(branch, dict) and isinstance(branch.get("description"), str):
            return str(branch["description"])
    return None


def _is_param_pattern(sub: ValidationError) -> bool:
    """True for a failure of the `$name` / `$(expr)` parameter-reference pattern."""
    return sub.validator == "pattern" and str(sub.validator_value).startswith("^\\$")


def _float_hint(value: Any, wanted: str) -> str:
    if isinstance(value, float) and "integer" in wanted:
        return " (write it without a decimal point or exponent; in $(...) divide with //)"
    return ""


def _branch_types(error: ValidationError) -> str:
    words: list[str] = []
    for sub in error.context or []:
        if sub.validator == "type":
            types = sub.validator_value if isinstance(sub.validator_value, list) else [
                sub.validator_value]
            words += [_TYPE_WORDS.get(t, str(t)) for t in types]
        elif sub.validator == "enum":
            words.append(_listing([v for v in sub.validator_value if v is not None]))
    words = [w for w in dict.fromkeys(words) if w != "a string" or len(words) == 1]
    return " or ".join(words) if words else "a valid value"


def _type_of(value: Any) -> str:
    for pytype, word in ((bool, "a boolean"), (int, "an integer"), (float, "a float"),
                         (str, "a string"), (list, "a list"), (dict, "a mapping")):
        if isinstance(value, pytype):
            return word
    return "null"


PLUGIN_HINT = ("a layer of your own is a Python class registered with "
               "modelspec.register_layer('Name', cls) in a file given as "
               "`modelspec --plugin FILE.py COMMAND ...` (the same --plugin for train, export, "
               "predict)")


def _layer_type_hint(inst: Any, listing: str) -> str:
    """What to do about an unknown layer type: Lambda and own layers come through plugins."""
    if inst == "Lambda":
        return ("a registered layer: a spec holds no code, so Lambda's Python function "
                "cannot be written in one; " + PLUGIN_HINT)
    return f"{listing}; or a layer registered from Python (`modelspec --plugin FILE.py ...`)"


def _own_component(path: PathT) -> str | None:
    """'loss' / 'metric' when `path` names a train loss or metric (a plugin may add one)."""
    if len(path) < 2 or path[0] != "train":
        return None
    names = [p for p in path if isinstance(p, str)]
    if "loss" in names[1:3]:
        return "loss"
    if "metrics" in names[1:3] or "weighted_metrics" in names[1:3]:
        return "metric"
    return None


def _enum_label(path: PathT, options: Any) -> str:
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


def _listing(options: Iterable[Any], limit: int = 12) -> str:
    names = [str(o) for o in options]
    if not names:
        return "nothing here"
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names)} in all; `modelspec schema` lists them)"
    return "one of: " + shown
