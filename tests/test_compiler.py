"""Language features compile to the intended Keras models (structure and parameter counts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from modelspec.build.compiler import build_from_spec, model_io  # noqa: E402

LENET = (Path(__file__).parent / "fixtures" / "good" / "lenet5.yaml").read_text()


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def test_lenet5_has_61706_parameters(build_spec):
    model = build_spec(LENET)
    assert model.count_params() == 61_706
    assert [layer.name for layer in model.layers] == [
        "image", "c1", "s2", "c3", "s4", "flatten", "f5", "f6", "out"]
    inputs, outputs = model_io(model)
    assert inputs == {"image": ((32, 32, 1), "float32")}
    assert outputs == {"digit": ((10,), "float32")}
    result = model({"image": np.zeros((2, 32, 32, 1), "float32")})
    assert set(result) == {"digit"} and tuple(result["digit"].shape) == (2, 10)


def test_param_overrides_change_the_model(build_spec):
    assert build_spec(LENET, num_classes=3).count_params() == 61_706 - 7 * 85


def test_resnet34_has_the_published_parameter_count(repo_root):
    model = build_from_spec(repo_root / "specs" / "resnet34.yaml", {"size": 32})
    assert _count(model.trainable_weights) == 21_797_672
    names = {layer.name for layer in model.layers}
    # readable names from block expansion: stage, copy, layer id
    assert {"stage1_0_conv1", "stage2_0_proj", "stage4_2_add"} <= names
    assert "stage1_0_proj" not in names          # `if: $project` is false in stage 1
    assert model.get_layer("stage2_0_conv1").strides == (2, 2)   # first: {stride: 2}
    assert model.get_layer("stage2_1_conv1").strides == (1, 1)


def test_chain_ids_and_in_with_several_named_inputs_and_outputs(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {a: {shape: [4]}, b: {shape: [6]}}
          layers:
            - {id: ha, type: Dense, units: 3, in: a}
            - {id: hb, type: Dense, units: 5, in: b}
            - {id: cat, type: Concatenate, in: [ha, hb]}
            - {type: Dense, units: 2}
            - {id: score, type: Dense, units: 1}
            - {id: aux, type: Dense, units: 7, in: hb}
          outputs: {score: score, aux: aux}
    """)
    inputs, outputs = model_io(model)
    assert inputs == {"a": ((4,), "float32"), "b": ((6,), "float32")}
    assert outputs == {"score": ((1,), "float32"), "aux": ((7,), "float32")}
    assert model.count_params() == (4 * 3 + 3) + (6 * 5 + 5) + (8 * 2 + 2) + (2 + 1) + (5 * 7 + 7)
    out = model({"a": np.ones((3, 4)), "b": np.ones((3, 6))})
    assert tuple(out["aux"].shape) == (3, 7)


def test_params_name_and_expression(build_spec):
    model = build_spec("""
        modelspec: 1
        params: {width: 16, depth: 2, wide: $(width * 4), rate: $(1 / 4)}
        model:
          inputs: {x: {shape: [$(width // 2)]}}
          layers:
            - {id: h, type: Dense, units: $wide}
            - {id: d, type: Dropout, rate: $rate}
            - {id: o, type: Dense, units: "$(max(depth, 3) + 2 ** depth % 3)"}
    """)
    assert model.get_layer("h").units == 64
    assert model.get_layer("d").rate == 0.25
    assert model.get_layer("o").units == 3 + 1
    assert model_io(model)[0]["x"][0] == (8,)


BLOCKS = """
modelspec: 1
blocks:
  dense_bn:
    params: {units: required, act: relu}
    layers:
      - {id: fc, type: Dense, units: $units, use_bias: false}
      - {id: bn, type: BatchNormalization}
      - {id: act, type: Activation, activation: $act}
  residual:
    inputs: [x, skip]
    params: {units: 8}
    layers:
      - {id: fc, type: Dense, units: $units, in: x}
      - {id: sum, type: Add, in: [fc, skip]}
model:
  inputs: {x: {shape: [8]}}
  layers:
    - {id: stem, block: dense_bn, units: 8}
    - {id: head, block: dense_bn, units: 4, act: tanh}
    - {id: res, block: residual, units: 4, in: [head, head.fc]}
  outputs: {y: res, features: stem.bn}
"""


