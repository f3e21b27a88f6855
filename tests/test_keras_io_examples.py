"""Published keras.io models written as specs from their pages alone (examples/keras_io/):
each has exactly the parameter count of the page's model summary, and they train and export."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelspec.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "keras_io"
# spec → {model: "Total params" of the page's model.summary()}
PUBLISHED = {
    "mnist_convnet": {"model": 34_826},
    "timeseries_fcn": {"model": 25_858},
    "denoising_autoencoder": {"model": 28_353},
    "vae": {"encoder": 69_076, "decoder": 65_089},
    "bidirectional_lstm_imdb": {"model": 2_757_761},
}


def test_every_example_is_listed():
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_equal_the_published_models(name):
    import modelspec
    built = modelspec.build_model(modelspec.load_spec(EXAMPLES / f"{name}.yaml"))
    models = built if isinstance(built, dict) else {"model": built}
    assert {m: models[m].count_params() for m in PUBLISHED[name]} == PUBLISHED[name]


def test_the_vae_trains_and_exports_its_encoder_and_decoder(tmp_path):
    runner = CliRunner()
    spec = EXAMPLES / "vae.yaml"
    result = runner.invoke(main, ["train", str(spec), "--epochs", "1", "-q",
                                  "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(tmp_path / "run"), "--output",
                                  str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "exported encoder" in result.output and "exported decoder" in result.output
    assert " classify:" not in result.output
