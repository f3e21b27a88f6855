"""The generated JSON Schema: valid Draft 2020-12, closed objects, per-type layer rules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from modelspec.errors import SpecError
from modelspec.lang import registry
from modelspec.lang.schema import document as schema


@pytest.fixture(scope="module")
def doc():
    return schema.document_schema()


def test_schema_is_valid_draft_2020_12(doc):
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _objects(node, path=()):
    """Yields (path, schema) of every object schema that declares properties."""
    if isinstance(node, dict):
        if "properties" in node and (node.get("type") == "object" or "then" in path[-1:]
                                     or path[-1:] == ("then",)):
            yield path, node
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    yield from _objects(sub, path + (key, name))
            elif key != "const" and key != "enum" and key != "default":
                yield from _objects(value, path + (key,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _objects(item, path + (i,))


def _get(node, path):
    for part in path:
        node = node[part]
    return node


def test_every_object_is_closed(doc):
    """Objects with properties are closed — except where the keys are user names
    (propertyNames-checked maps) or a block call, whose other keys are the block's params."""
    open_objects = []
    count = 0
    for path, node in _objects(doc):
        count += 1
        if node.get("additionalProperties") is False:
            continue
        if "propertyNames" in node:          # block invocations: params checked semantically
            continue
        # an `if` clause only selects (`type: const`); its `then` is the closed part
        if "if" in path[-2:]:
            continue
        if path[-2:] == ("typed_layer",) or path[-1:] in (("typed_layer",), ("wrapped_layer",)):
            continue   # closed by the per-type `then` rules (checked below)
        if node.get("properties", {}).keys() <= {"type"}:
            continue
        if path[-1:] == ("then",) and path[-3] == "allOf":
            # a conditional refinement of a closed object's own properties
            owner = _get(doc, path[:-3])
            if owner.get("additionalProperties") is False and \
                    node["properties"].keys() <= owner["properties"].keys():
                continue
        open_objects.append(path)
    assert count > 100
    assert open_objects == []


def test_every_section_fragment_is_present_and_closed(doc):
    for key in ("data", "train", "export", "model", "models", "params", "blocks"):
        assert key in doc["properties"]
    assert doc["additionalProperties"] is False


def test_layer_arguments_are_checked_per_type_with_if_then(doc):
    typed = doc["$defs"]["typed_layer"]
    rules = typed["allOf"]
    assert "oneOf" not in json.dumps(typed)
    by_type = {r["if"]["properties"]["type"]["const"]: r["then"] for r in rules}
    assert set(by_type) == set(registry.layer_names())
    dense = by_type["Dense"]
    assert dense["additionalProperties"] is False
    assert {"units", "activation", "use_bias", "id", "in", "repeat", "call"} <= set(
        dense["properties"])
    units = dense["properties"]["units"]["anyOf"][0]
    assert units["type"] == "integer" and units["minimum"] == 1
    assert units["maximum"] <= 1 << 24         # the size guard lives in the schema
    assert by_type["Conv2D"]["properties"]["padding"]["anyOf"][0]["enum"][:2] == [
        "valid", "same"]
    assert set(by_type["Step"]["properties"]) >= {"threshold", "dtype"}


def test_schema_accepts_a_valid_spec_and_rejects_a_bad_one(doc):
    validator = Draft202012Validator(doc)
    good = {"modelspec": 1, "params": {"n": 4},
            "model": {"inputs": {"x": {"shape": [4]}},
                      "layers": [{"type": "Dense", "units": "$n", "activation": "relu"},
                                 {"type": "Dense", "units": 2,
                                  "kernel_regularizer": {"type": "L2", "l2": 1e-4}}]}}
    assert list(validator.iter_errors(good)) == []
    bad = json.loads(json.dumps(good))
    bad["model"]["layers"][0]["unit"] = 3
    assert list(validator.iter_errors(bad))
    bad = json.loads(json.dumps(good))
    bad["modle"] = 1
    assert list(validator.iter_errors(bad))


def test_unknown_top_level_key_has_a_suggestion():
    from modelspec.lang.checks import load_and_check
    with pytest.raises(SpecError) as info:
        load_and_check("modelspec: 1\ntrian: {}\nmodel:\n  inputs: {x: {shape: [2]}}\n"
                       "  layers:\n    - {type: Dense, units: 2}\n", filename="s.yaml")
    assert str(info.value) == (
        "s.yaml:2:1: trian: unknown key 'trian' — expected one of: modelspec, name, "
        "description, references, params, blocks, model, models, data, train, export, tune "
        "(did you mean 'train'?)")


def test_schema_command_prints_the_schema(tmp_path):
    from click.testing import CliRunner

    from modelspec.cli.main import main
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(json.dumps(schema.document_schema()))
    out = tmp_path / "modelspec.schema.json"
    result = CliRunner().invoke(main, ["schema", "-o", str(out)])
    assert result.exit_code == 0 and json.loads(out.read_text())["$id"] == schema.SCHEMA_ID
    assert [p.name for p in tmp_path.iterdir()] == ["modelspec.schema.json"]   # atomic write


def test_schema_module_does_not_import_tensorflow():
    code = ("import sys, modelspec.lang.schema.document as s; s.document_schema(); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
