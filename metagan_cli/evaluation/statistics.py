"""Intervals and paired comparisons for eval figures (pure numpy / scipy; no I/O).

- ``interval``: a mean and the half-width of its two-sided 95% confidence interval
  with Student's t quantile for the real n (t(1) = 12.71 for two values, not 1.96).
- ``paired``: the mean of the differences a_i - b_i between two methods measured on the
  same units (support sets, latents and keys shared: common random numbers), its t
  interval and the two-sided paired t-test's p-value.
- ``holm``: Holm's step-down adjustment of a family of p-values (controls the
  family-wise error rate without assuming independence).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


def t_quantile(n: int, level: float = LEVEL) -> float:
    """The two-sided t quantile for a mean of ``n`` values (n - 1 degrees of freedom)."""
    return float(stats.t.ppf(0.5 + level / 2, n - 1))


@dataclass(frozen=True)
class Interval:
    mean: float
    half_width: float | None     # None for fewer than two values: no interval
    n: int


def interval(values, level: float = LEVEL) -> Interval:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return Interval(float("nan"), None, 0)
    mean = float(values.mean())
    if n < 2:
        return Interval(mean, None, n)
    return Interval(mean, t_quantile(n, level) * float(values.std(ddof=1)) / math.sqrt(n), n)


@dataclass(frozen=True)
class Paired:
    difference: float            # mean of a - b
    half_width: float | None
    n: int
    p_value: float               # two-sided paired t-test of mean difference 0


def paired(a, b, level: float = LEVEL) -> Paired:
    """a_i - b_i over units where both are finite."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = len(d)
    if n == 0:
        return Paired(float("nan"), None, 0, float("nan"))
    mean = float(d.mean())
    if n < 2:
        return Paired(mean, None, n, float("nan"))
    sd = float(d.std(ddof=1))
    if sd == 0.0:     # identical differences: exactly zero, or a sure sign
        return Paired(mean, 0.0, n, 1.0 if mean == 0.0 else 0.0)
    t = mean / (sd / math.sqrt(n))
    return Paired(mean, t_quantile(n, level) * sd / math.sqrt(n), n,
                  float(2 * stats.t.sf(abs(t), n - 1)))


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (same order as given; NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, np.float64)
    out = np.full_like(p, np.nan)
    index = np.flatnonzero(np.isfinite(p))
    m = len(index)
    if not m:
        return out
    order = index[np.argsort(p[index], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out