def test_blocks_with_required_and_default_params_and_two_inputs(build_spec):
    model = build_spec(BLOCKS)
    assert model.get_layer("stem_act").activation.__name__ == "relu"
    assert model.get_layer("head_act").activation.__name__ == "tanh"
    assert model.get_layer("stem_fc").units == 8
    assert model.get_layer("res_fc").units == 4
    # block_id.inner_id: `stem.bn` is an output, `head.fc` feeds the residual's skip input
    add = model.get_layer("res_sum")
    assert {t.name for t in _inbound(add)} >= {"res_fc", "head_fc"}
    outputs = model_io(model)[1]
    assert outputs == {"y": ((4,), "float32"), "features": ((8,), "float32")}


def _inbound(layer):
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation for t in node.input_tensors]


def test_repeat_first_vary_and_repeated_layer_inside_repeated_block(build_spec):
    model = build_spec("""
        modelspec: 1
        blocks:
          stack:
            params: {width: required}
            layers:
              - {id: fc, type: Dense, units: $width, repeat: 2, vary: {activation: [relu, tanh]}}
        model:
          inputs: {x: {shape: [3]}}
          layers:
            - {id: mlp, type: Dense, units: 5, repeat: 3, first: {units: 7},
               vary: {use_bias: [true, false, true]}}
            - {id: st, block: stack, width: 4, repeat: 2, first: {width: 6}}
    """)
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["mlp_0", "mlp_1", "mlp_2", "st_0_fc_0", "st_0_fc_1", "st_1_fc_0",
                     "st_1_fc_1"]
    units = [model.get_layer(n).units for n in names]
    assert units == [7, 5, 5, 6, 6, 4, 4]
    assert [model.get_layer(n).use_bias for n in names[:3]] == [True, False, True]
    assert model.get_layer("st_1_fc_1").activation.__name__ == "tanh"
    assert model.get_layer("st_1_fc_0").activation.__name__ == "relu"
    # each copy reads the previous copy: a chain
    assert model.count_params() == (3 * 7 + 7) + (7 * 5) + (5 * 5 + 5) + (5 * 6 + 6) + (
        6 * 6 + 6) + (6 * 4 + 4) + (4 * 4 + 4)


def test_if_false_passes_its_input_through(build_spec):
    text = """
        modelspec: 1
        params: {dropout: true}
        model:
          inputs: {x: {shape: [3]}}
          layers:
            - {id: h, type: Dense, units: 4}
            - {id: drop, type: Dropout, rate: 0.5, if: $dropout}
            - {id: bn, type: BatchNormalization, if: $(dropout and 1 > 2)}
            - {id: out, type: Dense, units: 2, in: drop}
    """
    with_drop = build_spec(text)
    without = build_spec(text, dropout=False)
    assert [layer.name for layer in with_drop.layers] == ["x", "h", "drop", "out"]
    assert [layer.name for layer in without.layers] == ["x", "h", "out"]


SEQ2SEQ = """
modelspec: 1
params: {units: 16}
model:
  inputs: {source: {shape: [7, 5]}, target: {shape: [6, 4]}}
  layers:
    - {id: enc, type: LSTM, units: $units, return_state: true, in: source}
    - {id: dec, type: LSTM, units: $units, return_sequences: true, in: target,
       call: {initial_state: [enc.h, enc.c]}}
    - {id: probs, type: TimeDistributed, layer: {type: Dense, units: 4, activation: softmax}}
  outputs: {next_token: probs, state: enc.h}
"""


def test_seq2seq_lstm_state_ports_and_initial_state(build_spec):
    model = build_spec(SEQ2SEQ)
    assert model.count_params() == 4 * 16 * (5 + 16 + 1) + 4 * 16 * (4 + 16 + 1) + (16 * 4 + 4)
    outputs = model_io(model)[1]
    assert outputs == {"next_token": ((6, 4), "float32"), "state": ((16,), "float32")}
    dec = model.get_layer("dec")
    inbound = dec._inbound_nodes[0]
    assert len(inbound.input_tensors) == 3        # sequence + [h, c]
    x = {"source": np.random.rand(2, 7, 5), "target": np.random.rand(2, 6, 4)}
    out = model(x)
    np.testing.assert_allclose(out["next_token"].numpy().sum(-1), 1.0, rtol=1e-5)


