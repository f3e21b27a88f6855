"""Generated data for the lecture examples, made with vectorised NumPy from a seed.

Every generator returns row-aligned arrays (fields listed in `registry.GENERATED`) and is
deterministic for a given `seed` (the source's own `seed`, else `data.seed`, else 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelspec.data.registry import GENERATED_VOCAB
from modelspec.data.source_base import ArraySource
from modelspec.errors import Collector

Arrays = dict[str, np.ndarray]  # field → array, one row per example
Rng = np.random.Generator


def _two_d(kind: str, n: int, noise: float, rng: Rng) -> Arrays:
    x: np.ndarray  # float32 points, then float64 with the noise
    if kind == "xor":
        x = rng.integers(0, 2, size=(n, 2)).astype(np.float32)
        label = (x[:, 0] != x[:, 1]).astype(np.int64)
        x = x + rng.normal(0, noise, x.shape)
    elif kind == "circles":
        label = rng.integers(0, 2, n)
        angle = rng.uniform(0, 2 * np.pi, n)
        radius = np.where(label == 1, 0.5, 1.0)
        x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
        x = x + rng.normal(0, noise, x.shape)
    else:  # moons
        label = rng.integers(0, 2, n)
        t = rng.uniform(0, np.pi, n)
        x = np.where(label[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1),
                     np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
        x = x + rng.normal(0, noise, x.shape)
    return {"x": x.astype(np.float32), "label": label.astype(np.int64)}


def _surface(kind: str, n: int, low: float, high: float, rng: Rng) -> Arrays:
    x = rng.uniform(low, high, size=(n, 2))
    if kind == "rosenbrock":
        z = 100 * (x[:, 1] - x[:, 0] ** 2) ** 2 + (1 - x[:, 0]) ** 2
    else:
        z = np.sin(x[:, 0]) * np.sin(x[:, 1])
    return {"x": x.astype(np.float32), "z": z[:, None].astype(np.float32)}


def _credit(rows: str) -> Arrays:
    if rows == "lecture":  # Peter, Julia, Stephen, Mary, Kim, John (lecture P)
        x = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1], [0, 1, 1], [1, 0, 0]])
    else:
        x = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    x = x.astype(np.float32)
    return {"x": x, "label": (x.sum(1) >= 2).astype(np.int64), "employed": x[:, 0],
            "owns_house": x[:, 1], "balanced_account": x[:, 2]}


def _shape_masks(n: int, size: int, rng: Rng,
                 kinds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masks (n, size, size) of one random square/circle/triangle each, and their kinds."""
    yy, xx = np.mgrid[0:size, 0:size]
    kinds = rng.integers(0, 3, n) if kinds is None else kinds
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    r = rng.uniform(size * 0.12, size * 0.3, n).astype(np.float32)[:, None, None]
    cy = rng.uniform(r[:, 0, 0], size - r[:, 0, 0]).astype(np.float32)[:, None, None]
    cx = rng.uniform(r[:, 0, 0], size - r[:, 0, 0]).astype(np.float32)[:, None, None]
    square = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    circle = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    triangle = (yy - cy <= r) & (yy - cy >= -r) & (np.abs(xx - cx) <= (yy - cy + r) / 2)
    k = kinds[:, None, None]
    return np.where(k == 0, square, np.where(k == 1, circle, triangle)), kinds


def _shapes(n: int, size: int, max_shapes: int, rng: Rng) -> Arrays:
    """Images with 1..max_shapes shapes; mask = class id + 1 per pixel (0 background)."""
    image = rng.uniform(0, 0.1, (n, size, size, 1)).astype(np.float32)
    mask = np.zeros((n, size, size), np.uint8)
    labels = np.zeros((n, 3), np.float32)
    count = rng.integers(1, max_shapes + 1, n)
    first: Any = None
    for slot in range(max_shapes):
        shape, kinds = _shape_masks(n, size, rng)
        present = (slot < count)[:, None, None] & shape
        mask = np.where(present, (kinds[:, None, None] + 1).astype(np.uint8), mask)
        image = np.where(present[..., None],
                         rng.uniform(0.5, 1.0, (n, 1, 1, 1)).astype(np.float32), image)
        labels[np.arange(n), kinds] = np.maximum(labels[np.arange(n), kinds], slot < count)
        first = kinds if first is None else first
    return {"image": image, "mask": mask[..., None],
            "label": first.astype(np.int64), "labels": labels}


