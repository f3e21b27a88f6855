"""Tests of the built-in layers (LRN, GradientReversal, Step), the `step` activation and
their TF-free argument tables."""

import inspect
import itertools
import json
import subprocess
import sys

import jsonschema
import keras
import numpy as np
import pytest
import tensorflow as tf

import modelspec
from modelspec.build.compiler import build_from_spec, model_io
from modelspec.build.components.builtin_layers import (
    BUILTIN_ACTIVATIONS,
    BUILTIN_LAYERS,
    GradientReversal,
    LocalResponseNormalization,
    Step,
    step,
)
from modelspec.lang import builtin_args

# The lecture's credit example: three yes/no conditions, credit when at least two hold.
CREDIT_X = np.array(list(itertools.product([0.0, 1.0], repeat=3)), dtype="float32")
CREDIT_Y = (CREDIT_X.sum(axis=1, keepdims=True) >= 2).astype("float32")
LAYER_IDS = ["LocalResponseNormalization", "GradientReversal", "Step"]  # of sample_layers()


def lrn_reference(x, depth_radius, bias, alpha, beta):
    """The paper's formula, written out channel by channel in NumPy (float64)."""
    x = np.asarray(x, dtype="float64")
    channels = x.shape[-1]
    out = np.empty_like(x)
    for c in range(channels):
        lo, hi = max(0, c - depth_radius), min(channels - 1, c + depth_radius)
        total = np.sum(x[..., lo:hi + 1] ** 2, axis=-1)
        out[..., c] = x[..., c] / (bias + alpha * total) ** beta
    return out


def sample_layers():
    """One instance of every built-in layer with non-default arguments, and an input."""
    return [
        (LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-2, beta=0.75), (5, 5, 7)),
        (GradientReversal(factor=0.5), (6,)),
        (Step(threshold=0.4), (3,)),
    ]


def random_input(shape, seed=0):
    return (np.random.RandomState(seed).randn(4, *shape) * 3).astype("float32")


# ---------------------------------------------------------------- argument tables (no TF)

