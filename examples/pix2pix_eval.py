"""Scores a pix2pix run on its test split and writes a PNG of edges, generated and true images.

Loads the run (the GAN of `specs/conditional_gan.yaml`, or the generator trained alone by
`examples/pix2pix_l1_only.yaml`) with `modelspec.training.checkpoints.load_run`, runs the
generator on every edge map of the spec's own test split (at inference: dropout off, batch
normalisation's moving statistics) and compares each output with the true image:

- `l1`: mean absolute difference over all pixels and channels, beside `l1_background_only`,
  the same for an image of background colour everywhere (what a generator that learned
  nothing but the background would score);
- `shape_iou`: intersection over union of the pixels the generator paints (any channel above
  0) and the true shape's pixels;
- `colour_accuracy`: how often the channel that is brightest on average over the true
  shape's pixels is the shape's colour (red square, green circle, blue triangle).

Example:
    python examples/pix2pix_eval.py examples/runs/conditional_gan --out pix2pix.png
"""

import argparse
import json

import numpy as np


def scores(generated: np.ndarray, true: np.ndarray) -> dict:
    """The figures above for arrays (N, H, W, 3) in [-1, 1] whose background is uniform."""
    background = np.median(true.reshape(-1, true.shape[-1]), axis=0)  # most pixels
    shape = (true != background).any(axis=-1)
    painted = (generated > 0).any(axis=-1)
    union = (shape | painted).sum(axis=(1, 2))
    iou = (shape & painted).sum(axis=(1, 2)) / np.maximum(union, 1)
    inside = shape[..., None]
    mean_inside = (generated * inside).sum(axis=(1, 2)) / np.maximum(inside.sum(axis=(1, 2)), 1)
    true_inside = (true * inside).sum(axis=(1, 2)) / np.maximum(inside.sum(axis=(1, 2)), 1)
    return {"test_images": int(len(true)),
            "l1": float(np.abs(generated - true).mean()),
            "l1_background_only": float(np.abs(background[None, None, None] - true).mean()),
            "shape_iou": float(iou.mean()),
            "colour_accuracy": float((mean_inside.argmax(-1) == true_inside.argmax(-1)).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory written by `modelspec train`")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--count", type=int, default=8, help="how many examples to draw")
    args = parser.parse_args()

    from modelspec.build.compiler import model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.training.checkpoints import load_run

    spec, models, _ = load_run(args.run)
    train = spec.section("train") or {}
    if len(models) == 1:       # the generator trained alone (pix2pix_l1_only.yaml)
        (generator,) = models.values()
        bundle = build_datasets(spec, *model_io(generator))
    else:                      # the GAN: the data feeds the discriminator (edges, true image)
        generator = models[train.get("generator", "generator")]
        discriminator = models[train.get("discriminator", "discriminator")]
        bundle = build_datasets(spec, model_io(discriminator)[0], {})
    (in_name,), (out_name,) = model_io(generator)
    batches = []
    for batch in bundle.test:
        features, targets = batch if isinstance(batch, tuple) else (batch, {})
        batches.append({**features, **targets})
    edges = np.concatenate([b[in_name].numpy() for b in batches])
    true = np.concatenate([b[out_name].numpy() for b in batches])
    generated = np.asarray(generator.predict({in_name: edges}, verbose=0)[out_name])
    print(json.dumps(scores(generated, true), indent=2))

    from figure_grid import save_rows
    n = min(args.count, len(edges))
    rgb = [np.clip((images[:n] + 1.0) / 2.0, 0.0, 1.0)
           for images in (np.repeat(edges, 3, axis=-1), generated, true)]
    save_rows(list(zip(("edges", "generated", "true"), rgb)), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
