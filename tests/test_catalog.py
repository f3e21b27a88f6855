"""The static Keras catalogue matches the installed Keras and answers without TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from modelspec.lang import catalog


def _gen_catalog(repo_root):
    spec = importlib.util.spec_from_file_location("gen_catalog",
                                                  repo_root / "tools" / "gen_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalogue_matches_installed_keras(repo_root, monkeypatch):
    """What `python tools/gen_catalog.py --check` checks, in this process (TF is loaded)."""
    pytest.importorskip("keras")
    gen = _gen_catalog(repo_root)
    monkeypatch.setattr(sys, "argv", ["gen_catalog.py", "--check"])
    assert gen.main() == 0, "run: python tools/gen_catalog.py"
    expected = json.dumps(gen.build(), indent=1, sort_keys=True) + "\n"
    assert catalog.CATALOG_PATH.read_text() == expected


def test_gen_catalog_check_detects_a_stale_file(repo_root, monkeypatch, tmp_path):
    pytest.importorskip("keras")
    gen = _gen_catalog(repo_root)
    stale = tmp_path / "keras_catalog.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(gen, "OUT", stale)
    monkeypatch.setattr(sys, "argv", ["gen_catalog.py", "--check"])
    assert gen.main() == 1
    assert stale.read_text() == "{}\n"       # --check never writes


def test_names_and_arguments_of_each_kind():
    assert "Dense" in catalog.names("layers")
    assert {"Adam", "SGD", "RMSprop", "Adagrad", "Adadelta", "AdamW"} <= set(
        catalog.names("optimizers"))
    assert "CategoricalCrossentropy" in catalog.names("losses")
    assert "HeNormal" in catalog.names("initializers")
    assert {"L1", "L2", "L1L2"} <= set(catalog.names("regularizers"))
    assert "MaxNorm" in catalog.names("constraints")
    assert "ExponentialDecay" in catalog.names("schedules")
    assert "VGG16" in catalog.names("applications")
    dense = catalog.arguments("layers", "Dense")
    assert dense["units"] == catalog.REQUIRED and dense["use_bias"] is True
    assert catalog.arguments("optimizers", "SGD")["momentum"] == 0.0
    assert "training" in catalog.call_arguments("Dropout")
    assert "relu" in catalog.string_names("activations")
    assert "he_normal" in catalog.string_names("initializers")
    assert "mse" in catalog.string_names("losses")
    assert "adam" in catalog.string_names("optimizers")


def test_catalog_module_does_not_import_tensorflow():
    code = ("import sys, modelspec.lang.catalog as c; c.names('layers'); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
