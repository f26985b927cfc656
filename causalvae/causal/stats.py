"""Resampling statistics shared by the causal layer: bootstrap, paired tests, FDR and max-statistic nulls."""

from __future__ import annotations

import warnings

import numpy as np


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN p-values stay NaN and are not counted.

    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got range [{p[finite].min()}, {p[finite].max()}]")
    vals = p[finite]
    m = vals.size
    if m == 0:
        return q
    order = np.argsort(vals)
    scaled = vals[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = adjusted
    q[finite] = out
    return q


def bootstrap_weights(n: int, *, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampling weights: row b averages a bootstrap resample of n items as ``w_b @ x``."""
    if n < 2 or n_boot < 1:
        raise ValueError(f"bootstrap needs n >= 2 items and n_boot >= 1, got n={n}, n_boot={n_boot}")
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    return counts / n


def percentile_interval(draws: np.ndarray, *, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0 of bootstrap draws (NaN draws ignored)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN bounds
        return np.nanpercentile(draws, tail, axis=0), np.nanpercentile(draws, 100 - tail, axis=0)


def paired_t_pvalue(differences: np.ndarray) -> np.ndarray:
    """Two-sided one-sample t-test p-values of mean = 0 over axis 0 of per-sample differences.

    A difference that is constant across samples gets p = 1 when it is zero and p = 0 otherwise.
    """
    from scipy import stats

    d = np.asarray(differences, dtype=np.float64)
    n = d.shape[0]
    mean, sd = d.mean(axis=0), d.std(axis=0, ddof=1)
    scale = np.maximum(np.abs(d).max(axis=0), np.finfo(float).tiny)
    constant = sd <= 1e-12 * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / np.sqrt(n))
    p = 2 * stats.t.sf(np.abs(t), df=n - 1)
    return np.where(constant, np.where(np.abs(mean) <= 1e-12 * scale, 1.0, 0.0), p)


def sign_flip_max_null(differences: np.ndarray, *, n_perm: int = 199, seed: int = 0) -> np.ndarray:
    """Null distribution of ``max |mean|`` over all effects, by random sign flips of paired differences.

    Parameters
    ----------
    differences : (N, ...) per-input paired changes (e.g. activation under intervention minus clean).
    n_perm : number of sign-flip permutations.
    seed : seed of the flips.

    Returns
    -------
    (n_perm,) maxima; under "no effect anywhere" each paired difference is symmetric around zero, so
    the observed ``|mean|`` exceeds the ``1 - alpha`` quantile of these maxima anywhere with
    probability ≤ alpha (family-wise, Westfall–Young max-statistic).
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim < 1 or d.shape[0] < 2:
        raise ValueError(f"differences must have >= 2 samples on axis 0, got shape {d.shape}")
    flat = d.reshape(d.shape[0], -1)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_perm, flat.shape[0]))
    return np.abs(signs @ flat / flat.shape[0]).max(axis=1)


def max_null_threshold(null_maxima: np.ndarray, *, alpha: float = 0.05) -> float:
    """The ``1 - alpha`` quantile of max-statistic null draws: the family-wise edge threshold."""
    draws = np.asarray(null_maxima, dtype=np.float64).ravel()
    if draws.size == 0 or not np.isfinite(draws).all():
        raise ValueError(f"need finite null maxima, got {draws.size} values")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(np.quantile(draws, 1 - alpha, method="higher"))

