"""Interventional Robustness Score (Suter et al. 2019, "Robustly Disentangled Causal
Mechanisms: Validating Deep Representations for Interventional Robustness").

Definition (disentanglement_lib ``evaluation/metrics/irs.py``, ``scalable_disentanglement_score``):
factors are discretised with a 20-bin histogram, constant latents are dropped. For latent i and
factor k, ``D[i, k]`` is the mean over values g of factor k of the ``diff_quantile`` quantile of
``|z_i - E[z_i | v_k = g]|`` within the group ``v_k = g``; with ``M_i = max |z_i - E z_i|``,
``IRS[i, k] = 1 - D[i, k] / M_i``; the score is the ``M``-weighted mean over latents of
``max_k IRS[i, k]``. Conditioning is on the observed sample (disentanglement_lib draws a plain
random sample for IRS), so no fixed-factor batches are needed. 0 when every latent is constant.
"""

from __future__ import annotations

import numpy as np

from causalvae.metrics.discrete import histogram_discretize
from causalvae.metrics.validation import check_pair, discrete_factors, varying_factor_columns


def irs(codes: np.ndarray, factors: np.ndarray, *, diff_quantile: float = 0.99,
        n_bins: int = 20) -> dict[str, float]:
    """IRS of ``codes`` (N x d) for ``factors`` (N x K); returns ``irs`` and ``irs_active_dims``.

    Examples
    --------
    >>> v = np.repeat(np.arange(5.0), 10)[:, None]
    >>> irs(v, v)["irs"]
    1.0
    """
    if not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must lie in [0, 1], got {diff_quantile}")
    codes, factors = check_pair(codes, factors)
    factors, _ = discrete_factors(factors, metric="IRS", n_bins=n_bins)
    kept = varying_factor_columns(factors, metric="IRS")
    groups = histogram_discretize(factors[:, kept], n_bins=n_bins)
    active = codes.var(axis=0) > 0
    if not active.any():
        return {"irs": 0.0, "irs_active_dims": 0.0}
    z = codes[:, active]
    max_dev = np.max(np.abs(z - z.mean(axis=0)), axis=0)
    cum = np.zeros((z.shape[1], groups.shape[1]))
    for k in range(groups.shape[1]):
        values = np.unique(groups[:, k])
        for g in values:
            member = z[groups[:, k] == g]
            cum[:, k] += np.percentile(np.abs(member - member.mean(axis=0)), diff_quantile * 100, axis=0)
        cum[:, k] /= len(values)
    per_latent = (1.0 - cum / max_dev[:, None]).max(axis=1)
    return {"irs": float(np.average(per_latent, weights=max_dev)), "irs_active_dims": float(active.sum())}