def test_builtin_args_module_does_not_import_tensorflow():
    code = ("import sys, modelspec.lang.builtin_args as b; "
            "assert b.BUILTIN_LAYER_ARGS; "
            "print(any(m == 'tensorflow' or m.startswith(('tensorflow.', 'keras')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_tables_cover_exactly_the_registered_objects():
    assert set(builtin_args.BUILTIN_LAYER_ARGS) == set(BUILTIN_LAYERS)
    assert set(builtin_args.BUILTIN_LAYER_DOCS) == set(BUILTIN_LAYERS)
    assert set(builtin_args.BUILTIN_ACTIVATION_NAMES) == set(BUILTIN_ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(BUILTIN_LAYERS))
def test_argument_tables_match_constructors(name):
    params = inspect.signature(BUILTIN_LAYERS[name].__init__).parameters
    own = {k: p for k, p in params.items() if k not in ("self", "kwargs")}
    table = builtin_args.BUILTIN_LAYER_ARGS[name]
    assert set(table) == set(own) | {"dtype"}  # dtype: the base layer argument
    for schema in table.values():
        jsonschema.Draft202012Validator.check_schema(schema)
        if "default" in schema:
            jsonschema.validate(schema["default"], schema)
        assert schema["description"]
    # an argument without a default in the constructor has none in the table (required)
    defaults = {a: p.default for a, p in own.items() if p.default is not p.empty}
    assert builtin_args.layer_defaults(name) == dict(defaults, dtype=None)
    required = {a: REQUIRED_EXAMPLES[name][a] for a, p in own.items() if p.default is p.empty}
    # get_config of a default layer only holds values its own table accepts.
    config = BUILTIN_LAYERS[name](**required).get_config()
    for arg in own:
        jsonschema.validate(config[arg], table[arg])
    # Every dtype the table accepts is accepted by the layer.
    for dtype in table["dtype"]["enum"]:
        assert BUILTIN_LAYERS[name](dtype=dtype, **required).compute_dtype in (
            "float16", "bfloat16", "float32", "float64")


# Values of required arguments (Keras's own application layers have no defaults).
REQUIRED_EXAMPLES = {"LayerScale": {"init_values": 1e-6, "projection_dim": 8},
                     "CustomScaleLayer": {"scale": 0.17}}


def test_argument_tables_reject_bad_values():
    lrn = builtin_args.BUILTIN_LAYER_ARGS["LocalResponseNormalization"]
    for arg, bad in [("depth_radius", -1), ("depth_radius", 2.5), ("bias", 0),
                     ("alpha", -1e-4), ("beta", "0.75")]:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, lrn[arg])
    with pytest.raises(KeyError):
        builtin_args.layer_arguments("Lambda")
    # copies: editing one does not change the table
    copy = builtin_args.layer_arguments("Step")
    copy["threshold"]["default"] = 99
    copy["dtype"]["enum"].append("int8")
    assert builtin_args.BUILTIN_LAYER_ARGS["Step"]["threshold"]["default"] == 0.0
    assert "int8" not in builtin_args.BUILTIN_LAYER_ARGS["Step"]["dtype"]["enum"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("int32", builtin_args.DTYPE_ARG)


# ---------------------------------------------------------------- LocalResponseNormalization

@pytest.mark.parametrize("depth_radius,shape", [(0, (3, 3, 4)), (2, (5, 5, 7)),
                                                 (3, (10, 6)), (9, (2, 2, 5))])
def test_lrn_matches_numpy_reference(depth_radius, shape):
    x = random_input(shape)
    layer = LocalResponseNormalization(depth_radius=depth_radius, bias=2.0, alpha=1e-2,
                                       beta=0.75)
    got = keras.ops.convert_to_numpy(layer(x))
    want = lrn_reference(x, depth_radius, 2.0, 1e-2, 0.75)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The effect is visible (not an identity): the reference normalizes noticeably.
    assert np.abs(want - x).max() > 0.1


def test_lrn_matches_tf_nn_convention_with_alexnet_values():
    x = random_input((6, 6, 16), seed=1) * 20
    alexnet = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    want = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4,
                                              beta=0.75)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alexnet(x)), want.numpy(),
                               rtol=1e-5, atol=1e-6)
    # Defaults are TF's (bias 1.0): the paper's k=2 must be given explicitly.
    default = LocalResponseNormalization()
    assert (default.depth_radius, default.bias, default.alpha, default.beta) == (2, 1.0, 1e-4,
                                                                                 0.75)


@pytest.mark.parametrize("kwargs", [{"depth_radius": -1}, {"depth_radius": 1.5},
                                    {"bias": 0.0}, {"alpha": -1.0}, {"beta": -0.5}])
def test_lrn_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        LocalResponseNormalization(**kwargs)


def test_lrn_needs_known_channels():
    with pytest.raises(ValueError, match="known channel"):
        LocalResponseNormalization()(keras.Input(shape=(8, 8, None)))


def test_lrn_mixed_precision_does_not_overflow():
    # |x| = 300: x**2 = 90000 overflows float16 (max 65504); the layer sums in float32.
    x = np.full((1, 2, 2, 4), 300.0, dtype="float32")
    layer = LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=1e-4, beta=0.75,
                                       dtype="mixed_float16")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    got = keras.ops.convert_to_numpy(y).astype("float64")
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, lrn_reference(x, 2, 1.0, 1e-4, 0.75), rtol=2e-3)


# ---------------------------------------------------------------- GradientReversal

def test_gradient_reversal_is_identity_forward_and_reverses_gradient():
    layer = GradientReversal(factor=0.5)
    x = tf.constant(random_input((6,)))
    upstream = tf.constant(random_input((6,), seed=3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * upstream)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), -0.5 * upstream.numpy(),
                               rtol=1e-6)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1


