"""Writes a PNG of a denoising autoencoder's work on test digits: clean, noisy, reconstructed.

Loads the run with `modelspec.training.checkpoints.load_run`, takes the first test images of the
spec's own test split, corrupts them with Gaussian noise of the spec's `noise` parameter
(clipped to [0, 1]), and reconstructs them with the trained model (at inference its
GaussianNoise layer is inactive). Prints the mean squared error to the clean images of the
noisy inputs and of the reconstructions.

Example:
    python examples/denoise_grid.py examples/runs/denoising_autoencoder --out grid.png
"""

import argparse
import json

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory written by `modelspec train`")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--count", type=int, default=10, help="how many digits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from modelspec.build.compiler import model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.training.checkpoints import load_run

    spec, models, _ = load_run(args.run)
    (model,) = models.values()
    inputs, outputs = model_io(model)
    (in_name,) = inputs
    (out_name,) = outputs
    bundle = build_datasets(spec, inputs, outputs)
    clean = np.concatenate([x[in_name].numpy() for x, _ in bundle.test])
    sigma = float(spec.params.get("noise", 0.3))
    rng = np.random.default_rng(args.seed)
    noisy = np.clip(clean + rng.normal(0.0, sigma, clean.shape), 0.0, 1.0).astype(np.float32)
    recon = np.asarray(model.predict({in_name: noisy}, verbose=0)[out_name])
    report = {"test_images": int(len(clean)), "noise_stddev": sigma,
              "mse_noisy_vs_clean": float(np.mean((noisy - clean) ** 2)),
              "mse_reconstruction_vs_clean": float(np.mean((recon - clean) ** 2))}
    print(json.dumps(report, indent=2))

    from figure_grid import save_rows
    n = args.count
    save_rows([(title, images[:n, ..., 0]) for title, images in
               (("clean", clean), ("noisy", noisy), ("denoised", recon))],
              args.out, cmap="gray", vmin=0.0, vmax=1.0)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
