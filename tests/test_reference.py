"""docs/REFERENCE.md is generated from the registries and is current."""

from __future__ import annotations

import importlib.util
import sys

import pytest


def _gen(repo_root):
    spec = importlib.util.spec_from_file_location("gen_reference",
                                                  repo_root / "tools" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_is_current(repo_root, monkeypatch):
    gen = _gen(repo_root)
    monkeypatch.setattr(sys, "argv", ["gen_reference.py", "--check"])
    assert gen.main() == 0, "run: python tools/gen_reference.py"


def test_reference_lists_every_registered_name(repo_root):
    from modelspec.data.registry import AUGMENTS, GENERATED, SOURCES, TRANSFORMS
    from modelspec.lang.builtin_args import BUILTIN_LAYER_ARGS
    text = (repo_root / "docs" / "REFERENCE.md").read_text(encoding="utf-8")
    for table in (SOURCES, GENERATED, TRANSFORMS, AUGMENTS, BUILTIN_LAYER_ARGS):
        for name in table:
            assert f"| `{name}` |" in text, name
    assert "| `keras_hub.TransformerEncoder` | intermediate_dim, num_heads |" in text
    assert "| `label_smoothing` | adversarial: one-sided label smoothing" in text


@pytest.mark.parametrize("line", ["| `csv` | a CSV file", "| `early_stopping` |"])
def test_reference_stale_check_fails_on_a_changed_file(repo_root, monkeypatch, tmp_path, line):
    gen = _gen(repo_root)
    stale = tmp_path / "REFERENCE.md"
    stale.write_text(gen.build().replace(line, line + " (old)"))
    monkeypatch.setattr(gen, "OUT", stale)
    monkeypatch.setattr(sys, "argv", ["gen_reference.py", "--check"])
    assert gen.main() == 1