def test_gradient_reversal_factor_can_be_scheduled_without_retracing():
    layer = GradientReversal(factor=1.0)
    traces = []

    @tf.function(jit_compile=True)
    def grad_of_sum(x):
        traces.append(1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * 2.0)
        return tape.gradient(loss, x)

    x = tf.ones((2, 3))
    np.testing.assert_allclose(grad_of_sum(x).numpy(), -2.0)
    layer.factor.assign(0.25)  # what a scheduling callback does
    np.testing.assert_allclose(grad_of_sum(x).numpy(), -0.5)
    layer.factor.assign(0.0)
    np.testing.assert_allclose(grad_of_sum(x).numpy(), 0.0)
    assert len(traces) == 1
    assert layer.get_config()["factor"] == 1.0  # config keeps the initial value


def test_gradient_reversal_trains_features_against_the_head():
    # Shared feature weight w, head weight v; the loss is (v*w*x)^2 summed. Without reversal
    # both descend; through the layer, w ascends while v still descends.
    inputs = keras.Input(shape=(1,))
    feat = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="feat")
    head = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="head")
    model = keras.Model(inputs, head(GradientReversal(factor=1.0)(feat(inputs))))
    x = tf.ones((4, 1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    g_feat, g_head = tape.gradient(loss, [feat.kernel, head.kernel])
    np.testing.assert_allclose(float(np.squeeze(g_head)), 8.0)
    np.testing.assert_allclose(float(np.squeeze(g_feat)), -8.0)


# ---------------------------------------------------------------- Step and step

def test_step_fires_at_or_above_threshold():
    y = Step(threshold=0.4)(np.array([[0.3, 0.39, 0.4, 0.6, -5.0]], dtype="float32"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(y), [[0, 0, 1, 1, 0]])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(step(tf.constant([-1.0, -1e-7, 0.0, 3.0]))), [0, 0, 1, 1])
    assert step(tf.constant([1, -1])).dtype == tf.float32  # ints become floats


def test_step_lecture_weights_compute_the_credit_rule():
    inputs = keras.Input(shape=(3,))
    dense = keras.layers.Dense(1, use_bias=False,
                               kernel_initializer=keras.initializers.Constant(0.3))
    model = keras.Model(inputs, Step(threshold=0.4)(dense(inputs)))
    np.testing.assert_array_equal(model.predict(CREDIT_X, verbose=0), CREDIT_Y)


def test_step_gradient_is_straight_through():
    x = tf.constant([[-2.0, 0.1, 0.5, 3.0]])
    for fn in (Step(threshold=0.4), step):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x) * tf.constant([[1.0, 2.0, 3.0, 4.0]]))
        np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [[1, 2, 3, 4]])


# ---------------------------------------------------------------- every layer

@pytest.mark.parametrize("layer,shape", sample_layers(), ids=LAYER_IDS)
def test_symbolic_build_shapes_and_config_round_trip(layer, shape):
    inputs = keras.Input(shape=shape)
    outputs = layer(inputs)
    assert tuple(outputs.shape) == (None, *shape)
    assert layer.compute_output_shape((None, *shape)) == (None, *shape)
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    x = random_input(shape)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(x)),
                                  keras.ops.convert_to_numpy(layer(x)))
    registered = keras.saving.get_registered_name(type(layer))
    assert registered == f"modelspec>{type(layer).__name__}"
    assert keras.saving.get_registered_object(registered) is type(layer)


@pytest.mark.parametrize("layer,shape", sample_layers(), ids=LAYER_IDS)
def test_xla_matches_eager(layer, shape):
    x = tf.constant(random_input(shape))
    compiled = tf.function(lambda t: layer(t), jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), keras.ops.convert_to_numpy(layer(x)),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer,shape", sample_layers(), ids=LAYER_IDS)
