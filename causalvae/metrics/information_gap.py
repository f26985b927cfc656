"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

Definition (disentanglement_lib ``evaluation/metrics/mig.py``): discretise every code with a
20-bin histogram, compute ``m[i, k] = I(z_i; v_k)`` and ``H(v_k)`` in nats, and average over
factors the gap between the largest and the second-largest mutual information, normalised by
the factor's entropy::

    MIG = 1/K * sum_k (m[(1), k] - m[(2), k]) / H(v_k)
"""

from __future__ import annotations

import numpy as np

from causalvae.metrics.discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from causalvae.metrics.validation import check_pair, discrete_factors, varying_factor_columns


def top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column, largest minus second-largest entry; with a single row the runner-up is 0."""
    ordered = np.sort(matrix, axis=0)[::-1]
    runner_up = ordered[1] if len(ordered) > 1 else np.zeros(matrix.shape[1])
    return ordered[0] - runner_up


def mig(codes: np.ndarray, factors: np.ndarray, *, n_bins: int = 20) -> dict[str, float]:
    """Mutual Information Gap of ``codes`` (N x d) with respect to discrete ``factors`` (N x K).

    Parameters
    ----------
    codes : N x d representation (e.g. posterior means).
    factors : N x K discrete factor values; each distinct value is a class. Continuous factors are
        binned into ``n_bins`` bins with a warning (:func:`~causalvae.metrics.validation.discrete_factors`).
    n_bins : histogram bins per code (disentanglement_lib: 20).

    Returns
    -------
    ``{"mig": float}`` plus ``"mig.<k>"`` per factor column ``k``. Constant factors are left out
    with a warning; with a single latent the runner-up mutual information is taken as 0.

    Examples
    --------
    >>> v = np.repeat(np.arange(4.0), 25)[:, None]
    >>> round(mig(v, v, n_bins=4)["mig"], 6)
    1.0
    """
    codes, factors = check_pair(codes, factors)
    factors, _ = discrete_factors(factors, metric="MIG", n_bins=n_bins)
    kept = varying_factor_columns(factors, metric="MIG")
    factors = factors[:, kept]
    m = discrete_mutual_info(histogram_discretize(codes, n_bins=n_bins), factors)
    per_factor = top_two_gap(m) / discrete_entropy(factors)
    out = {"mig": float(np.mean(per_factor))}
    out.update({f"mig.{k}": float(g) for k, g in zip(kept, per_factor)})
    return out
