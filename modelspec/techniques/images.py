"""Reading images into a model's input space and writing results, atomically.

Pixels are mapped linearly between `[0, 255]` on disk and the model's input range
`(low, high)` (e.g. `[0, 1]` after a `rescale: 1/255` transform).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from modelspec.errors import UsageError
from modelspec.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from modelspec.techniques.target import Range

FORMATS = (".png", ".jpg", ".jpeg")


def check_output_path(path: str | Path, option: str = "--out") -> Path:
    """Raises UsageError unless `path` names a .png or .jpg file."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"{option} {path}: unknown image format '{path.suffix}' — expected "
                         "a .png or .jpg file name")
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory — expected an image file name")
    return path


def read_image(path: str | Path, shape: tuple[int, ...], value_range: Range,
               option: str = "--image") -> np.ndarray:
    """Reads a PNG/JPEG/GIF/BMP file as one model input `(height, width, channels)`.

    The image is resized (bilinear) to the model's size, converted to its channels and
    mapped from [0, 255] to `value_range`.

    Raises:
        UsageError: A missing or undecodable file.
    """
    import tensorflow as tf
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{option} {path}: no such file")
    try:
        decoded = tf.io.decode_image(path.read_bytes(), channels=0, expand_animations=False)
    except Exception as err:
        raise UsageError(f"{option} {path}: cannot decode it as an image — expected a PNG, "
                         f"JPEG, GIF or BMP file ({type(err).__name__})") from None
    height, width, channels = shape
    image = tf.cast(decoded, tf.float32)
    if image.shape[-1] == 4:
        image = image[..., :3]
    if channels == 1 and image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
    elif channels == 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    image = tf.image.resize(image, (height, width), antialias=True)
    low, high = value_range
    return (np.clip(image.numpy(), 0, 255) / 255.0 * (high - low) + low).astype(np.float32)


def to_uint8(image: np.ndarray, value_range: Range) -> np.ndarray:
    """Maps a model-space image back to uint8 pixels `(height, width, channels)`."""
    low, high = value_range
    pixels = (np.asarray(image, np.float32) - low) / (high - low) * 255.0
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def write_image(path: str | Path, image: np.ndarray, value_range: Range) -> Path:
    """Writes one model-space image as PNG or JPEG (by suffix), atomically."""
    import tensorflow as tf
    path = check_output_path(path)
    pixels = to_uint8(image, value_range)
    if path.suffix.lower() == ".png":
        data = tf.io.encode_png(pixels).numpy()
    else:
        data = tf.io.encode_jpeg(pixels, quality=95).numpy()
    return atomic_write_bytes(path, data)


def write_figure(path: str | Path, figure: Figure) -> Path:
    """Renders a `matplotlib.figure.Figure` to `path` (PNG/JPEG by suffix) atomically."""
    path = check_output_path(path)
    buffer = io.BytesIO()
    fmt = "png" if path.suffix.lower() == ".png" else "jpeg"
    figure.savefig(buffer, format=fmt, dpi=100, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def show(axis: Axes, image: np.ndarray, value_range: Range, title: str = "") -> None:
    """Draws a model-space image on a matplotlib axis (grey for one channel)."""
    pixels = to_uint8(image, value_range)
    if pixels.shape[-1] == 1:
        axis.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        axis.imshow(pixels)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=8)


MIN_PICTURE_SIDE = 256  # a 28×28 or 32×32 synthesis is too small to look at


def write_labelled_image(path: str | Path, image: np.ndarray, value_range: Range,
                         caption: str) -> Path:
    """Writes a model-space image scaled up (nearest neighbour, a whole factor, to at least
    `MIN_PICTURE_SIDE` pixels, so that each model pixel stays a crisp square) with `caption`
    printed in a white band beneath it (Pillow's default font), as PNG or JPEG, atomically."""
    from PIL import Image, ImageDraw, ImageFont
    path = check_output_path(path)
    pixels = to_uint8(image, value_range)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    factor = max(1, -(-MIN_PICTURE_SIDE // max(picture.size)))
    picture = picture.resize((picture.width * factor, picture.height * factor),
                             Image.Resampling.NEAREST).convert("RGB")
    font = ImageFont.load_default(size=max(12, picture.width // 18))
    band = int(getattr(font, "size", 12) * 1.8)
    canvas = Image.new("RGB", (picture.width, picture.height + band), "white")
    canvas.paste(picture, (0, 0))
    ImageDraw.Draw(canvas).text((picture.width // 2, picture.height + band // 2), caption,
                                fill="black", font=font, anchor="mm")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
    return atomic_write_bytes(path, buffer.getvalue())
