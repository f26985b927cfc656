"""Statistics across the cells of a study: seed means with t-intervals, correlations, partial correlations.

- :func:`seed_interval`: mean and 95 % t-interval ``mean ± t_{0.975, n-1} s / sqrt(n)`` over seeds.
- :func:`correlation`: Pearson or Spearman correlation of two per-cell metrics, optionally *partial*
  given covariates: both variables (ranks, for Spearman) are residualised on the covariates by least
  squares with an intercept and the residuals correlated.  The confidence interval is Fisher's z,
  ``tanh(atanh(r) ± z_{0.975} / sqrt(n - 3 - k))`` with k covariates (for Spearman the same
  approximation, as usual); the p-value is the t-test of ``r`` on ``n - 2 - k`` degrees of freedom.
  Without covariates a percentile bootstrap over cells (``scipy.stats.bootstrap``, paired) is given too.

With few cells these intervals are wide, and they are reported as they come out.

>>> x = np.arange(10.0)
>>> c = correlation(x, 2 * x + np.sin(x), method="pearson")
>>> round(c.r, 3), c.n, c.ci_low < c.r < c.ci_high
(0.994, 10, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

METHODS = ("pearson", "spearman")


def seed_interval(values: Sequence[float], *, confidence: float = 0.95) -> dict[str, float]:
    """``mean``, ``ci_low``, ``ci_high`` (t-interval over seeds) and ``n`` of the finite ``values``.

    >>> seed_interval([1.0, 2.0, 3.0])["ci_high"].__round__(3)
    4.484
    >>> seed_interval([1.0])["ci_low"]
    nan
    """
    from causalvae.causal.stats import t_interval

    xs = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = len(xs)
    mean = float(xs.mean()) if n else float("nan")
    if n < 2:
        return {"mean": mean, "ci_low": float("nan"), "ci_high": float("nan"), "n": n}
    low, high = t_interval(mean, xs.std(ddof=1) / np.sqrt(n), dof=n - 1, confidence=confidence)
    return {"mean": mean, "ci_low": float(low), "ci_high": float(high), "n": n}


@dataclass(frozen=True)
class Correlation:
    """One (partial) correlation with its intervals; NaN where too few cells define it."""

    method: str
    covariates: tuple[str, ...]
    r: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    boot_low: float = float("nan")
    boot_high: float = float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "covariates": list(self.covariates)}


def _residuals(values: np.ndarray, covariates: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(values)), covariates])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coef


def _ranked(a: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.rankdata(a, axis=0)


def correlation(x: Sequence[float], y: Sequence[float], *, method: str = "pearson",
                covariates: np.ndarray | None = None, covariate_names: Sequence[str] = (),
                confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Correlation:
    """Correlation of ``x`` and ``y`` over cells (partial given ``covariates``, N x k), see the module.

    Cells where any value is missing (NaN) are left out.  Fewer than ``k + 3`` cells give NaN
    (the correlation of residuals is undefined or its interval is), as does a constant residual.

    Raises
    ------
    ValueError : unknown ``method`` or arrays of different lengths.

    Examples
    --------
    >>> x = np.array([1.0, 2, 3, 4, 5, 6]); z = np.array([0.0, 1, 0, 1, 0, 1])
    >>> y = x + 10 * z   # y depends on x only through a shared trend once z is held fixed
    >>> round(correlation(x, y, covariates=z[:, None]).r, 6)
    1.0
    """
    from scipy import stats

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    cov = np.zeros((len(x), 0)) if covariates is None else np.asarray(covariates, dtype=np.float64).reshape(len(x), -1)
    if x.shape != y.shape or x.ndim != 1 or len(cov) != len(x):
        raise ValueError(f"x, y and covariates need one row per cell, got shapes {x.shape}, {y.shape}, {cov.shape}")
    names = tuple(covariate_names) or tuple(f"covariate{j}" for j in range(cov.shape[1]))
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(cov).all(axis=1)
    x, y, cov = x[keep], y[keep], cov[keep]
    n, k = len(x), cov.shape[1]
    nan = Correlation(method, names, *(float("nan"),) * 4, n)
    if n < k + 3:
        return nan
    boot = (float("nan"), float("nan"))
    if k == 0 and n >= 4:
        boot = _bootstrap(x, y, spearman=method == "spearman", confidence=confidence, n_boot=n_boot, seed=seed)
    if method == "spearman":
        x, y, cov = _ranked(x), _ranked(y), _ranked(cov) if k else cov
    rx, ry = (_residuals(v, cov) for v in (x, y))
    if np.ptp(rx) <= 1e-12 * max(1.0, np.abs(x).max()) or np.ptp(ry) <= 1e-12 * max(1.0, np.abs(y).max()):
        return nan
    r = float(np.clip(np.corrcoef(rx, ry)[0, 1], -1.0, 1.0))
    dof = n - 2 - k
    p = float(2 * stats.t.sf(abs(r) * np.sqrt(dof / max(1e-300, 1 - r * r)), dof)) if dof > 0 else float("nan")
    if n - 3 - k > 0:
        half = stats.norm.ppf((1 + confidence) / 2) / np.sqrt(n - 3 - k)
        z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
        low, high = float(np.tanh(z - half)), float(np.tanh(z + half))
    else:
        low = high = float("nan")
    return Correlation(method, names, r, low, high, p, n, *boot)


def _bootstrap(x: np.ndarray, y: np.ndarray, *, spearman: bool, confidence: float, n_boot: int, seed: int
               ) -> tuple[float, float]:
    """Paired percentile bootstrap interval of the correlation (Spearman: ranks taken in every resample)."""
    from scipy import stats

    def statistic(a, b, axis=-1):
        if spearman:
            a, b = stats.rankdata(a, axis=axis), stats.rankdata(b, axis=axis)
        a = a - a.mean(axis=axis, keepdims=True)
        b = b - b.mean(axis=axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (a * b).sum(axis) / np.sqrt((a * a).sum(axis) * (b * b).sum(axis))

    res = stats.bootstrap((x, y), statistic, paired=True, vectorized=True, n_resamples=n_boot,
                          confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