def test_bidirectional_with_return_state_ports(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {x: {shape: [5, 3]}}
          layers:
            - {id: bi, type: Bidirectional, layer: {type: GRU, units: 4, return_state: true}}
            - {id: both, type: Concatenate, in: [bi.forward_h, bi.backward_h]}
          outputs: {y: both, seq: bi}
    """)
    assert model_io(model)[1] == {"y": ((8,), "float32"), "seq": ((8,), "float32")}
    assert model.get_layer("bi").count_params() == 2 * 3 * 4 * (3 + 4 + 2)


SIAMESE = """
modelspec: 1
model:
  inputs: {left: {shape: [10]}, right: {shape: [10]}}
  layers:
    - {id: tower, type: Dense, units: 8, activation: relu, in: left}
    - {id: tower_r, shares: tower, in: right}
    - {id: diff, type: Subtract, in: [tower, tower_r]}
    - {id: score, type: Dense, units: 1, activation: sigmoid}
"""


def test_shares_reuses_weights_in_siamese_towers(build_spec):
    model = build_spec(SIAMESE)
    assert model.count_params() == (10 * 8 + 8) + (8 + 1)   # one tower's weights, not two
    x = np.random.rand(2, 10).astype("float32")
    out = model({"left": x, "right": x})
    assert np.allclose(out["output"].numpy(), model.get_layer("score")(
        np.zeros((2, 8), "float32")).numpy())


AUTOENCODER = """
modelspec: 1
models:
  encoder:
    inputs: {image: {shape: [16]}}
    layers:
      - {type: Dense, units: 8, activation: relu}
      - {id: code, type: Dense, units: 2}
    outputs: {code: code}
  decoder:
    inputs: {code: {shape: [2]}}
    layers:
      - {type: Dense, units: 8, activation: relu}
      - {id: recon, type: Dense, units: 16, activation: sigmoid}
    outputs: {image: recon}
  autoencoder:
    inputs: {image: {shape: [16]}}
    layers:
      - {id: enc, model: encoder}
      - {id: dec, model: decoder, trainable: false}
    outputs: {reconstruction: dec}
"""


def test_models_used_as_layers_autoencoder(build_spec):
    models = build_spec(AUTOENCODER)
    assert list(models) == ["encoder", "decoder", "autoencoder"]
    enc, dec, auto = models["encoder"], models["decoder"], models["autoencoder"]
    assert enc.count_params() == (16 * 8 + 8) + (8 * 2 + 2)
    assert dec.count_params() == (2 * 8 + 8) + (8 * 16 + 16)
    assert auto.count_params() == enc.count_params() + dec.count_params()
    assert auto.get_layer("encoder") is enc          # the same model, shared weights
    assert _count(auto.trainable_weights) == enc.count_params()   # decoder frozen
    x = np.random.rand(3, 16).astype("float32")
    np.testing.assert_allclose(
        auto({"image": x})["reconstruction"].numpy(),
        dec({"code": enc({"image": x})["code"]})["image"].numpy(), rtol=1e-5, atol=1e-6)


def test_trainable_false_freezes_layers_and_blocks(build_spec):
    model = build_spec("""
        modelspec: 1
        blocks:
          pair:
            layers:
              - {id: a, type: Dense, units: 4}
              - {id: b, type: Dense, units: 4}
        model:
          inputs: {x: {shape: [4]}}
          layers:
            - {id: frozen, type: Dense, units: 4, trainable: false}
            - {id: fb, block: pair, trainable: false}
            - {id: head, type: Dense, units: 1}
    """)
    assert not model.get_layer("frozen").trainable
    assert not model.get_layer("fb_a").trainable and not model.get_layer("fb_b").trainable
    assert _count(model.trainable_weights) == 5
    assert _count(model.non_trainable_weights) == 3 * 20


def test_int32_input_with_embedding_and_lstm(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {tokens: {shape: [12], dtype: int32}}
          layers:
            - {type: Embedding, input_dim: 100, output_dim: 8, mask_zero: true}
            - {type: LSTM, units: 6}
            - {type: Dense, units: 2}
    """)
    assert model_io(model)[0] == {"tokens": ((12,), "int32")}
    assert model.count_params() == 100 * 8 + 4 * 6 * (8 + 6 + 1) + (6 * 2 + 2)
    out = model({"tokens": np.random.randint(0, 100, (2, 12)).astype("int32")})
    assert tuple(out["output"].shape) == (2, 2)


