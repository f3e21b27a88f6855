"""Lecture T's transfer learning without a network: instance re-weighting and TCA.

Lecture T, "Transfer Learning": *instance transfer* ("reweight instances of target data
according to source", importance sampling) and *feature transfer* by Transfer Component
Analysis (Pan, Tsang, Kwok & Yang, "Domain Adaptation via Transfer Component Analysis", IEEE
TNN 2011), each against the same classifier trained on the source domain alone:

- source only: multinomial logistic regression on the source examples' features;
- instance re-weighting: a domain classifier estimates p(target | x); each source example is
  weighted by p(target | x) / p(source | x) · n_s / n_t (the density ratio, by Bayes' rule),
  normalised to mean 1, and the same label classifier is trained with those weights;
- TCA: a linear kernel K over source and target examples, the MMD matrix L and the centring
  matrix H; the m transfer components W solve max tr(Wᵀ K H K W) s.t. Wᵀ (K L K + μI) W = I,
  the generalised symmetric eigenproblem K H K w = λ (K L K + μI) w; the label classifier
  is trained on the source examples' coordinates K W (standardised).

Which library does what: scikit-learn's `LogisticRegression` is the domain and the label
classifier (a well-kept, exactly reproducible convex solver); SciPy's `linalg.eigh` solves
TCA's generalised eigenproblem (both matrices symmetric, the right one positive definite);
the kernel, MMD and centring matrices are plain NumPy. Target labels only score the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Domains:
    """Source and target examples: features (n, d) and integer labels (n,)."""

    source_x: np.ndarray
    source_y: np.ndarray
    target_x: np.ndarray
    target_y: np.ndarray


@dataclass(frozen=True)
class TransferResult:
    """Target-domain accuracies of the three methods, and facts about the weights."""

    source_only: float
    reweighted: float
    tca: float
    max_weight: float
    effective_sample_size: float
    components: int
    mu: float

    def as_dict(self) -> dict[str, float]:
        return {"source_only": self.source_only, "reweighted": self.reweighted,
                "tca": self.tca, "max_weight": self.max_weight,
                "effective_sample_size": self.effective_sample_size,
                "components": self.components, "mu": self.mu}


def split_domains(x: np.ndarray, y: np.ndarray, domain: np.ndarray) -> Domains:
    """Rows with domain 0 are the source, every other value the target; x is flattened."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y, domain = np.asarray(y).reshape(-1), np.asarray(domain).reshape(-1)
    source = domain == 0
    if source.all() or not source.any():
        raise ValueError("the domain field must mark source rows with 0 and target rows "
                         "with another value; one of the two is empty")
    return Domains(x[source], y[source], x[~source], y[~source])


def _classifier(c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(max_iter=2000, C=c)


def importance_weights(xs: np.ndarray, xt: np.ndarray) -> np.ndarray:
    """p(target | x) / p(source | x) · n_s / n_t for the source rows, mean 1."""
    domain = _classifier(0.1).fit(np.vstack([xs, xt]), np.r_[np.zeros(len(xs)), np.ones(len(xt))])
    p = np.clip(domain.predict_proba(xs)[:, 1], 1e-3, 1 - 1e-3)
    weights = p / (1 - p) * len(xs) / len(xt)
    return weights / weights.mean()


def tca(xs: np.ndarray, xt: np.ndarray, components: int,
        mu: float) -> tuple[np.ndarray, np.ndarray]:
    """Source and target coordinates along `components` transfer components (linear kernel)."""
    from scipy.linalg import eigh
    x = np.vstack([xs, xt])
    n, ns, nt = len(x), len(xs), len(xt)
    kernel = x @ x.T
    e = np.r_[np.full(ns, 1.0 / ns), np.full(nt, -1.0 / nt)][:, None]
    centring = np.eye(n) - np.full((n, n), 1.0 / n)
    left = kernel @ centring @ kernel
    right = kernel @ (e @ e.T) @ kernel + mu * np.eye(n)
    _, vectors = eigh((left + left.T) / 2, (right + right.T) / 2,
                      subset_by_index=[n - components, n - 1])
    projected = kernel @ vectors[:, ::-1]
    return projected[:ns], projected[ns:]


def compare(domains: Domains, components: int = 20, mu: float = 1.0) -> TransferResult:
    """Trains the three label classifiers on the source domain; scores them on the target."""
    xs, ys, xt, yt = domains.source_x, domains.source_y, domains.target_x, domains.target_y
    base = float(_classifier().fit(xs, ys).score(xt, yt))
    weights = importance_weights(xs, xt)
    weighted = float(_classifier().fit(xs, ys, sample_weight=weights).score(xt, yt))
    zs, zt = tca(xs, xt, components, mu)
    scale = zs.std(0) + 1e-12
    transferred = float(_classifier().fit(zs / scale, ys).score(zt / scale, yt))
    return TransferResult(base, weighted, transferred, float(weights.max()),
                          float(weights.sum() ** 2 / (weights ** 2).sum()), components, mu)