def test_mixed_precision_computes_in_float16(layer, shape):
    config = dict(layer.get_config(), dtype="mixed_float16")
    mixed = type(layer).from_config(config)
    x = random_input(shape)
    y = mixed(keras.Input(shape=shape))
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    out = mixed(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    x16 = x.astype("float16").astype("float32")  # the values the float16 layer really sees
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).astype("float32"),
                               keras.ops.convert_to_numpy(layer(x16)), rtol=2e-3, atol=2e-3)


def test_model_with_all_builtins_saves_and_exports(tmp_path):
    inputs = keras.Input(shape=(4, 4, 6), name="image")
    h = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-2, beta=0.75)(inputs)
    h = GradientReversal(factor=0.3)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(5, activation=step)(h)
    outputs = Step(threshold=0.5)(keras.layers.Dense(2)(h))
    model = keras.Model(inputs, [h, outputs])
    x = random_input((4, 4, 6), seed=7)
    want = [keras.ops.convert_to_numpy(t) for t in model(x)]

    # Keras format: custom objects resolve through the registration, no custom_objects.
    keras_path = tmp_path / "model.keras"
    model.save(keras_path)
    loaded = keras.saving.load_model(keras_path)
    for got, ref in zip(loaded(x), want):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), ref)
    assert loaded.layers[2].factor.numpy() == pytest.approx(0.3)

    # SavedModel for TensorFlow Serving, loaded back without modelspec's Python code path.
    export_dir = tmp_path / "export"
    model.export(str(export_dir), verbose=False)
    artifact = tf.saved_model.load(str(export_dir))  # keep a reference: it owns the variables
    served = artifact.serve(tf.constant(x))
    for got, ref in zip(served, want):
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6, atol=1e-6)

    # Plain tf.saved_model.save of a tf.function using the layers.
    module = tf.Module()
    module.model = model
    module.f = tf.function(lambda t: model(t)[1],
                           input_signature=[tf.TensorSpec((None, 4, 4, 6), tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "tfsm"))
    reloaded = tf.saved_model.load(str(tmp_path / "tfsm"))
    np.testing.assert_array_equal(reloaded.f(tf.constant(x)).numpy(), want[1])


# ---------------------------------------------------------------- through real specs

PERCEPTRON_SPEC = """\
modelspec: 1
name: perceptron
model:
  inputs: {conditions: {shape: [3]}}
  layers:
    - {id: weighted_sum, type: Dense, units: 1}
    - {id: fire, type: Step, threshold: 0.0}
  outputs: {credit: fire}
"""
# The same perceptron with the `step` activation instead of the Step layer.
PERCEPTRON_ACTIVATION_SPEC = PERCEPTRON_SPEC.replace(
    "{id: weighted_sum, type: Dense, units: 1}\n    - {id: fire, type: Step, threshold: 0.0}",
    "{id: fire, type: Dense, units: 1, activation: step}")

BUILTINS_SPEC = """\
modelspec: 1
name: builtins
params: {lam: 0.25}
model:
  inputs: {image: {shape: [4, 4, 6]}}
  layers:
    - {id: lrn, type: LocalResponseNormalization, depth_radius: 2, bias: 2.0, alpha: 0.01, beta: 0.75}
    - {id: grl, type: GradientReversal, factor: $lam}
    - {type: Flatten}
    - {id: fired, type: Dense, units: 3, activation: step}
  outputs: {normalized: lrn, fired: fired}
"""


def test_spec_with_builtins_compiles_to_the_layers():
    model = build_from_spec(modelspec.load_spec(BUILTINS_SPEC, filename="b.yaml"))
    assert model_io(model)[1] == {"normalized": ((4, 4, 6), "float32"),
                                  "fired": ((3,), "float32")}
    lrn, grl = model.get_layer("lrn"), model.get_layer("grl")
    assert isinstance(lrn, LocalResponseNormalization) and isinstance(grl, GradientReversal)
    assert float(grl.factor.numpy()) == 0.25
    assert model.get_layer("fired").activation is step
    x = random_input((4, 4, 6), seed=5)
    out = model({"image": x})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["normalized"]),
                               lrn_reference(x, 2, 2.0, 0.01, 0.75), rtol=1e-5, atol=1e-6)
    assert set(np.unique(keras.ops.convert_to_numpy(out["fired"]))) <= {0.0, 1.0}