def test_multi_head_attention_gets_query_and_value_positionally(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {q: {shape: [3, 8]}, v: {shape: [5, 6]}}
          layers:
            - {id: att, type: MultiHeadAttention, num_heads: 2, key_dim: 4, in: [q, v]}
            - {id: att2, type: MultiHeadAttention, num_heads: 1, key_dim: 4, in: [q, v],
               call: {return_attention_scores: true}}
            - {id: sum, type: Add, in: [att, att2.out]}
          outputs: {y: sum, scores: att2.scores}
    """)
    outputs = model_io(model)[1]
    assert outputs["y"][0] == (3, 8)
    assert outputs["scores"][0][:2] == (1, 3)     # (heads, query steps, ...)
    att = model.get_layer("att")
    # query 8 → 2x4, key and value 6 → 2x4 each, output back to 8
    assert att.count_params() == (8 * 8 + 8) + 2 * (6 * 8 + 8) + (8 * 8 + 8)


def test_merge_layers_get_a_list(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {a: {shape: [4]}, b: {shape: [4]}}
          layers:
            - {id: add, type: Add, in: [a, b]}
            - {id: sub, type: Subtract, in: [a, b]}
            - {id: mul, type: Multiply, in: [add, sub]}
            - {id: avg, type: Average, in: [a, b, mul]}
            - {id: mx, type: Maximum, in: [avg, a]}
            - {id: mn, type: Minimum, in: [mx, b]}
            - {id: dot, type: Dot, axes: 1, in: [mn, a]}
            - {id: cat, type: Concatenate, in: [mn, dot]}
    """)
    a = np.array([[1., 2., 3., 4.]], "float32")
    b = np.array([[4., 3., 2., 1.]], "float32")
    mul = (a + b) * (a - b)
    mn = np.minimum(np.maximum((a + b + mul) / 3, a), b)
    expected = np.concatenate([mn, (mn * a).sum(1, keepdims=True)], axis=1)
    np.testing.assert_allclose(model({"a": a, "b": b})["output"].numpy(), expected, rtol=1e-6)


def test_builtin_layers_and_component_objects_from_yaml(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {x: {shape: [8, 8, 6]}}
          layers:
            - {type: LocalResponseNormalization, depth_radius: 2, bias: 2.0, alpha: 1e-4, beta: 0.75}
            - {type: Conv2D, filters: 4, kernel_size: 3,
               kernel_initializer: {type: HeNormal, seed: 1},
               kernel_regularizer: {type: L2, l2: 1e-4},
               bias_initializer: zeros, kernel_constraint: {type: MaxNorm, max_value: 2.0}}
            - {type: GradientReversal, factor: 0.5}
            - {type: GlobalAveragePooling2D}
            - {type: Dense, units: 1, kernel_regularizer: l2}
            - {type: Step, threshold: 0.0}
    """)
    conv = model.get_layer("conv2d")
    assert isinstance(conv.kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(conv.kernel_regularizer, keras.regularizers.L2)
    assert conv.kernel_regularizer.l2 == pytest.approx(1e-4)
    assert isinstance(conv.kernel_constraint, keras.constraints.MaxNorm)
    assert type(model.get_layer("local_response_normalization")).__name__ == \
        "LocalResponseNormalization"
    out = model({"x": np.random.rand(2, 8, 8, 6).astype("float32")})["output"].numpy()
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert len(model.losses) == 2     # both regularisers are active


def test_time_distributed_and_nested_wrappers(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {frames: {shape: [4, 8, 8, 1]}}
          layers:
            - {type: TimeDistributed, layer: {type: Conv2D, filters: 2, kernel_size: 3}}
            - {type: TimeDistributed, layer: {type: Flatten}}
            - {type: Bidirectional, layer: {type: LSTM, units: 3}, merge_mode: concat}
    """)
    assert model_io(model)[1] == {"output": ((6,), "float32")}
    assert model.count_params() == (9 * 2 + 2) + 2 * 4 * 3 * (72 + 3 + 1)


