"""Closed registries: layer names, origins, arguments, input conventions, output ports."""

from __future__ import annotations

import pytest

from modelspec.errors import SpecError
from modelspec.lang import catalog, registry

LECTURE_LAYERS = """
Dense Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose SeparableConv1D
SeparableConv2D DepthwiseConv1D DepthwiseConv2D MaxPooling1D MaxPooling2D MaxPooling3D
AveragePooling1D AveragePooling2D AveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D
GlobalMaxPooling3D GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
BatchNormalization LayerNormalization Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D
GaussianNoise GaussianDropout AlphaDropout Flatten Reshape Permute RepeatVector Cropping1D
Cropping2D Cropping3D ZeroPadding1D ZeroPadding2D ZeroPadding3D UpSampling1D UpSampling2D
UpSampling3D Add Subtract Multiply Average Maximum Minimum Concatenate Dot Activation ReLU
LeakyReLU PReLU ELU Softmax Embedding SimpleRNN LSTM GRU Bidirectional TimeDistributed Attention
AdditiveAttention MultiHeadAttention Rescaling Normalization Resizing CenterCrop RandomFlip
RandomRotation RandomZoom RandomTranslation RandomContrast RandomCrop TextVectorization
StringLookup IntegerLookup CategoryEncoding Hashing Discretization
LocalResponseNormalization GradientReversal Step Application
""".split()


def test_every_lecture_layer_is_registered():
    names = set(registry.layer_names())
    assert set(LECTURE_LAYERS) <= names


def test_unsafe_layers_are_not_registered():
    names = set(registry.layer_names())
    assert not {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "Layer",
                "InputLayer"} & names


def test_origins():
    assert registry.layer_origin("Dense") == "keras"
    assert registry.layer_origin("GradientReversal") == "builtin"
    assert registry.layer_origin("Application") == "application"


def test_layer_arguments_include_required_markers():
    assert registry.layer_arguments("Dense")["units"] == catalog.REQUIRED
    assert registry.layer_arguments("Conv2D")["padding"] == "valid"
    assert registry.layer_arguments("Step") == {"threshold": 0.0, "dtype": None}
    assert registry.layer_arguments("Application")["name"] == catalog.REQUIRED


def test_call_arguments_exclude_input_tensors():
    assert "training" in registry.layer_call_arguments("Dropout")
    mha = registry.layer_call_arguments("MultiHeadAttention")
    assert "query" not in mha and "value" not in mha
    assert {"key", "attention_mask", "return_attention_scores"} <= set(mha)
    assert "initial_state" in registry.layer_call_arguments("LSTM")


@pytest.mark.parametrize("name,convention", [
    ("Add", "list"), ("Concatenate", "list"), ("Dot", "list"), ("Attention", "list"),
    ("MultiHeadAttention", "positional"), ("Dense", "single"), ("LSTM", "single")])
def test_input_conventions_follow_keras_call_signatures(name, convention):
    assert registry.input_convention(name) == convention


def test_output_ports():
    assert registry.output_ports("LSTM", {"units": 4, "return_state": True}) == ["out", "h", "c"]
    assert registry.output_ports("GRU", {"units": 4, "return_state": True}) == ["out", "h"]
    assert registry.output_ports("LSTM", {"units": 4}) is None
    assert registry.output_ports("Dense", {"units": 4}) is None
    assert registry.output_ports(
        "Bidirectional", {"layer": {"type": "LSTM", "units": 2, "return_state": True}}) == [
        "out", "forward_h", "forward_c", "backward_h", "backward_c"]
    assert registry.output_ports("MultiHeadAttention", {}, {"return_attention_scores": True}) \
        == ["out", "scores"]


LENET_LIKE = "modelspec: 1\nmodel:\n  inputs: {x: {shape: [2]}}\n  layers:\n" \
    "    - {type: Dense, units: 2}\n"


def test_register_python_layer_extends_the_closed_registry():
    keras = pytest.importorskip("keras")
    from modelspec import register_layer
    from modelspec.build.compiler import build_from_spec
    from modelspec.lang.schema import document as schema

    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    from modelspec.lang.checks import load_and_check
    load_and_check(LENET_LIKE)       # validators are built (and cached) before registering
    try:
        register_layer("TestScale", Scale)
        assert registry.layer_origin("TestScale") == "python"
        assert registry.layer_arguments("TestScale") == {"factor": 2.0}
        assert "TestScale" in schema.document_schema()["$defs"]["typed_layer"]["properties"][
            "type"]["enum"]
        model = build_from_spec("modelspec: 1\nmodel:\n  inputs: {x: {shape: [2]}}\n"
                                "  layers:\n    - {id: s, type: TestScale, factor: 3.0}\n")
        assert model.get_layer("s").factor == 3.0
        with pytest.raises(ValueError, match="already registered"):
            register_layer("Dense", Scale)
        with pytest.raises(ValueError, match="inputs"):
            register_layer("TestScale2", Scale, inputs="several")
    finally:
        registry.unregister_python_layer("TestScale")
    with pytest.raises(SpecError, match="unknown layer type 'TestScale'"):
        load_and_check("modelspec: 1\nmodel:\n  inputs: {x: {shape: [2]}}\n"
                       "  layers:\n    - {id: s, type: TestScale}\n")
