"""Statistics shared by the causal layer: bootstrap, paired tests, minimal-effect tests, FDR and FWER."""

from __future__ import annotations

import warnings

import numpy as np

from causalvae.argtypes import check_float


def _adjusted(p_values: np.ndarray, adjust) -> np.ndarray:
    """Apply ``adjust(sorted finite p-values) -> adjusted, in sorted order`` to the finite p-values; NaN stays NaN."""
    raw = np.asarray(p_values)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"p_values must be an array of numbers, got dtype {raw.dtype}")
    p = raw.astype(np.float64)
    out = np.full(p.shape, np.nan)
    finite = ~np.isnan(p)  # NaN (untested) stays NaN; infinity is no p-value
    vals = p[finite]
    if ((vals < 0) | (vals > 1)).any():
        raise ValueError(f"p_values must lie in [0, 1] (or be NaN), got range [{vals.min()}, {vals.max()}]")
    if vals.size:
        order = np.argsort(vals)
        adjusted = np.empty(vals.size)
        adjusted[order] = adjust(vals[order]).clip(max=1.0)
        out[finite] = adjusted
    return out


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN p-values stay NaN and are not counted.

    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    return _adjusted(p_values, lambda v: np.minimum.accumulate((v * v.size / np.arange(1, v.size + 1))[::-1])[::-1])


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


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (family-wise error control); NaN p-values stay NaN.

    >>> holm(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    return _adjusted(p_values, lambda v: np.maximum.accumulate(v * (v.size - np.arange(v.size))))


def minimal_effect_pvalues(values: np.ndarray, stderr: np.ndarray, *, dof: int, floor: np.ndarray | float,
                           signed: bool) -> np.ndarray:
    """p-values of ``H0: |effect| <= floor`` from replicate means with a t(dof) sampling distribution.

    Parameters
    ----------
    values : estimated effects (means of ``dof + 1`` independent replicates).
    stderr : their standard errors (replicate std / sqrt(replicates)).
    dof : degrees of freedom of the t distribution, ``replicates - 1`` (>= 1).
    floor : the minimal effect of interest (>= 0), broadcast against ``values``.
    signed : ``True`` for a signed statistic (``mean``): the null is the interval [-floor, floor] and the
        p-value is exact at its boundary, ``sf((|e| - floor)/se) + sf((|e| + floor)/se)`` (two-sided
        t-test when floor = 0).  ``False`` for a non-negative statistic (``mean_abs``, ``rms``): the
        null is ``effect <= floor`` and ``p = sf((e - floor)/se)`` (one-sided).

    An effect with zero standard error (identical replicates: an exact, noise-free measurement) gets
    p = 0 when it exceeds the floor and p = 1 otherwise.

    >>> minimal_effect_pvalues(np.array([0.0, 1.0, 1.0]), np.array([0.1, 0.1, 0.0]), dof=3, floor=0.5,
    ...                        signed=True).round(4).tolist()
    [1.0, 0.008, 0.0]
    """
    from scipy import stats

    if check_float(dof, name="dof", minimum=1) != int(dof):
        raise ValueError(f"dof must be an integer >= 1 (replicates - 1), got {dof!r}")
    e = np.abs(np.asarray(values, dtype=np.float64))
    se = np.asarray(stderr, dtype=np.float64)
    floor = np.broadcast_to(np.asarray(floor, dtype=np.float64), e.shape)
    if e.shape != se.shape:
        raise ValueError(f"values and stderr must have one shape, got {e.shape} and {se.shape}")
    bad = ~np.isfinite(e) | ~np.isfinite(se) | (se < 0) | ~np.isfinite(floor) | (floor < 0)
    if bad.any():
        i = np.argwhere(bad)[0]
        raise ValueError(f"effects, standard errors and floors must be finite with stderr >= 0 and floor >= 0; "
                         f"entry {tuple(int(v) for v in i)} has effect {e[tuple(i)]}, stderr {se[tuple(i)]}, "
                         f"floor {floor[tuple(i)]}")
    noisy = se > 0
    safe = np.where(noisy, se, 1.0)
    p = stats.t.sf((e - floor) / safe, dof)
    if signed:
        p = p + stats.t.sf((e + floor) / safe, dof)
    return np.where(noisy, np.minimum(p, 1.0), np.where(e > floor, 0.0, 1.0))


def t_interval(values: np.ndarray, stderr: np.ndarray, *, dof: int, confidence: float = 0.95
               ) -> tuple[np.ndarray, np.ndarray]:
    """``values ± t_{(1+confidence)/2, dof} · stderr``: the confidence interval of a replicate mean."""
    from scipy import stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    half = stats.t.ppf((1 + confidence) / 2, dof) * np.asarray(stderr, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    return values - half, values + half
