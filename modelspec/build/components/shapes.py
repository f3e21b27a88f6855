"""Tensor shapes as Keras passes them to a layer's `build` and `compute_output_shape`."""

from __future__ import annotations

Shape = tuple[int | None, ...]  # None for a size unknown until called (the batch, a length)


def known_channels(layer: str, input_shape: Shape) -> int:
    """The channel (last) dimension of `input_shape`, which `layer` needs to know."""
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(f"{layer} needs a known channel (last) dimension, got shape "
                         f"{tuple(input_shape)}")
    return int(channels)