@pytest.mark.parametrize("text", [PERCEPTRON_SPEC, PERCEPTRON_ACTIVATION_SPEC],
                         ids=["Step-layer", "step-activation"])
def test_spec_perceptron_learns_credit_rule_by_gradient_descent(text):
    keras.utils.set_random_seed(1)
    model = build_from_spec(modelspec.load_spec(text, filename="p.yaml"))
    fire = model.get_layer("fire")
    assert isinstance(fire, Step) or fire.activation is step
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss={"credit": "mse"})
    # 25 shuffled copies of the 8 combinations, batches of 8: 25 steps per epoch, 300 steps.
    history = model.fit({"conditions": np.tile(CREDIT_X, (25, 1))},
                        {"credit": np.tile(CREDIT_Y, (25, 1))},
                        batch_size=8, epochs=12, verbose=0)
    got = model.predict({"conditions": CREDIT_X}, verbose=0)["credit"]
    np.testing.assert_array_equal(got, CREDIT_Y)
    assert history.history["loss"][-1] == 0.0


def test_spec_errors_for_builtin_arguments_are_positioned():
    bad = (BUILTINS_SPEC.replace("depth_radius: 2", "depth_radius: -1")
           .replace("factor: $lam", "factr: $lam"))
    with pytest.raises(modelspec.SpecError) as info:
        modelspec.load_spec(bad, filename="b.yaml")
    lines = str(info.value).splitlines()
    assert lines[0] == ("b.yaml:7:65: model.layers[0].depth_radius: -1 is out of range "
                        "— expected at least 0")
    assert lines[1].startswith("b.yaml:8:41: model.layers[1].factr: unknown argument 'factr' "
                               "for GradientReversal — expected one of GradientReversal's "
                               "arguments: factor, dtype")
    assert lines[1].endswith("(did you mean 'factor'?)")
    assert lines[2] == "2 errors"


# ------------------------------------------------------------------- WinnerTakeAll


def test_winner_take_all_keeps_one_winner_per_map_and_lifetime_top_k():
    from modelspec.build.components.builtin_layers import WinnerTakeAll
    x = np.random.default_rng(0).random((20, 4, 4, 3)).astype("float32")
    spatial = np.asarray(WinnerTakeAll(lifetime_rate=1.0)(x, training=True))
    assert ((spatial != 0).sum(axis=(1, 2)) == 1).all()            # one winner per map
    np.testing.assert_allclose(spatial.max(axis=(1, 2)), x.max(axis=(1, 2)))
    lifetime = np.asarray(WinnerTakeAll(lifetime_rate=0.1)(x, training=True))
    winners = x.max(axis=(1, 2))                                     # (20, 3)
    kept = lifetime.max(axis=(1, 2)) > 0
    assert (kept.sum(0) == 2).all()                                  # 10 % of 20 examples
    for c in range(3):
        assert set(np.flatnonzero(kept[:, c])) == set(np.argsort(winners[:, c])[-2:])
    # at inference the lifetime rule (batch-dependent) is off, the spatial one stays
    np.testing.assert_array_equal(np.asarray(WinnerTakeAll(lifetime_rate=0.1)(x)), spatial)