def test_model_is_a_plain_keras_model_that_round_trips(build_spec, tmp_path):
    model = build_spec(LENET)
    path = tmp_path / "lenet.keras"
    model.save(path)
    again = keras.models.load_model(path)
    x = {"image": np.random.rand(2, 32, 32, 1).astype("float32")}
    np.testing.assert_allclose(model(x)["digit"].numpy(), again(x)["digit"].numpy(), rtol=1e-6)


# (type, arguments as YAML flow, input shape, output shape, parameter count or None)
LAYER_CASES = [
    ("Dense", "units: 3", [4], (3,), 15),
    ("Conv1D", "filters: 2, kernel_size: 3", [8, 3], (6, 2), 20),
    ("Conv2D", "filters: 2, kernel_size: 3, padding: same", [6, 6, 3], (6, 6, 2), 56),
    ("Conv3D", "filters: 2, kernel_size: 2", [4, 4, 4, 1], (3, 3, 3, 2), 18),
    ("Conv1DTranspose", "filters: 2, kernel_size: 3", [5, 3], (7, 2), 20),
    ("Conv2DTranspose", "filters: 2, kernel_size: 2, strides: 2", [4, 4, 3], (8, 8, 2), 26),
    ("Conv3DTranspose", "filters: 1, kernel_size: 2", [3, 3, 3, 2], (4, 4, 4, 1), 17),
    ("SeparableConv1D", "filters: 4, kernel_size: 3", [8, 2], (6, 4), 6 + 8 + 4),
    ("SeparableConv2D", "filters: 4, kernel_size: 3", [6, 6, 2], (4, 4, 4), 18 + 8 + 4),
    ("DepthwiseConv1D", "kernel_size: 3, depth_multiplier: 2", [8, 2], (6, 4), 12 + 4),
    ("DepthwiseConv2D", "kernel_size: 3", [6, 6, 2], (4, 4, 2), 18 + 2),
    ("MaxPooling1D", "pool_size: 2", [8, 3], (4, 3), 0),
    ("MaxPooling2D", "pool_size: 2", [8, 8, 3], (4, 4, 3), 0),
    ("MaxPooling3D", "pool_size: 2", [4, 4, 4, 1], (2, 2, 2, 1), 0),
    ("AveragePooling1D", "pool_size: 2", [8, 3], (4, 3), 0),
    ("AveragePooling2D", "pool_size: 2, strides: 1", [4, 4, 3], (3, 3, 3), 0),
    ("AveragePooling3D", "pool_size: 2", [4, 4, 4, 1], (2, 2, 2, 1), 0),
    ("GlobalMaxPooling1D", "", [8, 3], (3,), 0),
    ("GlobalMaxPooling2D", "", [4, 4, 3], (3,), 0),
    ("GlobalMaxPooling3D", "", [2, 2, 2, 3], (3,), 0),
    ("GlobalAveragePooling1D", "", [8, 3], (3,), 0),
    ("GlobalAveragePooling2D", "keepdims: true", [4, 4, 3], (1, 1, 3), 0),
    ("GlobalAveragePooling3D", "", [2, 2, 2, 3], (3,), 0),
    ("BatchNormalization", "momentum: 0.9", [5], (5,), 10),
    ("LayerNormalization", "epsilon: 0.001", [5], (5,), 10),
    ("Dropout", "rate: 0.5", [5], (5,), 0),
    ("SpatialDropout1D", "rate: 0.5", [4, 3], (4, 3), 0),
    ("SpatialDropout2D", "rate: 0.5", [4, 4, 3], (4, 4, 3), 0),
    ("SpatialDropout3D", "rate: 0.5", [2, 2, 2, 3], (2, 2, 2, 3), 0),
    ("GaussianNoise", "stddev: 0.1", [5], (5,), 0),
    ("GaussianDropout", "rate: 0.2", [5], (5,), 0),
    ("AlphaDropout", "rate: 0.2", [5], (5,), 0),
    ("Flatten", "", [2, 3, 4], (24,), 0),
    ("Reshape", "target_shape: [3, -1]", [12], (3, 4), 0),
    ("Permute", "dims: [2, 1]", [3, 4], (4, 3), 0),
    ("RepeatVector", "n: 3", [4], (3, 4), 0),
    ("Cropping1D", "cropping: [1, 2]", [8, 3], (5, 3), 0),
    ("Cropping2D", "cropping: [[1, 1], [2, 0]]", [6, 6, 1], (4, 4, 1), 0),
    ("Cropping3D", "cropping: 1", [4, 4, 4, 1], (2, 2, 2, 1), 0),
    ("ZeroPadding1D", "padding: 2", [4, 3], (8, 3), 0),
    ("ZeroPadding2D", "padding: [1, 2]", [4, 4, 1], (6, 8, 1), 0),
    ("ZeroPadding3D", "padding: 1", [2, 2, 2, 1], (4, 4, 4, 1), 0),
    ("UpSampling1D", "size: 2", [4, 3], (8, 3), 0),
    ("UpSampling2D", "size: 2, interpolation: bilinear", [4, 4, 1], (8, 8, 1), 0),
    ("UpSampling3D", "size: 2", [2, 2, 2, 1], (4, 4, 4, 1), 0),
    ("Activation", "activation: gelu", [5], (5,), 0),
    ("ReLU", "max_value: 6.0", [5], (5,), 0),
    ("LeakyReLU", "negative_slope: 0.2", [5], (5,), 0),
    ("PReLU", "", [5], (5,), 5),
    ("ELU", "alpha: 1.0", [5], (5,), 0),
    ("Softmax", "axis: -1", [5], (5,), 0),
    ("Embedding", "input_dim: 20, output_dim: 3", [6], (6, 3), 60),
    ("SimpleRNN", "units: 4", [5, 3], (4,), 4 * (3 + 4 + 1)),
    ("LSTM", "units: 4, return_sequences: true", [5, 3], (5, 4), 4 * 4 * (3 + 4 + 1)),
    ("GRU", "units: 4, reset_after: false", [5, 3], (4,), 3 * 4 * (3 + 4 + 1)),
    ("Bidirectional", "layer: {type: SimpleRNN, units: 2}", [5, 3], (4,), 2 * 2 * (3 + 2 + 1)),
    ("TimeDistributed", "layer: {type: Dense, units: 2}", [5, 3], (5, 2), 8),
    ("Rescaling", "scale: 0.00392156862745098", [4, 4, 3], (4, 4, 3), 0),
    ("Resizing", "height: 8, width: 6", [4, 4, 3], (8, 6, 3), 0),
    ("CenterCrop", "height: 2, width: 2", [4, 4, 3], (2, 2, 3), 0),
    ("RandomFlip", "mode: horizontal", [4, 4, 3], (4, 4, 3), 0),
    ("RandomRotation", "factor: 0.1", [4, 4, 3], (4, 4, 3), 0),
    ("RandomZoom", "height_factor: 0.1", [4, 4, 3], (4, 4, 3), 0),
    ("RandomTranslation", "height_factor: 0.1, width_factor: 0.1", [4, 4, 3], (4, 4, 3), 0),
    ("RandomContrast", "factor: 0.2", [4, 4, 3], (4, 4, 3), 0),
    ("RandomCrop", "height: 3, width: 3", [4, 4, 3], (3, 3, 3), 0),
    ("Normalization", "mean: 0.5, variance: 0.25", [3], (3,), None),
    ("CategoryEncoding", "num_tokens: 5, output_mode: one_hot", [1], (5,), 0),
    ("LocalResponseNormalization", "depth_radius: 1", [4, 4, 3], (4, 4, 3), 0),
    ("GradientReversal", "factor: 1.0", [5], (5,), None),
    ("Step", "threshold: 0.5", [5], (5,), 0),
]


