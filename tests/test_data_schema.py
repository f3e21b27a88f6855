"""The `data:` schema fragment, split expressions and the TF-free semantic checks."""

import subprocess
import sys

import jsonschema
import pytest

import modelspec
from modelspec.data.schema import data_schema
from modelspec.data.splits import SplitPart, parse_split, slice_indices
from modelspec.lang.schema.fragments import PARAM_REF

BASE = """modelspec: 1
model:
  inputs: {x: {shape: [2]}}
  layers: [{id: out, type: Dense, units: 1}]
  outputs: {y: out}
data:
"""


def problems(data_text, tmp_path=None):
    if tmp_path is None:
        return [p.format() for p in modelspec.validate(BASE + data_text, filename="s.yaml")]
    path = tmp_path / "s.yaml"
    path.write_text(BASE + data_text)
    return [p.format().replace(str(tmp_path) + "/", "") for p in modelspec.validate(path)]


def validator():
    schema = {**data_schema(), "$defs": {"param_ref": PARAM_REF}}
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("section", [
    {"source": {"type": "sklearn", "name": "digits"}, "features": {"image": "images"},
     "targets": {"digit": "label"}, "splits": {"train": "all[:80%]", "validation": "all[80%:]"},
     "transforms": [{"type": "rescale", "field": "images", "scale": 0.0625}],
     "augment": [{"type": "random_rotation", "factor": 0.05}],
     "batch_size": "$bs", "shuffle": 1024, "cache": True, "seed": 0},
    {"source": {"type": "tfds", "name": "mnist", "data_dir": "d", "download": False}},
    {"source": {"type": "csv", "path": {"train": "a.csv", "test": "b.csv"}, "header": False,
                "column_names": ["a", "b"]}},
    {"source": {"type": "generated", "name": "shapes", "n": 10, "size": 16}},
    {"source": {"type": "timeseries", "path": "s.csv", "columns": "Sunspots", "window": 5}},
])
def test_schema_accepts_good_sections(section):
    errors = list(validator().iter_errors(section))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("section", [
    {"source": {"type": "sklearn", "name": "digits", "path": "x"}},  # argument of another type
    {"source": {"type": "csv"}},  # missing path
    {"source": {"type": "generated", "name": "xor", "size": 3}},  # argument of another set
    {"source": {"type": "sklearn", "name": "digits"}, "transforms": [{"type": "one_hot"}]},
    {"source": {"type": "sklearn", "name": "digits"}, "splits": {"training": "all"}},
    {"source": {"type": "sklearn", "name": "digits"}, "augment": [{"type": "random_flip",
                                                                   "mode": "up"}]},
    {"source": {"type": "sklearn", "name": "digits"}, "batch_size": 0},
])
def test_schema_rejects_bad_sections(section):
    assert list(validator().iter_errors(section))


def test_every_object_is_closed():
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(data_schema())


def test_split_expressions():
    assert parse_split("train[:80%]") == [SplitPart("train", None, "80%")]
    assert parse_split("train[10:20]+test") == [SplitPart("train", "10", "20"), SplitPart("test")]
    assert slice_indices(SplitPart("all", None, "80%"), 1797) == (0, 1438)
    assert slice_indices(SplitPart("all", "-10%", None), 100) == (90, 100)
    assert slice_indices(SplitPart("all", "8000", None), 10000) == (8000, 10000)
    for bad in ("train[:80%", "tr ain", "train[:180%]", ""):
        with pytest.raises(ValueError):
            parse_split(bad)


def test_check_messages_point_at_the_spec_line(tmp_path):
    out = problems("  source: {type: csv, path: nothere.csv}\n", tmp_path)
    assert len(out) == 1
    assert out[0].startswith("s.yaml:7:29: data.source.path: file 'nothere.csv' does not exist")
    out = problems("  source: {type: sklearn, name: digits}\n  features: {x: imagez}\n")
    assert out == ["s.yaml:8:17: data.features.x: unknown field 'imagez' — expected one of "
                   "['data', 'images', 'label'] (did you mean 'images'?)"]
    out = problems("  source: {type: sklearn, name: digits}\n  splits: {train: 'train[:80%]'}\n")
    assert out == ["s.yaml:8:19: data.splits.train: unknown split 'train' of this source — "
                   "expected one of ['all']"]
    out = problems("  source: {type: sklearn, name: digits}\n  splits: {train: 'all[:80%'}\n")
    assert out[0].startswith("s.yaml:8:19: data.splits.train: bad split expression 'all[:80%'")


def test_check_fields_follow_transforms(tmp_path):
    ok = problems("""  source: {type: sklearn, name: digits}
  transforms: [{type: one_hot, field: label, depth: 10, output: onehot}]
  targets: {y: onehot}
""")
    assert ok == []
    bad = problems("""  source: {type: sklearn, name: digits}
  transforms: [{type: normalize, field: label2}]
""")
    assert bad == ["s.yaml:8:41: data.transforms[0].field: unknown field 'label2' — expected "
                   "one of ['data', 'images', 'label'] (did you mean 'label'?)"]


