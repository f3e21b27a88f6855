"""Every shipped spec whose data is generated or comes with scikit-learn trains and exports.

For each such spec (its small variant where it has one): the loss on one training batch is
finite and falls after a few steps on that batch, and the trained model exports (the
SavedModel is reloaded and compared with the model by `export_models`). Specs that read real
data files are swept once the data-by-name fixture (issue "data by name") can provide their
data on any machine; until then they are left to `tests/test_specs.py`'s one-step check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
LOCAL_SOURCES = ("generated", "sklearn")
STEPS = 8


def _local_specs() -> list[Path]:
    found = []
    for path in sorted((REPO / "specs").glob("*.yaml")):
        doc = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
        if ((doc.get("data") or {}).get("source") or {}).get("type") in LOCAL_SOURCES:
            found.append(path)
    return found


SPECS = _local_specs()


def _load(path: Path):
    from modelspec.lang.checks import load_and_check
    spec = load_and_check(path)
    return load_and_check(path, overrides={"small": True}) if "small" in spec.params else spec


def _supervised(spec, tmp_path: Path) -> None:
    from modelspec.build.compiler import build_models, model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.decoding import spec_generate_config
    from modelspec.exporting.api import export_models
    from modelspec.training.loops.supervised import compile_model
    (model,) = build_models(spec).values()
    compile_model(model, spec.section("train"))
    batch = next(iter(build_datasets(spec, *model_io(model), splits=("train",)).train))
    before = model.test_on_batch(*batch, return_dict=True)["loss"]
    for _ in range(STEPS):
        model.train_on_batch(*batch)
    after = model.test_on_batch(*batch, return_dict=True)["loss"]
    assert np.isfinite(before) and np.isfinite(after), (before, after)
    assert after < before or before == 0.0, \
        f"{spec.name}: loss {before:.5g} → {after:.5g} after {STEPS} steps"
    # checked on the training batch: a random batch with unknown sizes set to 8 (the
    # default check) is too small for a fully convolutional network's five poolings
    export_models({"model": model}, tmp_path / "export", raw_signature=False,
                  generate=spec_generate_config(spec), samples={"model": batch[0]})


def _other_loop(spec, tmp_path: Path) -> None:
    from modelspec.build.compiler import build_models
    from modelspec.exporting.api import export_models
    from modelspec.exporting.schema import exported_models
    from modelspec.training.config import TrainConfig
    from modelspec.training.run import as_bundle, run_training, spec_datasets
    train = spec.section("train")
    make = spec_datasets(spec, TrainConfig.from_section(train).data_feed())
    result = run_training(train, tmp_path / "run", lambda: build_models(spec),
                          lambda built: as_bundle(train=make(built).train.take(2)),
                          fingerprint=spec.fingerprint, name=spec.name, epochs=1, verbose=0)
    losses = [v for v in result.metrics.values() if isinstance(v, float)]
    assert losses and all(np.isfinite(losses)), result.metrics
    names = exported_models(spec)
    export_models({n: result.models[n] for n in names}, tmp_path / "export",
                  raw_signature=False)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_trains_and_exports(path, tmp_path):
    import keras
    spec = _load(path)
    try:
        if (spec.section("train") or {}).get("type", "supervised") == "supervised":
            _supervised(spec, tmp_path)
        else:
            _other_loop(spec, tmp_path)
    finally:
        keras.backend.clear_session()
