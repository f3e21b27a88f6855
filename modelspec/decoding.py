"""Greedy autoregressive decoding of any teacher-forced decoder model.

A sequence-to-sequence spec trains its decoder with teacher forcing: the model reads the
target shifted right (`decoder_input`: `<start>`, y1, ..., y(n-1)) and predicts y1..yn at every
position at once. At inference the decoder has no target to read: it is fed its own previous
output (lecture T: "Decoder: has no input (inputs are from outputs of previous step)").

`greedy_decode` does that for any such model, whatever its layers (LSTM, GRU, attention,
Transformer decoder): it keeps a buffer of the tokens generated so far, starting with
`start_token`; at step t it runs the model on that buffer and writes the argmax at position t
into position t+1. This is exact for every causal decoder (whose output at position t depends
on positions ≤ t only), which is what teacher forcing assumes anyway; it is the scheme Keras's
own Transformer translation example uses (`decode_sequence` in
keras-io/examples/nlp/neural_machine_translation_with_transformer.py). It costs one model call
per step over the whole buffer (O(L²) for recurrent decoders, which could carry their state),
in exchange for needing nothing from the spec beyond the names below. The loop is a
`tf.while_loop` so that it is traced once and exported inside the SavedModel (`generate`
signature, `modelspec.exporting.signatures`), and it stops early once every sequence has produced
`end_token`.

Spec:
```yaml
export:
  generate:
    feed: decoder_input    # the model input that receives the tokens generated so far
    output: target         # the output whose argmax is the next token (logits or probabilities)
    start_token: 1         # the first token of the fed sequence
    end_token: 2           # optional: a sequence stops after it; later positions are pad_token
    pad_token: 0           # fills the buffer beyond the current step (default 0)
    max_length: 8          # default: the length of the `feed` input
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENERATE = "generate"


@dataclass(frozen=True)
class GenerateConfig:
    """How to decode a teacher-forced model autoregressively (the spec's `export.generate`)."""

    feed: str
    output: str
    start_token: int
    end_token: int | None = None
    pad_token: int = 0
    max_length: int | None = None

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> GenerateConfig | None:
        """The configuration in a resolved `export.generate` mapping, or None without one."""
        if not section:
            return None
        return cls(feed=str(section["feed"]), output=str(section["output"]),
                   start_token=int(section["start_token"]),
                   end_token=None if section.get("end_token") is None
                   else int(section["end_token"]),
                   pad_token=int(section.get("pad_token", 0)),
                   max_length=None if section.get("max_length") is None
                   else int(section["max_length"]))


def spec_generate_config(spec: Any) -> GenerateConfig | None:
    """The `export.generate` configuration of a `CheckedSpec`, or None."""
    export = spec.section("export") or {}
    return GenerateConfig.from_section(export.get("generate")) if isinstance(export, dict) \
        else None


def buffer_length(model: Any, config: GenerateConfig) -> int:
    """The width of the token buffer: the `feed` input's length, else `max_length`.

    Raises:
        ValueError: The feed input is not a sequence of tokens, or its length and
            `max_length` are both unknown, or `max_length` exceeds a fixed input length.
    """
    from modelspec.build.compiler import model_io
    inputs, outputs = model_io(model)
    if config.feed not in inputs:
        raise ValueError(f"generate.feed: '{config.feed}' is not an input of the model "
                         f"(inputs: {', '.join(sorted(inputs))})")
    if config.output not in outputs:
        raise ValueError(f"generate.output: '{config.output}' is not an output of the model "
                         f"(outputs: {', '.join(sorted(outputs))})")
    shape = inputs[config.feed][0]
    if len(shape) != 1:
        raise ValueError(f"generate.feed: input '{config.feed}' has shape {list(shape)}; "
                         "expected one token per position, shape [length]")
    fixed = shape[0]
    if fixed is None and config.max_length is None:
        raise ValueError(f"generate.max_length is needed: input '{config.feed}' has no "
                         "fixed length")
    if fixed is not None and config.max_length is not None and config.max_length > fixed:
        raise ValueError(f"generate.max_length {config.max_length} exceeds the length "
                         f"{fixed} of input '{config.feed}'")
    length = fixed if fixed is not None else config.max_length
    assert length is not None  # one of the two, checked above
    return int(length)


def greedy_decode(model: Any, features: Mapping[str, Any], config: GenerateConfig
                  ) -> dict[str, Any]:
    """Decodes a batch greedily, feeding each step's prediction back into `config.feed`.

    Args:
        model: A modelspec (dict in, dict out) Keras model trained with teacher forcing.
        features: The model's other inputs (e.g. `source`), batched; `config.feed` is
            ignored when present.
        config: Feed / output names and tokens.

    Returns:
        `tokens`: int64 [batch, max_length], the generated sequence (`pad_token` after an
        `end_token`); `lengths`: int64 [batch], the number of tokens up to and including the
        end token (max_length for a sequence that never ended).
    """
    import tensorflow as tf

    from modelspec.build.compiler import call_model, model_io
    width = buffer_length(model, config)
    steps = min(width, config.max_length or width)
    dtype = tf.as_dtype(model_io(model)[0][config.feed][1])
    others = {k: tf.convert_to_tensor(v) for k, v in features.items() if k != config.feed}
    batch = tf.shape(next(iter(others.values())))[0] if others else tf.constant(1)
    pad = tf.cast(config.pad_token, tf.int64)
    end = tf.constant(-1 if config.end_token is None else config.end_token, tf.int64)
    positions = tf.range(width)

    def step(t: tf.Tensor, fed: tf.Tensor, tokens: tf.Tensor, lengths: tf.Tensor,
             finished: tf.Tensor) -> tuple[tf.Tensor, ...]:
        logits = call_model(model, {**others, config.feed: tf.cast(fed, dtype)})[config.output]
        chosen = tf.argmax(tf.gather(logits, t, axis=1), axis=-1, output_type=tf.int64)
        chosen = tf.where(finished, pad, chosen)
        at_t = tf.equal(positions, t)[None, :]
        tokens = tf.where(at_t, chosen[:, None], tokens)
        fed = tf.where(tf.equal(positions, t + 1)[None, :], chosen[:, None], fed)
        lengths = tf.where(finished, lengths, lengths + 1)
        finished = tf.logical_or(finished, tf.equal(chosen, end))
        return t + 1, fed, tokens, lengths, finished

    fed = tf.where(tf.equal(positions, 0)[None, :], tf.cast(config.start_token, tf.int64),
                   tf.fill([batch, width], pad))
    state = (tf.constant(0), fed, tf.fill([batch, width], pad),
             tf.zeros([batch], tf.int64), tf.zeros([batch], tf.bool))
    _, _, tokens, lengths, _ = tf.while_loop(
        lambda t, fed, tokens, lengths, finished:
            tf.logical_and(t < steps, tf.logical_not(tf.reduce_all(finished))),
        step, state)
    return {"tokens": tokens[:, :steps], "lengths": lengths}


@dataclass
class GenerationScore:
    """Accuracy of greedily generated sequences against their targets."""

    tokens: int = 0
    correct_tokens: int = 0
    sequences: int = 0
    correct_sequences: int = 0

    def metrics(self, prefix: str) -> dict[str, float]:
        """`<prefix>_generate_accuracy` (per token) and `..._sequence_accuracy` (exact)."""
        return {f"{prefix}_generate_accuracy": self.correct_tokens / max(self.tokens, 1),
                f"{prefix}_generate_sequence_accuracy":
                    self.correct_sequences / max(self.sequences, 1)}


def score_generation(model: Any, batches: Iterable[Any], config: GenerateConfig
                     ) -> GenerationScore:
    """Decodes every batch of a `(features, targets[, weights])` dataset without teacher forcing.

    Each target position is compared with the generated token at the same position, over
    the target's length (a generated sequence that is too short counts as wrong there), so
    the token accuracy is comparable with Keras's teacher-forced `accuracy` of that output.
    """
    import numpy as np
    import tensorflow as tf
    decode = tf.function(lambda features: greedy_decode(model, features, config))
    score = GenerationScore()
    for batch in batches:
        features, targets = batch[0], batch[1]
        target = np.asarray(targets[config.output]).astype(np.int64)
        if target.ndim == 3:  # one-hot targets
            target = target.argmax(-1)
        tokens = decode({k: v for k, v in features.items() if k != config.feed})["tokens"]
        tokens = np.asarray(tokens)[:, :target.shape[1]]
        if tokens.shape[1] < target.shape[1]:
            filler = np.full((len(tokens), target.shape[1] - tokens.shape[1]), -1)
            tokens = np.concatenate([tokens, filler], axis=1)
        equal = tokens == target
        score.tokens += equal.size
        score.correct_tokens += int(equal.sum())
        score.sequences += len(equal)
        score.correct_sequences += int(equal.all(axis=1).sum())
    return score
