"""The lecture zoo (`specs/*.yaml`): every spec validates, builds, and matches
the parameter counts published for its network (`../shared/NETWORKS.md`).

Reference configurations with more than 100 M weights (AlexNet, VGG) are built once each;
the 1001-layer ResNet is counted from two shallow builds (its count is affine in the number
of units per stage) unless MODELSPEC_SLOW_SPECS=1 asks for the real build.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SPECS = sorted((REPO / "specs").glob("*.yaml"))
NAMES = [p.stem for p in SPECS]
SHARED = Path(os.environ.get("MODELSPEC_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
NETWORKS = REPO.parent / "shared" / "NETWORKS.md"

# Published counts (NETWORKS.md): spec, overrides, "total" or "trainable", count.
EXACT = [
    ("alexnet", {}, "total", 60_965_224),                       # 2012, two towers
    ("alexnet", {"towers": 1}, "total", 61_838_248),            # "One weird trick", 1 GPU
    ("alexnet", {"towers": 1, "conv4_filters": 256, "lrn": False}, "total", 61_100_840),
    ("vgg11", {}, "total", 132_863_336),
    ("vgg11_lrn", {}, "total", 132_863_336),
    ("vgg13", {}, "total", 133_047_848),
    ("vgg16", {}, "total", 138_357_544),
    ("vgg19", {}, "total", 143_667_240),
    ("resnet34", {}, "trainable", 21_797_672),
    ("densenet121", {}, "total", 8_062_504),
    ("lenet5", {}, "total", 61_706),
    ("gru", {}, "total", 240_737),                               # the lecture's equations
    ("gru", {"reset_after": True}, "total", 241_505),            # Keras's / cuDNN's GRU
    ("wide_and_deep", {"paper": True}, "total", 797_162),        # 32-d, 1024-512-256
    ("cnn_basic", {}, "total", 1_756),                           # lecture S: 3 then 6
    ("cnn_basic", {"filters1": 4}, "total", 1_836),              # lecture F: 4 then 6
    ("gan", {"paper": True}, "total", 3_735_425),                # ReLU 1200², maxout 240×5
    ("lenet5", {"paper": True}, "trainable", 60_000),            # the paper's "60,000"
]
# "About" counts, in millions rounded to one decimal (as the papers print them).
APPROX = [
    ("unet", {}, "total", 31.0),
    ("wide_resnet", {"depth": 16, "widen": 8}, "trainable", 11.0),
    ("wide_resnet", {}, "trainable", 36.5),
]


def _uses_shared(path: Path) -> bool:
    return "download:" in path.read_text(encoding="utf-8")  # read from the local copies


def _need_data(path: Path) -> None:
    if _uses_shared(path) and not SHARED.is_dir():
        pytest.skip(f"{path.name} downloads its data set; its local copy comes from "
                    f"../shared/data, which is absent ({SHARED})")


def _load(path: Path, **overrides):
    from modelspec.lang.checks import load_and_check
    return load_and_check(path, overrides=overrides or None)


def _build(spec) -> dict:
    from modelspec.build.compiler import build_models
    return build_models(spec)


def _counts(models: dict) -> dict:
    total = sum(m.count_params() for m in models.values())
    trainable = sum(int(np.prod(w.shape)) for m in models.values() for w in m.trainable_weights)
    return {"total": total, "trainable": trainable}


def _small(path: Path):
    spec = _load(path)
    return _load(path, small=True) if "small" in spec.params else spec


def _clear():
    import keras
    keras.backend.clear_session()


def _header(path: Path) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return " ".join(lines)


# ------------------------------------------------------------------------------- the rows


def test_every_row_of_networks_md_has_its_spec():
    if not NETWORKS.is_file():
        pytest.skip(f"{NETWORKS} is absent")
    rows = re.findall(r"^\| \d+ \| ([^|]+) \|", NETWORKS.read_text(encoding="utf-8"), re.M)
    wanted = {name.strip() for row in rows for name in row.split(",")}
    assert len(wanted) == 49
    assert wanted <= set(NAMES)     # and the networks of the lectures NETWORKS.md leaves out


@pytest.mark.parametrize("path", SPECS, ids=NAMES)
def test_spec_validates_and_documents_itself(path):
    _need_data(path)
    spec = _load(path)
    assert spec.name == path.stem
    raw = spec.raw
    assert isinstance(raw.get("description"), str) and len(raw["description"]) > 40
    assert raw.get("references"), "a spec cites its paper"
    header = _header(path)
    assert re.search(r"Lectures: [SVPFT] \(00\d\)", header), header
    assert "Parameters:" in header
    assert spec.section("data") and spec.section("train")


# ------------------------------------------------------------------- build and train


@pytest.mark.parametrize("path", SPECS, ids=NAMES)
def test_small_variant_builds_and_trains_one_step(path, tmp_path):
    """Builds the variant trained here and checks its stated count; the other loops train one
    step through `run_training` (supervised specs train over several steps in
    `tests/test_spec_sweep.py`, on every spec's own data)."""
    _need_data(path)
    spec = _small(path)
    train = spec.section("train")
    kind = train.get("type", "supervised")
    try:
        if kind == "supervised":
            _check_header_count(path, spec, _build(spec))
        else:  # adversarial / layerwise: the built-in loop on one real batch
            from modelspec.data.pipeline import spec_datasets
            from modelspec.training.config import TrainConfig
            from modelspec.training.run import as_bundle, run_training
            make = spec_datasets(spec, TrainConfig.from_section(train).data_feed())

            def datasets(built):
                return as_bundle(train=make(built).train.take(1))

            result = run_training(train, tmp_path / "run", lambda: _build(spec), datasets,
                                  fingerprint=spec.fingerprint, name=spec.name, epochs=1,
                                  verbose=0)
            _check_header_count(path, spec, result.models)
            assert result.metrics and all(np.isfinite(v) for v in result.metrics.values()
                                          if isinstance(v, float))
    finally:
        _clear()


def _check_header_count(path: Path, spec, models: dict) -> None:
    """A spec whose reference configuration is its small one states its exact count."""
    if "small" in spec.params:
        return                          # reference configurations: the count tests below
    counts = _counts(models)
    header = _header(path)
    assert f"{counts['total']:,}" in header or f"{counts['trainable']:,}" in header, \
        (counts, header)


# ------------------------------------------------------------------ published counts


@pytest.mark.parametrize("name,overrides,which,count", EXACT,
                         ids=[f"{r[0]}-{r[3]}" for r in EXACT])
def test_published_parameter_count(name, overrides, which, count):
    path = REPO / "specs" / f"{name}.yaml"
    _need_data(path)
    try:
        counts = _counts(_build(_load(path, **overrides)))
    finally:
        _clear()
    assert counts[which] == count
    assert f"{count:,}" in _header(path)


@pytest.mark.parametrize("name,overrides,which,millions", APPROX,
                         ids=[f"{r[0]}-{r[3]}M" for r in APPROX])
def test_published_approximate_count(name, overrides, which, millions):
    path = REPO / "specs" / f"{name}.yaml"
    _need_data(path)
    try:
        counts = _counts(_build(_load(path, **overrides)))
    finally:
        _clear()
    assert round(counts[which] / 1e6, 1) == millions


def test_googlenet_count_is_inception_v1():
    path = REPO / "specs" / "googlenet.yaml"
    _need_data(path)
    try:
        counts = _counts(_build(_load(path)))
    finally:
        _clear()
    assert counts["total"] == 6_998_552                # Table 1 of the paper, without aux heads
    assert 6.6e6 <= counts["total"] <= 7.0e6


def _conv_dense_weights(models) -> int:
    """Weights of convolution and dense layers (what the ResNet papers count)."""
    import keras
    n = 0
    for model in models.values():
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
                n += layer.count_params()
    return n


def test_preact_resnet_1001_has_10_2_million_weights():
    path = REPO / "specs" / "resnet_deep.yaml"
    _need_data(path)
    if os.environ.get("MODELSPEC_SLOW_SPECS") == "1":   # the real 1001-layer build (~40 s)
        try:
            weights = _conv_dense_weights(_build(_load(path)))
        finally:
            _clear()
    else:
        # depth = 9·units + 2; every unit of a stage has the same weights, so the count is
        # affine in `units`: count(111) from count(3) and count(4)
        measured = {}
        for depth in (29, 38):
            try:
                measured[depth] = _conv_dense_weights(_build(_load(path, small=True,
                                                                   depth=depth)))
            finally:
                _clear()
        per_unit = measured[38] - measured[29]
        weights = measured[29] + per_unit * ((1001 - 2) // 9 - 3)
    assert round(weights / 1e6, 1) == 10.2
    assert _load(path).params["units"] == 111


def test_densenet121_matches_keras_applications_layer_by_layer():
    import keras
    path = REPO / "specs" / "densenet121.yaml"
    _need_data(path)
    try:
        ours = _build(_load(path))["model"]
        theirs = keras.applications.DenseNet121(weights=None)
        shapes = [(type(layer).__name__, [tuple(w.shape) for w in layer.weights])
                  for layer in ours.layers if layer.weights]
        reference = [(type(layer).__name__, [tuple(w.shape) for w in layer.weights])
                     for layer in theirs.layers if layer.weights]
        assert shapes == reference
        assert ours.count_params() == theirs.count_params() == 8_062_504
    finally:
        _clear()


def test_vgg_c_has_1x1_convolutions_and_a_lrn_has_lrn():
    c = _load(REPO / "specs" / "vgg16_c.yaml")
    kernels = [n.args.get("kernel_size") for n in c.graphs["model"].nodes if n.type == "Conv2D"]
    assert kernels.count(1) == 3 and kernels.count(3) == 10
    lrn = _load(REPO / "specs" / "vgg11_lrn.yaml")
    assert [n.type for n in lrn.graphs["model"].nodes].count("LocalResponseNormalization") == 1
    alex = _load(REPO / "specs" / "alexnet.yaml")
    assert [n.type for n in alex.graphs["model"].nodes].count("LocalResponseNormalization") == 2


def test_lenet5_uses_average_pooling_and_tanh():
    spec = _load(REPO / "specs" / "lenet5.yaml")
    types = [n.type for n in spec.graphs["model"].nodes]
    assert types.count("AveragePooling2D") == 2 and "MaxPooling2D" not in types
    assert all(n.args.get("activation") == "tanh" for n in spec.graphs["model"].nodes
               if n.type in ("Conv2D",))


def test_perceptron_computes_the_lecture_credit_rule_before_training():
    """Weights 0.3/0.3/0.3 and threshold 0.4: credit iff at least two of three inputs."""
    import itertools
    try:
        model = _build(_load(REPO / "specs" / "perceptron.yaml"))["model"]
        x = np.array(list(itertools.product([0, 1], repeat=3)), dtype="float32")
        out = model.predict({"x": x}, verbose=0)["credit"][:, 0]
    finally:
        _clear()
    assert out.tolist() == [float(row.sum() >= 2) for row in x]


# ------------------------------------------------------------------------ catalogue


def test_catalogue_is_current():
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_spec_catalog",
                                                  REPO / "tools" / "gen_spec_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render(REPO / "specs")
    current = (REPO / "specs" / "README.md").read_text(encoding="utf-8")
    assert current == expected, "specs/README.md is stale: run python tools/gen_spec_catalog.py"


@pytest.mark.parametrize("name,application", [("vgg16", "VGG16"), ("vgg19", "VGG19")])
def test_vgg_matches_keras_applications_layer_by_layer(name, application):
    """Configurations D and E against Keras's independent implementation, weight by weight."""
    import keras
    path = REPO / "specs" / f"{name}.yaml"
    _need_data(path)
    try:
        ours = _build(_load(path))["model"]
        theirs = getattr(keras.applications, application)(weights=None)
        shapes = [(type(layer).__name__, [tuple(w.shape) for w in layer.weights])
                  for layer in ours.layers if layer.weights]
        reference = [(type(layer).__name__, [tuple(w.shape) for w in layer.weights])
                     for layer in theirs.layers if layer.weights]
        assert shapes == reference
        assert ours.count_params() == theirs.count_params()
    finally:
        _clear()


def _independent_resnet34():
    """ResNet-34 written directly in Keras (He et al. 2016, Table 1; projection shortcuts)."""
    import keras
    L = keras.layers
    x = inp = keras.Input((224, 224, 3))
    x = L.Conv2D(64, 7, strides=2, padding="same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    for stage, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for block in range(blocks):
            stride = 2 if stage and not block else 1
            y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
            y = L.ReLU()(L.BatchNormalization()(y))
            y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same", use_bias=False)(y))
            if stride != 1:
                x = L.BatchNormalization()(L.Conv2D(filters, 1, strides=2, use_bias=False)(x))
            x = L.ReLU()(L.Add()([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(1000, activation="softmax")(x))


def test_resnet34_has_the_weights_of_an_independent_implementation():
    path = REPO / "specs" / "resnet34.yaml"
    _need_data(path)
    try:
        ours = _build(_load(path))["model"]
        theirs = _independent_resnet34()

        def weights(model):
            return sorted((type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
                          for layer in model.layers if layer.weights)
        assert weights(ours) == weights(theirs)
        assert ours.count_params() == theirs.count_params()
    finally:
        _clear()


def test_mlp_surface_selects_the_rosenbrock_surface_by_parameter():
    """Lecture S fits both surfaces: `-p surface=rosenbrock` (heights in thousands); a wrong
    name is a positioned error with a suggestion, not an internal error."""
    from modelspec.build.compiler import build_models, model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.errors import SpecError
    spec = _load(REPO / "specs" / "mlp_surface.yaml", surface="rosenbrock")
    try:
        (model,) = build_models(spec).values()
        x, y = next(iter(build_datasets(spec, *model_io(model), splits=("train",)).train))
    finally:
        _clear()
    x, z = x["xy"].numpy(), y["z"].numpy()[:, 0]
    rosenbrock = (100 * (x[:, 1] - x[:, 0] ** 2) ** 2 + (1 - x[:, 0]) ** 2) / 1000
    np.testing.assert_allclose(z, rosenbrock, rtol=1e-4, atol=1e-6)
    with pytest.raises(SpecError) as err:
        _load(REPO / "specs" / "mlp_surface.yaml", surface="rosenbrok")
    lines = (REPO / "specs" / "mlp_surface.yaml").read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "name: $surface" in text)
    assert f"mlp_surface.yaml:{line}:35: data.source.name: unknown generated data set " \
        "'rosenbrok'" in str(err.value)
    assert "did you mean 'rosenbrock'?" in str(err.value)