def test_check_csv_header_columns(tmp_path):
    (tmp_path / "t.csv").write_text("age,income\n1,2\n")
    out = problems("  source: {type: csv, path: t.csv}\n  features: {x: agee}\n", tmp_path)
    assert out == ["s.yaml:8:17: data.features.x: unknown field 'agee' — expected one of "
                   "['age', 'income'] (did you mean 'age'?)"]
    out = problems("  source: {type: timeseries, path: t.csv, columns: incme, window: 3}\n",
                   tmp_path)
    assert out == ["s.yaml:7:52: data.source.columns: unknown column 'incme' — expected one "
                   "of ['age', 'income'] (did you mean 'income'?)"]


def test_schema_and_checks_do_not_import_tensorflow():
    code = ("import sys, modelspec\n"
            "from modelspec.data.schema import data_schema, check_data\n"
            "import modelspec.data.checks, modelspec.data.splits, modelspec.data.registry\n"
            "data_schema()\n"
            "modelspec.validate('modelspec: 1\\nmodel: {inputs: {x: {shape: [2]}}, layers: "
            "[{id: o, type: Dense, units: 1}], outputs: {y: o}}\\ndata: {source: {type: "
            "sklearn, name: digits}}\\n')\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------ filter, map_values, sample_weights (static)

@pytest.mark.parametrize("transform", [
    {"type": "filter", "field": "label", "values": [1, 5]},
    {"type": "filter", "field": "answer", "values": ["yes", "$x"]},
    {"type": "map_values", "field": "label", "mapping": {"1": 0, "5": 1}},
    {"type": "map_values", "field": "domain", "output": "w", "mapping": {"0": 1.0, "1": "$w"},
     "default": 0.5},
])
def test_schema_accepts_filter_and_map_values(transform):
    section = {"source": {"type": "sklearn", "name": "digits"}, "transforms": [transform],
               "sample_weights": {"y": "w"}}
    assert not [e.message for e in validator().iter_errors(section)]


@pytest.mark.parametrize("transform", [
    {"type": "filter", "field": "label", "values": []},
    {"type": "filter", "field": "label"},
    {"type": "filter", "field": "label", "values": [1.5]},
    {"type": "map_values", "field": "label"},
    {"type": "map_values", "field": "label", "mapping": {}},
    {"type": "map_values", "field": "label", "mapping": {"1": "one"}},
    {"type": "map_values", "field": "label", "mapping": {"1": 0}, "default": "x"},
])
def test_schema_rejects_bad_filter_and_map_values(transform):
    section = {"source": {"type": "sklearn", "name": "digits"}, "transforms": [transform]}
    assert list(validator().iter_errors(section))


def test_check_filter_map_values_and_sample_weights(tmp_path):
    ok = problems("""  source: {type: sklearn, name: digits}
  transforms:
    - {type: filter, field: label, values: [1, 5]}
    - {type: map_values, field: label, output: weight, mapping: {'1': 1.0, '5': 0.5}}
  targets: {y: label}
  sample_weights: {y: weight}
""")
    assert ok == []
    bad = problems("""  source: {type: sklearn, name: digits}
  transforms:
    - {type: filter, field: labels, values: [1, 5]}
    - {type: map_values, field: label, output: weight, mapping: {'1': 1.0}, default: 0}
  targets: {y: label}
  sample_weights: {yy: weight, y: wieght}
""")
    assert bad == [
        "s.yaml:9:29: data.transforms[0].field: unknown field 'labels' — expected one of "
        "['data', 'images', 'label'] (did you mean 'label'?)",
        "s.yaml:12:20: data.sample_weights.yy: 'yy' is not an output of the model — expected "
        "one of y (a weight field per output) (did you mean 'y'?)",
        "s.yaml:12:35: data.sample_weights.y: unknown field 'wieght' — expected one of "
        "['data', 'images', 'label', 'weight'] (did you mean 'weight'?)"]


def test_check_weighted_metrics():
    base = BASE.replace("data:\n", "data: {source: {type: sklearn, name: digits}}\n")

    def check(line):
        return [p.format() for p in modelspec.validate(base + "train:\n  loss: mse\n" + line,
                                                        filename="s.yaml")]
    assert check("  weighted_metrics: {z: [mae]}\n") == [
        "s.yaml:9:22: train.weighted_metrics.z: 'z' is not an output of the model — expected "
        "one of y (a metric list per output)"]
    out = check("  weighted_metrics: [mae, acuracy]\n")
    assert len(out) == 1 and out[0].startswith(
        "s.yaml:9:27: train.weighted_metrics[1]: unknown value 'acuracy' — expected one of: ")
    assert out[0].endswith("(did you mean 'accuracy'?)")
    assert check("  weighted_metrics: {y: [accuracy]}\n") == []