@pytest.mark.parametrize("layer_type,args,shape,out_shape,params", LAYER_CASES,
                         ids=[c[0] for c in LAYER_CASES])
def test_every_layer_family_builds_from_yaml(build_spec, layer_type, args, shape, out_shape,
                                             params):
    model = build_spec(f"""
        modelspec: 1
        model:
          inputs: {{x: {{shape: {shape}}}}}
          layers:
            - {{id: layer, type: {layer_type}{', ' + args if args else ''}}}
    """)
    layer = model.get_layer("layer")
    assert type(layer).__name__ == layer_type
    assert model_io(model)[1]["output"][0] == out_shape
    if params is not None:
        assert _count(layer.trainable_weights) == params


# Layers taking several tensors: (type, arguments, [input shapes], output shape)
MULTI_INPUT_CASES = [
    ("Add", "", [[4], [4]], (4,)),
    ("Subtract", "", [[4], [4]], (4,)),
    ("Multiply", "", [[4], [4], [4]], (4,)),
    ("Average", "", [[4], [4]], (4,)),
    ("Maximum", "", [[4], [4]], (4,)),
    ("Minimum", "", [[4], [4]], (4,)),
    ("Concatenate", "axis: -1", [[4], [2]], (6,)),
    ("Dot", "axes: 1, normalize: true", [[4], [4]], (1,)),
    ("Attention", "use_scale: true", [[3, 4], [5, 4]], (3, 4)),
    ("AdditiveAttention", "", [[3, 4], [5, 4]], (3, 4)),
    ("MultiHeadAttention", "num_heads: 2, key_dim: 2", [[3, 4], [5, 6]], (3, 4)),
]


