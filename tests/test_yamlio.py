"""Tests of the hardened YAML loader: YAML 1.2 semantics, positions and every guard."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelspec.errors import SpecError, UsageError
from modelspec.lang import yamlio
from modelspec.source import LoadedSpec

ROOT = Path(__file__).resolve().parents[1]


def errors_of(text, filename="s.yaml"):
    """Returns the formatted problems (one string each) of loading `text`."""
    with pytest.raises(SpecError) as info:
        yamlio.load_text(text, filename)
    return [p.format() for p in info.value.problems]


def one_error(text):
    problems = errors_of(text)
    assert len(problems) == 1, problems
    return problems[0]


# -- YAML 1.2 semantics ----------------------------------------------------------------

def test_yaml_12_core_schema_scalars():
    text = ("modelspec: 1\n"
            "lr: 1e-3\n"
            "big: 1E+4\n"
            "words: [yes, no, on, off, y, n, Yes, NO]\n"
            "bools: [true, false, True, FALSE]\n"
            "ints: [0o17, 0x1F, -42, +7, 012]\n"
            "floats: [1.5, .5, 1., -2.5e-2]\n"
            "nulls: [~, null, Null, NULL, ]\n"
            "empty:\n"
            "stamp: 2001-12-14\n"
            "quoted: ['1', \"true\", '~']\n"
            "version: 1.10\n")
    data = yamlio.load_text(text).data
    assert data["lr"] == 0.001 and isinstance(data["lr"], float)
    assert data["big"] == 10000.0 and isinstance(data["big"], float)
    assert data["words"] == ["yes", "no", "on", "off", "y", "n", "Yes", "NO"]
    assert data["bools"] == [True, False, True, False]
    assert data["ints"] == [15, 31, -42, 7, 12]
    assert all(type(v) is int for v in data["ints"])
    assert data["floats"] == [1.5, 0.5, 1.0, -0.025]
    assert data["nulls"] == [None, None, None, None]
    assert data["empty"] is None
    assert data["stamp"] == "2001-12-14"
    assert data["quoted"] == ["1", "true", "~"]
    assert data["version"] == 1.1


def test_non_core_number_forms_stay_strings():
    data = yamlio.load_text("a: 1_000\nb: 0b101\nc: -0x1\nd: 0o8\ne: 1.2.3\nf: 0x\n").data
    assert data == {"a": "1_000", "b": "0b101", "c": "-0x1", "d": "0o8", "e": "1.2.3",
                    "f": "0x"}


def test_yaml_11_directive_does_not_change_semantics():
    assert yamlio.load_text("%YAML 1.1\n---\na: yes\nb: 1e3\n").data == {"a": "yes",
                                                                           "b": 1000.0}


def test_explicit_standard_tags_are_allowed():
    data = yamlio.load_text("a: !!str 12\nb: !!int '7'\nc: !!float 3\nd: !!bool true\n"
                            "e: !!null ''\nf: !!map {x: 1}\ng: !!seq [1]\nh: ! 12\n").data
    assert data == {"a": "12", "b": 7, "c": 3.0, "d": True, "e": None, "f": {"x": 1},
                    "g": [1], "h": "12"}
    assert isinstance(data["c"], float)


def test_explicit_tag_that_does_not_fit_the_value():
    assert errors_of("a: !!int x\nb: !!map [1]\nc: !!seq x\n") == [
        "s.yaml:1:4: a: 'x' is not an int (tagged '!!int') — expected an int, or no tag",
        "s.yaml:2:4: b: tag '!!map' cannot be used on a list — expected no tag",
        "s.yaml:3:4: c: tag '!!seq' cannot be used on a scalar — expected no tag",
    ]


# -- positions ---------------------------------------------------------------------------

def test_positions_of_nested_values_and_keys():
    text = ("modelspec: 1\n"
            "model:\n"
            "  layers:\n"
            "    - {type: Dense, units: 4}\n"
            "    - type: Dropout\n"
            "      rate: 0.5\n")
    spec = yamlio.load_text(text, "m.yaml")
    assert isinstance(spec, LoadedSpec)
    assert spec.source.filename == "m.yaml"
    values, keys = spec.source.values, spec.source.keys
    assert values[()] == (1, 1)
    assert keys[("model",)] == (2, 1)
    assert keys[("model", "layers")] == (3, 3)
    assert values[("model", "layers")] == (4, 5)
    assert values[("model", "layers", 0)] == (4, 7)
    assert keys[("model", "layers", 0, "units")] == (4, 21)
    assert values[("model", "layers", 0, "units")] == (4, 28)
    assert values[("model", "layers", 1)] == (5, 7)
    assert keys[("model", "layers", 1, "rate")] == (6, 7)
    assert values[("model", "layers", 1, "rate")] == (6, 13)
    assert spec.source.position(("model", "layers", 1, "rate"), key=True) == (6, 7)
    assert spec.text == text and spec.path is None


def test_every_node_has_a_position():
    spec = yamlio.load_text("a: {b: [1, {c: x}], d: ~}\ne: [[1, 2], []]\n")

    def paths(value, path=()):
        yield path
        items = value.items() if isinstance(value, dict) else (
            enumerate(value) if isinstance(value, list) else ())
        for key, child in items:
            yield from paths(child, path + (key,))

    all_paths = list(paths(spec.data))
    assert len(all_paths) == 12
    for path in all_paths:
        assert path in spec.source.values, path


def test_alias_positions_point_at_alias_then_at_definition():
    spec = yamlio.load_text("base: &b {units: 4}\nuse: *b\n")
    assert spec.data == {"base": {"units": 4}, "use": {"units": 4}}
    assert spec.source.values[("use",)] == (2, 6)
    assert spec.source.values[("use", "units")] == (1, 18)


# -- tags, numbers, keys --------------------------------------------------------------

@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/object:os.system",
                                 "!!python/name:os.system", "!foo", "!!binary", "!!set",
                                 "!!omap", "!!timestamp", "!<tag:example.com,2000:x>"])
def test_non_standard_tags_are_rejected(tag):
    shown = "tag:example.com,2000:x" if tag.startswith("!<") else tag
    assert one_error(f"modelspec: 1\nx: {tag} [ls]\n") == (
        f"s.yaml:2:4: x: tag '{shown}' is not allowed — expected plain YAML data (a spec is "
        "data, never code)")


def test_python_tag_via_tag_directive_is_rejected():
    text = "%TAG !py! tag:yaml.org,2002:python/\n---\nx: !py!object/apply:os.system [ls]\n"
    assert one_error(text) == (
        "s.yaml:3:4: x: tag '!!python/object/apply:os.system' is not allowed — expected plain "
        "YAML data (a spec is data, never code)")


def test_tag_on_a_mapping_is_rejected_and_other_errors_are_still_reported():
    problems = errors_of("a: !!python/object:x {b: 1}\nc: .nan\n")
    assert problems == [
        "s.yaml:1:4: a: tag '!!python/object:x' is not allowed — expected plain YAML data "
        "(a spec is data, never code)",
        "s.yaml:2:4: c: non-finite number '.nan' is not allowed — expected a finite number"]


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN", ".inf", "-.inf", "+.Inf", ".INF",
                                  "-.iNf", "1e999", "!!float .nan"])
def test_non_finite_numbers_are_rejected(text):
    shown = text.replace("!!float ", "")
    assert one_error(f"lr: {text}\n") == (
        f"s.yaml:1:5: lr: non-finite number '{shown}' is not allowed — expected a finite number")


def test_quoted_nan_is_a_string():
    assert yamlio.load_text("a: '.nan'\n").data == {"a": ".nan"}


def test_duplicate_keys_name_both_lines():
    text = ("model:\n  layers:\n    - type: Dense\n      units: 4\n      units: 8\n"
            "name: a\nname: b\n")
    assert errors_of(text) == [
        "s.yaml:5:7: model.layers[0].units: duplicate key 'units' (first defined at line 4) — "
        "expected each key at most once in a mapping",
        "s.yaml:7:1: name: duplicate key 'name' (first defined at line 6) — expected each key "
        "at most once in a mapping"]


def test_non_string_keys_are_rejected():
    assert errors_of("3: x\n? [a]\n: 1\nnull: 2\ntrue: 3\n'4': ok\n") == [
        "s.yaml:1:1: <root>: mapping key 3 is a number, but mapping keys must be strings — "
        "expected a string key (write '3' in quotes)",
        "s.yaml:2:3: <root>: a list cannot be a mapping key — expected a string key (mapping "
        "keys must be strings)",
        "s.yaml:4:1: <root>: mapping key null is null, but mapping keys must be strings — "
        "expected a string key (write 'null' in quotes)",
        "s.yaml:5:1: <root>: mapping key true is a boolean, but mapping keys must be strings — "
        "expected a string key (write 'true' in quotes)",
    ]


def test_yes_no_keys_are_strings():
    assert yamlio.load_text("on: 1\nyes: 2\n").data == {"on": 1, "yes": 2}


# -- anchors, aliases, merge keys -------------------------------------------------------

def billion_laughs(levels=10):
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        text += f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return text


def test_alias_bomb_is_rejected_quickly():
    start = time.perf_counter()
    problems = errors_of(billion_laughs())
    elapsed = time.perf_counter() - start
    assert len(problems) == 1
    assert problems[0].endswith(
        ": too many nodes after expanding aliases (limit 100000) — anchors and aliases may "
        "not be used to build huge documents")
    assert problems[0].startswith("s.yaml:")
    assert elapsed < 1.0, elapsed


def test_moderate_alias_use_is_fine():
    data = yamlio.load_text(billion_laughs(levels=3)).data
    assert len(data["c"]) == 9 and data["c"][0] == data["b"]


def test_undefined_and_recursive_aliases():
    assert one_error("a: *x\n") == ("s.yaml:1:4: a: alias '*x' is not defined before it — "
                                    "expected an anchor '&x' defined earlier in the file")
    assert one_error("a: &x [1, *x]\n") == (
        "s.yaml:1:11: a[1]: alias '*x' is used inside the node it names — expected an anchor "
        "'&x' defined earlier in the file")


def test_merge_keys_are_supported_and_explicit_keys_win():
    text = ("defaults: &d {activation: relu, units: 8}\n"
            "layer:\n"
            "  <<: *d\n"
            "  units: 16\n"
            "both: {<<: [*d, {units: 1, use_bias: false}], type: Dense}\n")
    spec = yamlio.load_text(text)
    assert spec.data["layer"] == {"activation": "relu", "units": 16}
    assert spec.data["both"] == {"activation": "relu", "units": 8, "use_bias": False,
                                 "type": "Dense"}
    assert spec.source.values[("layer", "units")] == (4, 10)
    assert spec.source.values[("layer", "activation")] == (1, 27)
    assert spec.source.keys[("both", "use_bias")] == (5, 28)


def test_merge_key_with_a_non_mapping_is_rejected():
    assert one_error("a: {<<: 1}\n") == (
        "s.yaml:1:9: a.<<: a merge key '<<' must be followed by a mapping or a list of "
        "mappings — expected '<<: *anchor' or '<<: [*a, *b]' naming mappings")


def test_quoted_merge_key_is_an_ordinary_key():
    assert yamlio.load_text("'<<': 1\n").data == {"<<": 1}


def test_errors_inside_aliased_nodes_are_reported_once():
    problems = errors_of("a: &x {k: .inf}\nb: *x\nc: *x\n")
    assert problems == ["s.yaml:1:11: a.k: non-finite number '.inf' is not allowed — "
                        "expected a finite number"]


# -- documents, size, depth -------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n", "---\n", "---\n...\n"])
def test_empty_file(text):
    assert one_error(text) == ("s.yaml:1:1: <root>: the file is empty — expected a spec (a "
                               "mapping with `modelspec: 1`)")


def test_second_document_is_rejected_at_its_line():
    assert one_error("modelspec: 1\nname: a\n---\nname: b\n") == (
        "s.yaml:3:1: <root>: a second YAML document starts here — expected exactly one "
        "document per spec file (remove the extra `---`)")
    assert one_error("modelspec: 1\n...\nname: b\n").startswith("s.yaml:3:1: <root>: a second")


def test_explicit_single_document_is_fine():
    assert yamlio.load_text("---\nmodelspec: 1\n...\n").data == {"modelspec": 1}


@pytest.mark.parametrize("text,kind", [("- 1\n- 2\n", "a list"), ("hello\n", "a string"),
                                       ("42\n", "a number"), ("~\n", "null")])
def test_top_level_must_be_a_mapping(text, kind):
    assert one_error(text) == (f"s.yaml:1:1: <root>: the document is {kind}, not a mapping — "
                               "expected a spec (a mapping with `modelspec: 1`)")


def test_size_limit_for_text_and_files(tmp_path):
    big = "a: '" + "x" * (yamlio.MAX_BYTES + 10) + "'\n"
    assert one_error(big) == "s.yaml:1:1: <root>: the file is larger than the 2 MB limit — " \
                             "expected a spec under 2 MB"
    path = tmp_path / "big.yaml"
    path.write_text("a: '" + "x" * (3 * 2**20) + "'\n")
    with pytest.raises(SpecError) as info:
        yamlio.load(path)
    assert str(info.value) == (f"{path}:1:1: <root>: the file is 3.0 MB, larger than the 2 MB "
                               "limit — expected a spec under 2 MB")


def test_depth_limit():
    ok = "a: " + "[" * 60 + "]" * 60 + "\n"
    assert yamlio.load_text(ok).data["a"]
    problem = one_error("a: " + "[" * 20_000 + "]" * 20_000 + "\n")  # no RecursionError
    assert problem.startswith("s.yaml:1:67: a" + "[0]" * 63 + ": the document is nested too "
                              "deeply (limit 64 levels) — expected a flatter document")


def test_depth_limit_through_aliases():
    text = "a: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30 + "\n"
    problem = one_error(text)
    assert problem.startswith("s.yaml:2:37: b" + "[0]" * 63 + ": ")
    assert problem.endswith("the document is nested too deeply after expanding aliases "
                            "(limit 64 levels) — expected a flatter document")


def test_too_many_nodes_without_aliases(monkeypatch):
    monkeypatch.setattr(yamlio, "MAX_NODES", 1000)  # the real limit works alike, only slower
    assert yamlio.load_text("a: [" + "1, " * 990 + "]\n").data["a"][-1] == 1
    assert one_error("a: [" + "1, " * 1005 + "]\n") == (
        "s.yaml:1:2996: a[997]: the document has too many nodes (limit 1000) — expected a spec "
        "of a reasonable size")


# -- syntax errors ------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("a:\n\tb: 1\n",
     "s.yaml:2:1: <root>: tab characters are not allowed for indentation — expected spaces"),
    ("model:\n  layers:\n  \t- 1\n",
     "s.yaml:3:3: model: tab characters are not allowed for indentation — expected spaces"),
    ("a: b: c\n",
     "s.yaml:1:5: <root>: unexpected ':' in a value — expected a nested mapping on its own "
     "indented line, or quotes around a value that contains ': '"),
    ("a:\n  b: 1\n c: 2\n",
     "s.yaml:3:2: <root>: unexpected mapping entry: the indentation does not match the block "
     "(started at line 1) — expected entries of one block indented by the same number of "
     "spaces"),
    ("a: [1, 2\nb: 3\n",
     "s.yaml:2:2: a: unexpected ':' in a flow sequence (started at line 1) — expected ',' "
     "or ']'"),
    ("a: 'abc\nb: 1\n",
     "s.yaml:3:1: <root>: the quoted string is never closed (started at line 1) — expected a "
     "closing quote"),
    ("a: 1\nb\nc: 2\n",
     "s.yaml:2:1: <root>: this line is neither 'key: value' nor a list item — expected "
     "'key: value' (or '- item' inside a list)"),
    ("model:\n  layers:\n    - {type: Dense, units: [4\n",
     "s.yaml:4:1: model.layers[0].units: unexpected '<stream end>' in a flow sequence (started "
     "at line 3) — expected ',' or ']'"),
    ("a: [1, 2]]\n",
     "s.yaml:1:10: <root>: unexpected ']' in a block mapping (started at line 1) — expected "
     "the end of the block"),
    ("a: @x\n",
     "s.yaml:1:4: <root>: a plain value cannot start with '@' — expected the value in quotes"),
    ("a: \x07\n",
     "s.yaml:1:4: <root>: control character U+0007 is not allowed — expected printable text "
     "(write it as an escape in a double-quoted string)"),
])
def test_syntax_errors_are_positioned_and_readable(text, expected):
    problem = one_error(text)
    assert problem == expected
    assert "\n" not in problem and "Traceback" not in problem


def test_other_syntax_errors_are_one_line():
    problem = one_error('a: "\\q"\n')
    assert problem.startswith("s.yaml:1:6: <root>: found unknown escape character 'q'")
    assert "\n" not in problem


# -- files --------------------------------------------------------------------------------

def test_load_file_keeps_path_text_and_given_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text("\ufeffmodelspec: 1\nname: x\n", encoding="utf-8")
    spec = yamlio.load("spec.yaml")
    assert spec.data == {"modelspec": 1, "name": "x"}
    assert spec.path == tmp_path / "spec.yaml" and spec.path.is_absolute()
    assert spec.base_dir == tmp_path
    assert spec.text == "modelspec: 1\nname: x\n"
    assert spec.source.filename == "spec.yaml"
    Path("bad.yaml").write_text("modelspec: 1\nx: .nan\n")
    with pytest.raises(SpecError) as info:
        yamlio.load(Path("bad.yaml"))
    assert str(info.value).startswith("bad.yaml:2:4: x: non-finite")
    with pytest.raises(SpecError) as info:
        yamlio.load("bad.yaml", filename="shown.yaml")
    assert str(info.value).startswith("shown.yaml:2:4: x: non-finite")


def test_load_accepts_text_with_newlines():
    spec = yamlio.load("modelspec: 1\n", filename="t.yaml")
    assert spec.data == {"modelspec": 1} and spec.source.filename == "t.yaml"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UsageError) as info:
        yamlio.load(tmp_path / "nope.yaml", filename="nope.yaml")
    assert str(info.value) == "nope.yaml: no such file — expected a path to a YAML spec file"
    with pytest.raises(UsageError) as info:
        yamlio.load(tmp_path, filename="dir")
    assert str(info.value) == "dir: is a directory — expected a YAML spec file"


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"modelspec: 1\nname: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        yamlio.load(path, filename="latin.yaml")
    assert str(info.value) == ("latin.yaml:2:10: <root>: the file is not valid UTF-8 (byte "
                               "0xe9) — expected UTF-8 text")


def test_loader_does_not_import_tensorflow_and_is_fast():
    code = ("import sys, time\n"
            "from modelspec.lang import yamlio\n"
            "t = time.perf_counter()\n"
            "text = 'modelspec: 1\\nmodel:\\n  layers:\\n' + "
            "'    - {type: Dense, units: 8, activation: relu}\\n' * 20\n"
            "for i in range(50):\n"
            "    yamlio.load_text(text)\n"
            "print(time.perf_counter() - t, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"]
    assert float(out[0]) < 3.0  # ~0.25 s idle; generous for loaded CI machines


def test_huge_numbers_are_reported_briefly():
    assert one_error("a: " + "1" * 5000 + "\n") == (
        "s.yaml:1:4: a: non-finite number '1111111111111111111111111111111111111...' is not "
        "allowed — expected a finite number")
    assert yamlio.load_text("a: " + "9" * 400 + "\n").data["a"] == int("9" * 400)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_positions_count_lf_only(separator):
    """Finding 2 of issue 15: after U+2028 in a quoted string every later line was one off."""
    spec = yamlio.load_text(f'a: "x{separator}y"\nb: 2\nc: [1, zz]\n')
    assert spec.data["a"] in (f"x{separator}y", "x y")  # ruamel folds NEL in a quoted string
    assert spec.source.values[("b",)] == (2, 4)
    assert spec.source.values[("c", 1)] == (3, 8)
    [problem] = errors_of(f'a: "x{separator}y"\nb: 2\nc: !!python/name:os.system 1\n')
    assert problem.startswith("s.yaml:3:4: "), problem