def test_winner_take_all_gradient_reaches_the_winners_only():
    import tensorflow as tf

    from modelspec.build.components.builtin_layers import WinnerTakeAll
    x = tf.Variable(np.random.default_rng(1).random((4, 3, 3, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(WinnerTakeAll(lifetime_rate=1.0)(x, training=True))
    grad = tape.gradient(y, x).numpy()
    assert grad.sum() == 8 and ((grad != 0).sum(axis=(1, 2)) == 1).all()


def test_wta_autoencoder_spec_count(repo_root):
    from modelspec.build.compiler import build_models
    from modelspec.lang.checks import load_and_check
    spec = load_and_check(repo_root / "specs" / "wta_autoencoder.yaml")
    assert build_models(spec)["model"].count_params() == 14_033


def test_maxout_is_the_max_of_its_affine_pieces():
    from modelspec.build.components.builtin_layers import Maxout
    layer = Maxout(units=3, pieces=4)
    x = np.random.default_rng(2).standard_normal((5, 6)).astype("float32")
    y = np.asarray(layer(x))
    kernel, bias = (w.numpy() for w in layer.dense.weights)
    expected = (x @ kernel + bias).reshape(5, 3, 4).max(-1)
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    assert layer.count_params() == 6 * 12 + 12


def test_lenet5_parts_subsampling_partial_conv_rbf_and_lecun_tanh():
    from modelspec.build.components.builtin_layers import (
        PartialConv2D,
        RBFOutput,
        Subsampling,
        lecun_tanh,
    )
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    sub = Subsampling(2)
    sub.build(x.shape)
    sub.coefficient.assign([1.0, 2.0, 3.0])
    sub.bias.assign([0.5, 0.0, -0.5])
    sums = x.reshape(2, 3, 2, 3, 2, 3).sum(axis=(2, 4))
    np.testing.assert_allclose(np.asarray(sub(x)), sums * [1, 2, 3] + [0.5, 0, -0.5],
                               rtol=1e-5, atol=1e-5)
    assert sub.count_params() == 6
    # output map i sees only its input maps: equal to a full convolution with zeroed kernels
    table = [[0, 1], [2], [0, 1, 2]]
    partial = PartialConv2D(kernel_size=3, connections=table)
    out = np.asarray(partial(x))
    assert out.shape == (2, 4, 4, 3) and partial.count_params() == 9 * 6 + 3
    kernel = np.zeros((3, 3, 3, 3), np.float32)
    packed = partial.kernel.numpy()[..., 0]
    column = 0
    for o, group in enumerate(table):
        for i in group:
            kernel[:, :, i, o] = packed[:, :, column]
            column += 1
    full = keras.layers.Conv2D(3, 3)
    full.build(x.shape)
    full.set_weights([kernel, partial.bias.numpy()])
    np.testing.assert_allclose(out, np.asarray(full(x)), rtol=1e-4, atol=1e-5)
    rbf = RBFOutput(units=4, seed=1)
    features = rng.standard_normal((5, 7)).astype("float32")
    scores = np.asarray(rbf(features))
    prototypes = rbf.prototypes.numpy()
    expected = -((features[:, :, None] - prototypes[None]) ** 2).sum(1)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert rbf.count_params() == 28 and not rbf.trainable_weights
    assert set(np.unique(prototypes)) == {-1.0, 1.0}
    np.testing.assert_allclose(np.asarray(lecun_tanh(np.float32(1.5))),
                               1.7159 * np.tanh(1.0), rtol=1e-6)


def test_keras_application_layers_build_from_a_spec_as_keras_own_classes(build_spec):
    from keras.src.applications.convnext import LayerScale
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {a: {shape: [3]}, b: {shape: [3]}}
          layers:
            - {id: scaled, type: LayerScale, in: a, init_values: 0.5, projection_dim: 3}
            - {id: sum, type: CustomScaleLayer, in: [scaled, b], scale: 0.25}
          outputs: {y: sum}
    """)
    assert type(model.get_layer("scaled")) is LayerScale
    assert type(model.get_layer("sum")) is CustomScaleLayer
    a, b = random_input((3,)), random_input((3,), seed=1)
    np.testing.assert_allclose(np.asarray(model({"a": a, "b": b})["y"]), 0.5 * a + 0.25 * b,
                               rtol=1e-6)