@pytest.mark.parametrize("layer_type,args,shapes,out_shape", MULTI_INPUT_CASES,
                         ids=[c[0] for c in MULTI_INPUT_CASES])
def test_layers_with_several_inputs_take_them_in_keras_order(build_spec, layer_type, args,
                                                             shapes, out_shape):
    names = [f"x{i}" for i in range(len(shapes))]
    inputs = ", ".join(f"{n}: {{shape: {s}}}" for n, s in zip(names, shapes))
    model = build_spec(f"""
        modelspec: 1
        model:
          inputs: {{{inputs}}}
          layers:
            - {{id: layer, type: {layer_type}, in: [{', '.join(names)}]{', ' + args if args else ''}}}
    """)
    assert model_io(model)[1]["output"][0] == out_shape
    data = {n: np.random.rand(2, *s).astype("float32") for n, s in zip(names, shapes)}
    assert tuple(model(data)["output"].shape) == (2, *out_shape)


def test_keras_application_as_a_frozen_layer(build_spec):
    model = build_spec("""
        modelspec: 1
        model:
          inputs: {image: {shape: [32, 32, 3]}}
          layers:
            - {id: base, type: Application, name: MobileNetV2, weights: null,
               include_top: false, trainable: false}
            - {type: GlobalAveragePooling2D}
            - {id: head, type: Dense, units: 2}
    """)
    base = model.get_layer("base")             # named after its id, not the application
    assert isinstance(base, keras.Model) and not base.trainable
    assert _count(model.trainable_weights) == 1280 * 2 + 2
    assert model_io(model)[1]["output"][0] == (2,)


def test_size_estimate_of_a_grouped_convolution_counts_each_group_once():
    """ConvNeXt's depthwise convolution is a Conv2D with groups = filters: 7·7·1·2048 + 2048
    weights, not 7·7·2048·2048 (ConvNeXtXLarge was refused by the size guard)."""
    from modelspec.build.compiler import estimate_parameters
    args = {"filters": 2048, "kernel_size": 7, "groups": 2048}
    assert estimate_parameters("Conv2D", args, (None, 7, 7, 2048)) == 49 * 2048 + 2048
    assert estimate_parameters("Conv2D", {"filters": 8, "kernel_size": 3},
                               (None, 5, 5, 4)) == 9 * 4 * 8 + 8
