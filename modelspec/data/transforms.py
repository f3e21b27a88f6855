"""Transforms of `data.transforms`: field-wise tensor operations, most of them Keras layers.

Every field-wise transform is written once, for a batch (`Step.batched`); the pipeline runs it
per example (on a batch of one) before caching, and export replays the same steps on raw
serving inputs (`modelspec.data.preprocessing`). Transforms with statistics (normalize, lookup,
tokenize) are adapted on the training split only. `noise` acts on the training split only.
Restructuring transforms (sequences, skipgrams, cbow) turn a token stream into new examples;
`filter` drops examples (`tf.data.Dataset.filter`) and `map_values` maps values through a
`tf.lookup.StaticHashTable`.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from modelspec.data.registry import TRANSFORM_FIELDS
from modelspec.data.step import Step, Tensors
from modelspec.data.transforms_select import Filter, MapValues


def _float(x: tf.Tensor) -> tf.Tensor:
    return x if x.dtype.is_floating else tf.cast(x, tf.float32)


class Cast(Step):
    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        x, dtype = t[self.inputs[0]], self.config["dtype"]
        if dtype == "string":
            return x if x.dtype == tf.string else tf.strings.as_string(x)
        if x.dtype == tf.string:
            return tf.strings.to_number(x, out_type=tf.as_dtype(dtype))
        return tf.cast(x, dtype)


class Layered(Step):
    """A transform that is one Keras preprocessing layer applied to `field`."""

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        return self.layer(t[self.inputs[0]])


class Rescale(Layered):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.layer = keras.layers.Rescaling(cfg["scale"], cfg.get("offset", 0.0))

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        return self.layer(_float(t[self.inputs[0]]))


class Normalize(Layered):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.layer = keras.layers.Normalization(axis=cfg.get("axis", -1))

    def adapt(self, dataset: tf.data.Dataset) -> None:
        if "axis" not in self.config and dataset.element_spec[self.inputs[0]].shape.rank == 0:
            self.layer = keras.layers.Normalization(axis=None)  # one mean for a scalar field
        column = self._column(dataset, tf.float32)
        if column.element_spec.shape.rank == 1:  # Keras would batch a rank-1 dataset again
            column = column.map(lambda v: tf.reshape(v, [-1, 1]))
        self.layer.adapt(column)

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        x = _float(t[self.inputs[0]])
        return tf.reshape(self.layer(x), tf.shape(x))


class Resize(Layered):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.layer = keras.layers.Resizing(cfg["height"], cfg["width"],
                                           interpolation=cfg.get("interpolation", "bilinear"))

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        return self.layer(_float(t[self.inputs[0]]))


class Pad(Step):
    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        x, pad = t[self.inputs[0]], self.config["padding"]
        if isinstance(pad, int):  # every spatial side of (batch, ..., channels)
            pad = [[pad, pad]] * (x.shape.rank - 2) + [[0, 0]]
        return tf.pad(x, [[0, 0]] + [list(p) for p in pad],
                      constant_values=tf.cast(self.config.get("value", 0), x.dtype))


class Reshape(Step):
    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        return tf.reshape(t[self.inputs[0]], [-1, *self.config["shape"]])


class OneHot(Step):
    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        return tf.one_hot(tf.cast(t[self.inputs[0]], tf.int32), self.config["depth"])


class Lookup(Layered):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.adapted = "vocabulary" in cfg

    def _make(self, is_string: bool) -> None:
        cls = keras.layers.StringLookup if is_string else keras.layers.IntegerLookup
        args = {"output_mode": self.config.get("output_mode", "int"),
                "num_oov_indices": self.config.get("num_oov_indices", 1)}
        if "max_tokens" in self.config:
            args["max_tokens"] = self.config["max_tokens"]
        if "vocabulary" in self.config:
            vocab = self.config["vocabulary"]
            args["vocabulary"] = [str(v) for v in vocab] if is_string else [int(v) for v in vocab]
        self.layer = cls(**args)

    def adapt(self, dataset: tf.data.Dataset) -> None:
        is_string = dataset.element_spec[self.inputs[0]].dtype == tf.string
        self._make(is_string)
        if not self.adapted:
            column = self._column(dataset, None if is_string else tf.int64)
            self.layer.adapt(column)

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        x = t[self.inputs[0]]
        if x.dtype != tf.string and x.dtype != tf.int64:
            x = tf.cast(x, tf.int64)
        return self.layer(x)


class Hash(Layered):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.layer = keras.layers.Hashing(cfg["num_bins"], output_mode=cfg.get("output_mode",
                                                                              "int"))


class Cross(Step):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.layer = keras.layers.HashedCrossing(cfg["num_bins"],
                                                 output_mode=cfg.get("output_mode", "int"))

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        xs = tuple(t[f] if t[f].dtype in (tf.string, tf.int64) else tf.cast(t[f], tf.int64)
                   for f in self.inputs)
        return self.layer(xs)


class Stack(Step):
    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        parts = [tf.reshape(_float(t[f]), [tf.shape(t[f])[0], -1]) for f in self.inputs]
        return tf.concat([tf.cast(p, tf.float32) for p in parts], axis=-1)


class Replace(Step):
    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        return tf.strings.regex_replace(t[self.inputs[0]], self.config["pattern"],
                                        self.config.get("rewrite", ""))


class Tokenize(Layered):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        args = {k: cfg[k] for k in ("max_tokens", "output_sequence_length", "vocabulary")
                if k in cfg}
        self.layer = keras.layers.TextVectorization(
            standardize=cfg.get("standardize", "lower_and_strip_punctuation"),
            split=cfg.get("split", "whitespace"), output_mode="int", **args)

    def adapt(self, dataset: tf.data.Dataset) -> None:
        if "vocabulary" not in self.config:
            self.layer.adapt(self._column(dataset))


class Noise(Step):
    random = True

    def batched(self, t: Tensors, training: bool = False) -> tf.Tensor:
        x = _float(t[self.inputs[0]])
        if not training:
            return x
        if self.config.get("stddev"):
            x = x + tf.random.normal(tf.shape(x), stddev=self.config["stddev"], dtype=x.dtype)
        if self.config.get("dropout"):
            x = x * tf.cast(tf.random.uniform(tf.shape(x)) >= self.config["dropout"], x.dtype)
        if self.config.get("clip", False):
            x = tf.clip_by_value(x, 0.0, 1.0)
        return x


class Restructure(Step):
    """Turns a stream of token-id sequences (field) into new examples."""

    restructuring = True

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        names = TRANSFORM_FIELDS[self.kind]
        self.outputs = [cfg.get(n, n) for n in names]
        self.random = self.kind != "sequences"

    def _windows(self, dataset: tf.data.Dataset, size: int, shift: int,
                 chunk: int = 1 << 16) -> tf.data.Dataset:
        """Windows of `size` tokens every `shift` tokens, framed in large vectorised chunks.

        The token stream is cut into chunks of `chunk` tokens (a multiple of `shift`), and
        each chunk is framed with `tf.signal.frame`; windows that would straddle two chunks
        are dropped (at most `size // shift` per chunk).
        """
        chunk = max(shift, chunk // shift * shift)
        stream = dataset.map(lambda e: tf.reshape(tf.cast(e[self.inputs[0]], tf.int64), [-1]))
        frames = stream.unbatch().batch(chunk).map(
            lambda x: tf.signal.frame(x, size, shift), num_parallel_calls=tf.data.AUTOTUNE)
        return frames.unbatch()

    def restructure(self, dataset: tf.data.Dataset, training: bool = False,
                    counting: bool = False) -> tf.data.Dataset:
        """Returns the new examples; `counting` skips the 1:1 negative sampling (for counts)."""
        cfg = self.config
        if self.kind == "sequences":
            length = cfg["length"]
            windows = self._windows(dataset, length + 1, cfg.get("shift", length))
            inp, tgt = self.outputs
            return windows.map(lambda w: {inp: w[:-1], tgt: w[1:]},
                               num_parallel_calls=tf.data.AUTOTUNE)
        w, k, vocab = cfg.get("window_size", 2), cfg.get("negative_samples", 4), \
            cfg["vocabulary_size"]
        windows = self._windows(dataset, 2 * w + 1, 1)
        windows = windows.filter(lambda v: v[w] > 1)  # drop padding / out-of-vocabulary centres
        target_name, context_name, label_name = self.outputs

        def negatives(true: tf.Tensor) -> tf.Tensor:
            sampled, _, _ = tf.random.log_uniform_candidate_sampler(
                true_classes=tf.reshape(true, [1, 1]), num_true=1, num_sampled=k, unique=True,
                range_max=vocab)
            return sampled

        label = tf.constant([1.0] + [0.0] * k)
        if self.kind == "skipgrams":
            def pairs(v: tf.Tensor) -> tf.data.Dataset:
                ctx = tf.concat([v[:w], v[w + 1:]], 0)
                return tf.data.Dataset.from_tensor_slices(
                    {"t": tf.fill(tf.shape(ctx), v[w]), "c": ctx})
            ds = windows.flat_map(pairs).filter(lambda p: p["c"] > 1)
            if counting:
                return ds
            return ds.map(lambda p: {target_name: p["t"],
                                     context_name: tf.concat([[p["c"]], negatives(p["c"])], 0),
                                     label_name: label},
                          num_parallel_calls=tf.data.AUTOTUNE)
        if counting:
            return windows
        return windows.map(lambda v: {context_name: tf.concat([v[:w], v[w + 1:]], 0),
                                      target_name: tf.concat([[v[w]], negatives(v[w])], 0),
                                      label_name: label}, num_parallel_calls=tf.data.AUTOTUNE)


TRANSFORM_CLASSES = {"cast": Cast, "rescale": Rescale, "normalize": Normalize, "resize": Resize,
                     "pad": Pad, "reshape": Reshape, "one_hot": OneHot, "lookup": Lookup,
                     "hashing": Hash, "cross": Cross, "stack": Stack, "replace": Replace,
                     "tokenize": Tokenize, "noise": Noise, "sequences": Restructure,
                     "skipgrams": Restructure, "cbow": Restructure, "filter": Filter,
                     "map_values": MapValues}


def make_step(cfg: dict[str, Any]) -> Step:
    """Returns the `Step` of one resolved `data.transforms` entry."""
    return TRANSFORM_CLASSES[cfg["type"]](cfg)
