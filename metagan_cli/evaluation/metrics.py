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
- ``prototype_predict``: nearest-prototype classification.

``REGISTRY`` names every metric once (its function, title, direction and description);
the protocol, the report and the plots all read it, so adding a metric is one
``register(Metric(...))``.  Interval arithmetic lives in ``statistics``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


# ---- the registry ---------------------------------------------------------------------

# how a value compares; ``loss`` turns it into "lower is better" for paired verdicts
DIRECTIONS = {
    "lower": ("lower is better", lambda x: x),
    "higher": ("higher is better", lambda x: -x),
    "one": ("closer to 1 is better", lambda x: np.abs(x - 1.0)),
    "up_to_one": ("higher is better up to 1; above 1 is no better", lambda x: np.maximum(1.0 - x, 0.0)),
}


@dataclass(frozen=True)
class Read:
    """What one method's generated images at one budget, for one support set, offer a
    metric: evaluator features of the generated images, the class's unseen real
    images, the support shots and K unseen images; the held-out prototypes with the
    target's index; the images themselves and the reference classifier's verdict."""
    generated: np.ndarray
    real: np.ndarray
    support: np.ndarray
    unseen: np.ndarray
    prototypes: np.ndarray
    target: int
    images: np.ndarray
    reference_hits: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    direction: str                          # a key of DIRECTIONS
    description: str
    measure: Callable[[Read], float] | None = None   # None: computed by its own stage

    @property
    def better(self) -> str:
        return DIRECTIONS[self.direction][0]

    def loss(self, values):
        """Lower is better, whatever the direction (for paired comparisons)."""
        return DIRECTIONS[self.direction][1](np.asarray(values, np.float64))


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.direction not in DIRECTIONS:
        raise ValueError(f"metric {metric.name}: direction must be one of {', '.join(DIRECTIONS)}")
    REGISTRY[metric.name] = metric
    return metric


def generation_metrics(with_reference: bool) -> list[Metric]:
    """The metrics measured on every (method, budget, support set) read-off."""
    return [m for m in REGISTRY.values() if m.measure is not None
            and (with_reference or m.name != "recognisability_reference")]


def describe(name: str) -> Metric:
    """The registry entry of ``name``; accuracy metrics are named by their stage."""
    if name in REGISTRY:
        return REGISTRY[name]
    if name.startswith("accuracy_"):
        ways = name[len("accuracy_"):]
        return Metric(name, f"{ways} K-shot accuracy", "higher",
                      f"{ways} K-shot nearest-prototype classification accuracy of real query images "
                      "among the held-out classes; prototypes from the K shots, plus M generated "
                      "images per class for a generator method")
    if name.startswith("low_data_k"):
        return Metric(name, f"low-data accuracy, k = {name[len('low_data_k'):]}", "higher",
                      "accuracy of a classifier trained from scratch on pixels")
    raise KeyError(name)


register(Metric("kid", "KID (evaluator features)", "lower",
                "unbiased squared MMD, cubic polynomial kernel, between generated images and the "
                "class's real images not in the support set (0 = same distribution; can be slightly "
                "negative)", lambda r: kid(r.generated, r.real)))
register(Metric("fid", "FID (evaluator features)", "lower",
                "Frechet distance between Gaussians fitted to the same two feature sets; biased upwards "
                "for small sets, compare only at equal sample counts", lambda r: fid(r.generated, r.real)))
register(Metric("recognisability", "recognisability (nearest prototype)", "higher",
                "fraction of generated images whose nearest class prototype among all held-out classes "
                "is their target class (prototypes: mean features of real held-out images; the target's "
                "excludes the shots)",
                lambda r: float(np.mean(prototype_predict(r.generated, r.prototypes) == r.target))))
register(Metric("recognisability_reference", "recognisability (reference classifier)", "higher",
                "fraction assigned to the target class by the reference classifier trained on all "
                "classes, for evaluation only",
                lambda r: float(np.mean(r.reference_hits(r.images)))))
register(Metric("diversity", "diversity ratio", "one",
                "mean pairwise feature distance of generated images / that of the class's real images "
                "(1 = as varied as real images, 0 = a single image)",
                lambda r: diversity_ratio(r.generated, r.real)))
register(Metric("memorisation", "memorisation ratio", "up_to_one",
                "mean distance to the nearest support shot / mean distance to the nearest of K unseen "
                "real images of the class (0 = copies of the shots; about 1 = no closer to the shots "
                "than to unseen images, the ideal; above 1 is no better)",
                lambda r: memorisation_ratio(r.generated, r.support, r.unseen)))
