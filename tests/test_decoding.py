"""Greedy autoregressive decoding (modelspec.decoding): exactness, end tokens, evaluate, export."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from modelspec.decoding import GenerateConfig, greedy_decode

SPEC = """
modelspec: 1
name: {name}
params: {{length: 6, vocab_size: 8, embedding: 16, units: 64}}
model:
  inputs:
    source: {{shape: [$length], dtype: int64}}
    decoder_input: {{shape: [$length], dtype: int64}}
  layers:
    - {{id: enc_embed, in: source, type: Embedding, input_dim: $vocab_size, output_dim: $embedding}}
    - {{id: encoder, type: LSTM, units: $units, return_sequences: true, return_state: true}}
    - {{id: dec_embed, in: decoder_input, type: Embedding, input_dim: $vocab_size,
        output_dim: $embedding}}
    - {{id: decoder, type: LSTM, units: $units, return_sequences: true,
        call: {{initial_state: [encoder.h, encoder.c]}}}}
{attention}    - {{id: logits, type: Dense, units: $vocab_size}}
  outputs: {{target: logits}}
data:
  source: {{type: generated, name: {task}, n: 3000, length: $length, vocab_size: $vocab_size,
            seed: 0}}
  features: {{source: source, decoder_input: decoder_input}}
  targets: {{target: target}}
  splits: {{train: "all[:85%]", test: "all[85%:]"}}
  batch_size: 64
train:
  epochs: {epochs}
  seed: 0
  optimizer: {{type: Adam, learning_rate: 0.005}}
  loss: {{type: SparseCategoricalCrossentropy, from_logits: true}}
  metrics: [accuracy]
export:
  generate: {{feed: decoder_input, output: target, start_token: 1}}
"""
ATTENTION = """\
    - {id: attention, type: Attention, in: [decoder, encoder.out]}
    - {id: combine, type: Concatenate, in: [attention, decoder]}
    - {id: attentional, type: Dense, units: $units, activation: tanh}
"""
CONFIG = GenerateConfig(feed="decoder_input", output="target", start_token=1)


def _spec_text(task: str, attention: bool, epochs: int = 1) -> str:
    return textwrap.dedent(SPEC).format(name=f"s2s_{task}", task=task, epochs=epochs,
                                        attention=ATTENTION if attention else "")


@pytest.fixture(scope="module")
def untrained():
    from modelspec.build.compiler import build_from_spec
    return build_from_spec(_spec_text("seq_sort", attention=True))


def _python_loop(model, source: np.ndarray, start: int) -> np.ndarray:
    """The reference: call the model once per step, feeding back the argmax by hand."""
    fed = np.zeros_like(source)
    fed[:, 0] = start
    out = np.zeros_like(source)
    for t in range(source.shape[1]):
        logits = np.asarray(model({"source": source, "decoder_input": fed},
                                  training=False)["target"])
        out[:, t] = logits[:, t].argmax(-1)
        if t + 1 < source.shape[1]:
            fed[:, t + 1] = out[:, t]
    return out


def test_greedy_decode_equals_feeding_each_output_back_by_hand(untrained):
    source = np.random.default_rng(0).integers(2, 8, (5, 6)).astype(np.int64)
    decoded = greedy_decode(untrained, {"source": source}, CONFIG)
    np.testing.assert_array_equal(np.asarray(decoded["tokens"]),
                                  _python_loop(untrained, source, start=1))
    np.testing.assert_array_equal(np.asarray(decoded["lengths"]), [6] * 5)


def test_end_token_stops_a_sequence_and_pads_the_rest(untrained):
    source = np.random.default_rng(1).integers(2, 8, (16, 6)).astype(np.int64)
    free = np.asarray(greedy_decode(untrained, {"source": source}, CONFIG)["tokens"])
    end = int(free[0, 2])
    config = GenerateConfig("decoder_input", "target", start_token=1, end_token=end,
                            pad_token=0)
    result = greedy_decode(untrained, {"source": source}, config)
    tokens, lengths = np.asarray(result["tokens"]), np.asarray(result["lengths"])
    for row_free, row, length in zip(free, tokens, lengths, strict=True):
        hits = np.flatnonzero(row_free == end)
        expected = hits[0] + 1 if hits.size else 6
        assert length == expected
        np.testing.assert_array_equal(row[:expected], row_free[:expected])
        assert (row[expected:] == 0).all()
    assert lengths[0] <= 3


def test_max_length_beyond_the_fed_input_is_refused(untrained):
    with pytest.raises(ValueError, match="max_length 9 exceeds the length 6"):
        greedy_decode(untrained, {"source": np.zeros((1, 6), np.int64)},
                      GenerateConfig("decoder_input", "target", 1, max_length=9))


@pytest.mark.parametrize("task,attention,epochs,floor", [
    ("seq_reverse", False, 8, 0.75), ("seq_sort", True, 6, 0.75)])
def test_evaluate_and_export_decode_without_teacher_forcing(tmp_path, task, attention,
                                                            epochs, floor):
    import tensorflow as tf

    from modelspec.exporting.api import export_spec_or_run
    from modelspec.training.evaluate import evaluate_run
    from modelspec.training.run import train_spec
    spec = tmp_path / f"{task}.yaml"
    spec.write_text(_spec_text(task, attention, epochs))
    result = train_spec(spec, output=tmp_path / "run", verbose=0)
    metrics = evaluate_run(tmp_path / "run")
    assert {"test_accuracy", "test_generate_accuracy",
            "test_generate_sequence_accuracy"} <= set(metrics)
    assert metrics["test_generate_accuracy"] >= floor
    assert metrics["test_generate_sequence_accuracy"] <= metrics["test_generate_accuracy"]
    # feeding back its own mistakes can only lose against being fed the truth, on average
    assert metrics["test_generate_accuracy"] <= metrics["test_accuracy"] + 0.02
    version = export_spec_or_run(tmp_path / "run", tmp_path / "exported")["model"]
    loaded = tf.saved_model.load(str(version))
    assert set(loaded.signatures["generate"].structured_input_signature[1]) == {"source"}
    source = np.random.default_rng(2).integers(2, 8, (4, 6)).astype(np.int64)
    served = loaded.signatures["generate"](source=tf.constant(source))
    (model,) = result.models.values()
    np.testing.assert_array_equal(served["tokens"].numpy(), _python_loop(model, source, 1))
    if task == "seq_sort":
        sorted_rows = np.sort(source, axis=1)
        assert (served["tokens"].numpy() == sorted_rows).mean() >= floor


@pytest.mark.parametrize("name", ["seq2seq", "seq2seq_attention"])
def test_shipped_seq2seq_specs_export_a_generate_signature(repo_root, tmp_path, name):
    import tensorflow as tf

    from modelspec.exporting.api import export_spec_or_run
    version = export_spec_or_run(repo_root / "specs" / f"{name}.yaml", tmp_path,
                                 preprocessing=None)["model"]
    signature = tf.saved_model.load(str(version)).signatures["generate"]
    tokens = signature(source=tf.constant(np.full((2, 8), 3, np.int64)))["tokens"]
    assert tokens.shape == (2, 8) and tokens.dtype == tf.int64


def test_generate_names_are_checked_at_their_line(spec_problems):
    problems = spec_problems(_spec_text("seq_sort", attention=False).replace(
        "feed: decoder_input", "feed: decoder_inptu"))
    assert len(problems) == 1
    assert "export.generate.feed: unknown input 'decoder_inptu'" in problems[0]
    assert "did you mean 'decoder_input'" in problems[0]
