"""Every shipped spec that builds quickly exports, reloads with its names and equal outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
# Published parameter counts of these are in the millions: building them alone takes longer
# than a unit test should (their export path is the same as the small specs').
LARGE = {"alexnet", "densenet121", "googlenet", "resnet34", "resnet_deep", "wide_resnet",
         "unet", "fcn", "vgg11", "vgg11_lrn", "vgg13", "vgg16", "vgg16_c", "vgg19",
         "transfer_learning"}
MAX_PARAMS = 2_000_000
SPECS = sorted(p for p in (REPO / "specs").glob("*.yaml") if p.stem not in LARGE)


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_spec_exports_with_its_names(spec_path, tmp_path, monkeypatch):
    import tensorflow as tf

    import modelspec
    from modelspec.build.compiler import build_models, model_io
    from modelspec.errors import SpecError
    from modelspec.exporting.api import export_spec_or_run
    from modelspec.exporting.io import tensor_specs
    from modelspec.exporting.schema import exported_models
    from modelspec.exporting.signatures import sample_batch
    try:
        spec = modelspec.load_spec(spec_path)
    except SpecError as err:
        if all(p.path.startswith("data") for p in err.problems):
            pytest.skip(f"its data section does not check on this machine: {err.problems[0]}")
        raise
    built = build_models(spec)
    names = exported_models(spec)
    if sum(built[n].count_params() for n in names) > MAX_PARAMS:
        pytest.skip("too large for a unit test")
    # export these very models (fresh builds differ by their random initial weights)
    monkeypatch.setattr("modelspec.build.compiler.build_models", lambda *a, **k: built)
    result = export_spec_or_run(spec_path, tmp_path / "out", formats=["savedmodel"],
                                preprocessing=None)
    assert sorted(result) == sorted(names)
    for name, version in result.items():
        assert version.name == "1"
        inputs, outputs = model_io(built[name])
        loaded = tf.saved_model.load(str(version))
        signature = loaded.signatures["serving_default"]
        assert set(signature.structured_input_signature[1]) == set(inputs)
        assert set(signature.structured_outputs) == set(outputs)
        graph = spec.graphs[name]
        assert set(outputs) == set(graph.outputs)
        batch = sample_batch(tensor_specs(inputs), batch_size=3, seed=7)
        got = signature(**{k: tf.constant(v) for k, v in batch.items()})
        want = built[name](batch, training=False)
        want = want if isinstance(want, dict) else {next(iter(outputs)): want}
        for out in outputs:
            assert np.max(np.abs(got[out].numpy() - np.asarray(want[out]))) <= 1e-5
        meta = json.loads((version / "assets" / "modelspec.json").read_text())
        assert meta["spec"]["fingerprint"] == spec.fingerprint
