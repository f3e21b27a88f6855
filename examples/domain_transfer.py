"""Lecture T's other two transfer-learning methods, measured on the DANN spec's digit domains.

Lecture T, "Transfer Learning": *instance transfer* ("reweight instances of target data
according to source", importance sampling) and *feature transfer* by Transfer Component
Analysis (Pan, Tsang, Kwok & Yang, "Domain Adaptation via Transfer Component Analysis", IEEE
TNN 2011). Both are shown against the same classifier trained on the source domain alone:

- source only: multinomial logistic regression on the 64 source pixels;
- instance re-weighting: a domain classifier estimates p(target | x); each source example is
  weighted by p(target | x) / p(source | x) (the density ratio, by Bayes' rule), then the same
  label classifier is trained with those weights;
- TCA: a linear kernel K over source and target examples, the MMD matrix L, the centring
  matrix H; the transfer components are the top m eigenvectors of (K L K + μI)⁻¹ K H K, and
  the label classifier is trained on the source examples' coordinates along them.

The data is `generate("digit_domains")` (clean 8×8 digits → digits blended with photograph
patches, the spec `dann.yaml`'s data); target labels are used for the accuracy only.
scikit-learn provides the classifiers; TCA's eigenproblem is numpy's `eig`.

Usage:
    python examples/domain_transfer.py [--components 20] [--mu 1.0] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np


def domains(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(source x, source y, target x, target y), x flattened to 64 pixels."""
    from modelspec.data.generated import generate
    data = generate("digit_domains", {}, seed=seed)
    x = data["image"].reshape(len(data["image"]), -1)
    source = data["domain"] == 0
    return x[source], data["label"][source], x[~source], data["label"][~source]


def classifier():
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(max_iter=2000, C=1.0)


def importance_weights(xs: np.ndarray, xt: np.ndarray) -> np.ndarray:
    """p(target | x) / p(source | x) for the source examples, from a domain classifier,
    scaled by the domain sizes and normalised to mean 1."""
    from sklearn.linear_model import LogisticRegression
    domain = LogisticRegression(max_iter=2000, C=0.1).fit(
        np.vstack([xs, xt]), np.r_[np.zeros(len(xs)), np.ones(len(xt))])
    p = np.clip(domain.predict_proba(xs)[:, 1], 1e-3, 1 - 1e-3)
    weights = p / (1 - p) * len(xs) / len(xt)
    return weights / weights.mean()


def tca(xs: np.ndarray, xt: np.ndarray, components: int, mu: float) -> tuple[np.ndarray, ...]:
    """Source and target coordinates along `components` transfer components (linear kernel)."""
    x = np.vstack([xs, xt])
    n, ns, nt = len(x), len(xs), len(xt)
    kernel = x @ x.T
    e = np.r_[np.full(ns, 1.0 / ns), np.full(nt, -1.0 / nt)][:, None]
    mmd = e @ e.T
    centring = np.eye(n) - np.full((n, n), 1.0 / n)
    matrix = np.linalg.solve(kernel @ mmd @ kernel + mu * np.eye(n), kernel @ centring @ kernel)
    values, vectors = np.linalg.eig(matrix)
    top = np.argsort(-values.real)[:components]
    projected = kernel @ vectors[:, top].real
    return projected[:ns], projected[ns:]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--mu", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    xs, ys, xt, yt = domains(args.seed)
    base = classifier().fit(xs, ys).score(xt, yt)
    weights = importance_weights(xs, xt)
    weighted = classifier().fit(xs, ys, sample_weight=weights).score(xt, yt)
    zs, zt = tca(xs, xt, args.components, args.mu)
    scale = zs.std(0) + 1e-12
    transferred = classifier().fit(zs / scale, ys).score(zt / scale, yt)
    print(f"{len(xs)} source, {len(xt)} target digits (seed {args.seed}); target accuracy:")
    print(f"  source only              {base:.4f}")
    print(f"  instance re-weighting    {weighted:.4f}   (weights: mean 1, "
          f"max {weights.max():.2f}, effective sample size "
          f"{weights.sum() ** 2 / (weights ** 2).sum():.0f})")
    print(f"  TCA, {args.components} components, μ={args.mu:g}  {transferred:.4f}")


if __name__ == "__main__":
    main()
