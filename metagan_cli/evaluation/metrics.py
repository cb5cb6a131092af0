"""Few-shot generation metrics on feature vectors (pure numpy; no I/O).

Every function takes features ``[n, d]`` from metagan's evaluator network (not
Inception): the numbers are comparable only between evals with the same evaluator.

- ``kid``: unbiased squared MMD with the cubic polynomial kernel of Binkowski et al.
  (2018), k(x, y) = (x.y / d + 1)^3. Unbiased, so it can be slightly negative and it
  stays meaningful with a few dozen images (the primary distribution metric here).
- ``fid``: the Frechet distance between Gaussians fitted to both sets. Biased upwards
  for small sets; compare it only at equal sample counts.
- ``diversity_ratio``: mean pairwise distance of generated features over that of real
  features of the class (1 = as spread as real images, 0 = one image repeated).
- ``memorisation_ratio``: mean distance of each generated image to its nearest support
  shot over its mean distance to the nearest of an equally large set of held-out real
  images of the class (0 = copies the shots, about 1 = no closer to the shots than to
  unseen images of the class).
- ``prototype_predict`` / ``mean_ci95``: nearest-prototype classification and the 95%
  confidence interval of a mean over episodes.
"""
from __future__ import annotations

import math

import numpy as np


def _as64(x) -> np.ndarray:
    return np.asarray(x, np.float64)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = _as64(x), _as64(y)
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between feature sets ``x`` [m, d] and ``y`` [n, d] (m, n >= 2)."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("kid needs at least two feature vectors in each set")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fid(x: np.ndarray, y: np.ndarray) -> float:
    """||mu_x - mu_y||^2 + tr(Cx + Cy - 2 (Cx^1/2 Cy Cx^1/2)^1/2); needs >= 2 vectors each.

    The trace of the matrix square root is taken through a symmetric eigen-
    decomposition, which is stable for the singular covariances of small sets."""
    x, y = _as64(x), _as64(y)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("fid needs at least two feature vectors in each set")
    mu_x, mu_y = x.mean(0), y.mean(0)
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = _sqrt_psd(cx)
    middle = np.linalg.eigvalsh((root @ cy @ root + (root @ cy @ root).T) / 2)
    value = ((mu_x - mu_y) ** 2).sum() + np.trace(cx) + np.trace(cy) - 2 * np.sqrt(np.clip(middle, 0, None)).sum()
    return float(max(value, 0.0))


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = _as64(x), _as64(y)
    sq = (x ** 2).sum(1)[:, None] + (y ** 2).sum(1)[None, :] - 2 * x @ y.T
    return np.sqrt(np.clip(sq, 0, None))


def mean_pairwise_distance(x: np.ndarray) -> float:
    n = len(x)
    if n < 2:
        return 0.0
    d = pairwise_distances(x, x)
    return float((d.sum() - np.trace(d)) / (n * (n - 1)))


def diversity_ratio(generated: np.ndarray, real: np.ndarray) -> float:
    """Spread of generated features relative to the spread of the class's real ones."""
    return mean_pairwise_distance(generated) / max(mean_pairwise_distance(real), 1e-12)


def memorisation_ratio(generated: np.ndarray, support: np.ndarray, unseen: np.ndarray) -> float:
    """mean nearest-support distance / mean nearest-unseen distance, where ``unseen`` is
    a set of held-out real images of the class as large as the support set (so both
    minima are over the same number of candidates)."""
    to_support = pairwise_distances(generated, support).min(1).mean()
    to_unseen = pairwise_distances(generated, unseen).min(1).mean()
    return float(to_support / max(to_unseen, 1e-12))


def prototype_predict(features: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Index of the nearest prototype (Euclidean) for every feature vector."""
    return pairwise_distances(features, prototypes).argmin(1)


def mean_ci95(values) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (normal approximation,
    1.96 standard errors; 0 for fewer than two values)."""
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, 0.0
    return mean, float(1.96 * values.std(ddof=1) / math.sqrt(len(values)))