def _moving_squares(n: int, size: int, frames: int, rng: Rng) -> Arrays:
    """Clips (frames, size, size, 1) of a square moving right/left/down/up (label 0..3)."""
    label = rng.integers(0, 4, n)
    side = max(2, size // 5)
    dy = np.array([0, 0, 1, -1])[label]
    dx = np.array([1, -1, 0, 0])[label]
    start_y = rng.integers(frames, size - side - frames, n) if size > 2 * frames + side \
        else np.full(n, (size - side) // 2)
    start_x = rng.integers(frames, size - side - frames, n) if size > 2 * frames + side \
        else np.full(n, (size - side) // 2)
    t = np.arange(frames)
    y0 = (start_y[:, None] + dy[:, None] * t)[:, :, None, None]
    x0 = (start_x[:, None] + dx[:, None] * t)[:, :, None, None]
    yy, xx = np.mgrid[0:size, 0:size]
    clip = (yy >= y0) & (yy < y0 + side) & (xx >= x0) & (xx < x0 + side)
    return {"clip": clip[..., None].astype(np.float32), "label": label.astype(np.int64)}


def _seq(kind: str, n: int, length: int, vocab: int, digits: int, rng: Rng) -> Arrays:
    """Token sequences: 0 = padding, 1 = start; `decoder_input` is `target` shifted right."""
    if kind == "seq_add":
        chars = GENERATED_VOCAB["seq_add"]
        a = rng.integers(0, 10 ** digits, n)
        b = rng.integers(0, 10 ** digits, n)
        width_in, width_out = 2 * digits + 1, digits + 1
        src = [f"{x:>{digits}}+{y:>{digits}}".replace(" ", "0") for x, y in zip(a, b)]
        tgt = [f"{x + y:0{width_out}d}" for x, y in zip(a, b)]
        table = {c: i + 2 for i, c in enumerate(chars)}
        source = np.array([[table[c] for c in s] for s in src], np.int64).reshape(n, width_in)
        target = np.array([[table[c] for c in s] for s in tgt], np.int64).reshape(n, width_out)
    else:
        source = rng.integers(2, vocab, (n, length))
        target = source[:, ::-1] if kind == "seq_reverse" else np.sort(source, axis=1)
    decoder_input = np.concatenate([np.ones((n, 1), np.int64), target[:, :-1]], axis=1)
    return {"source": source.astype(np.int64), "decoder_input": decoder_input.astype(np.int64),
            "target": target.astype(np.int64)}


def _pix2pix(n: int, size: int, rng: Rng) -> Arrays:
    """Edge maps of a shape (input, -1/+1) and the filled, coloured shape (target).

    The target's background is -0.8 and the shape is red, green or blue by kind (square,
    circle, triangle): its channel 0.8, the others -0.8. The values stay inside (-1, 1), the
    open range of the generator's tanh, which never reaches ±1: with targets at exactly ±1 the
    discriminator of `specs/conditional_gan.yaml` won within a few epochs (D loss 0.006) and
    the generator collapsed to a black image; at ±0.8 the two stay balanced (D loss 1.17) and
    the generator learns every shape and colour in 20 epochs (examples/README.md).
    """
    mask, kinds = _shape_masks(n, size, rng)
    inner = mask.copy()
    inner[:, 1:-1, 1:-1] = (mask[:, :-2, 1:-1] & mask[:, 2:, 1:-1] & mask[:, 1:-1, :-2]
                            & mask[:, 1:-1, 2:] & mask[:, 1:-1, 1:-1])
    edges = mask & ~inner
    colour = (np.eye(3)[kinds] * 1.6 - 0.8)[:, None, None, :]
    image = np.where(mask[..., None], colour.astype(np.float32), np.float32(-0.8))
    return {"edges": (edges[..., None] * 2.0 - 1.0).astype(np.float32),
            "image": image.astype(np.float32)}


def _digit_domains(rng: Rng) -> Arrays:
    """Digits (8, 8, 1) in [0, 1]: domain 0 clean, domain 1 blended with natural-image patches.

    An MNIST → MNIST-M shift (Ganin et al. 2016) at the scale of scikit-learn's 8×8 digits:
    the 1,797 digits are split at random into two disjoint halves, 899 source digits kept as
    they are (domain 0) and 898 target digits (domain 1) each replaced by |digit − patch|,
    where the patch is a random 8s×8s crop (s ∈ {2, 3, 4}) of a grayscale scikit-learn sample
    photograph (`china.jpg`, `flower.jpg`; MNIST-M crops BSDS500 photographs), average-pooled
    to 8×8 and randomly flipped. The rows of both domains are shuffled together, so any slice
    such as `all[:80%]` holds both. A classifier trained on source digits only gets about
    half of the target digits right (the shift is partial, neither trivial nor hopeless).
    """
    from sklearn.datasets import load_digits, load_sample_images
    bunch = load_digits()
    digits = bunch.images / 16.0
    n = len(digits)
    order = rng.permutation(n)
    source, target = order[:(n + 1) // 2], order[(n + 1) // 2:]
    photos = [image.mean(-1) / 255.0 for image in load_sample_images().images]
    patches = np.empty((len(target), 8, 8))
    for i, (photo, s) in enumerate(zip(rng.integers(0, len(photos), len(target)),
                                       rng.integers(2, 5, len(target)))):
        photo = photos[photo]
        top = rng.integers(0, photo.shape[0] - 8 * s + 1)
        left = rng.integers(0, photo.shape[1] - 8 * s + 1)
        patch = photo[top:top + 8 * s, left:left + 8 * s].reshape(8, s, 8, s).mean((1, 3))
        patches[i] = patch[::rng.choice([-1, 1]), ::rng.choice([-1, 1])]
    image = np.concatenate([digits[source], np.abs(digits[target] - patches)])
    label = np.concatenate([bunch.target[source], bunch.target[target]])
    domain = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    rows = rng.permutation(n)
    return {"image": image[rows, ..., None].astype(np.float32),
            "label": label[rows].astype(np.int64), "domain": domain[rows].astype(np.int64)}


def _chunked(make: Callable[[int], Arrays], n: int, cells: int) -> Arrays:
    """Calls `make(rows)` on chunks of rows (about 4M pixels each) into preallocated arrays."""
    step = max(1, 4_000_000 // max(1, cells))
    out: Any = None
    for start in range(0, n, step):
        part = make(min(step, n - start))
        if out is None:
            out = {k: np.empty((n, *v.shape[1:]), v.dtype) for k, v in part.items()}
        for k, v in part.items():
            out[k][start:start + len(v)] = v
    return out


def generate(name: str, args: Mapping[str, Any], seed: int = 0) -> Arrays:
    """Generates the arrays of data set `name`.

    Args:
        name: One of `registry.GENERATED`.
        args: Its arguments (n, noise, size, ...); missing ones take documented defaults.
        seed: Random seed.

    Returns:
        dict field → array, one row per example.

    Example:
    >>> generate("xor", {"n": 4}, seed=0)["x"].shape
    (4, 2)
    """
    rng = np.random.default_rng(seed)
    n = args.get("n", 1000)
    if name in ("xor", "circles", "moons"):
        return _two_d(name, n, args.get("noise", 0.1), rng)
    if name in ("rosenbrock", "sin_sin"):
        low, high = (-2.0, 2.0) if name == "rosenbrock" else (-np.pi, np.pi)
        return _surface(name, n, args.get("low", low), args.get("high", high), rng)
    if name == "credit":
        return _credit(args.get("rows", "all"))
    size = args.get("size", 16 if name == "moving_squares" else 32)
    if name == "shapes":
        return _chunked(lambda m: _shapes(m, size, args.get("max_shapes", 1), rng), n,
                        size * size * args.get("max_shapes", 1))
    if name == "moving_squares":
        frames = args.get("frames", 8)
        return _chunked(lambda m: _moving_squares(m, size, frames, rng), n,
                        size * size * frames)
    if name in ("seq_reverse", "seq_sort", "seq_add"):
        return _seq(name, n, args.get("length", 8), args.get("vocab_size", 12),
                    args.get("digits", 2), rng)
    if name == "pix2pix":
        return _chunked(lambda m: _pix2pix(m, size, rng), n, size * size * 3)
    if name == "digit_domains":
        return _digit_domains(rng)
    raise KeyError(name)


def load_generated(src: Mapping[str, Any], base_dir: Path, errs: Collector,
                   default_seed: int = 0) -> ArraySource:
    """The `generated` source: arrays from `generate`, as one split `all`."""
    args = {k: v for k, v in src.items() if k not in ("type", "name", "seed")}
    arrays = generate(src["name"], args, src.get("seed", default_seed))
    meta = {"vocabulary": ["", "<start>", *GENERATED_VOCAB["seq_add"]]} \
        if src["name"] == "seq_add" else {}
    return ArraySource({"all": arrays}, meta=meta)
