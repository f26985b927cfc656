"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018, "A Framework
for the Quantitative Evaluation of Disentangled Representations").

Definition (disentanglement_lib ``evaluation/metrics/dci.py``), from a non-negative d x K
importance matrix ``R`` (latent i, factor k):

- ``D_i = 1 - H_K(R[i, :] / sum_k R[i, k])`` (entropy with log base K, ``1e-11`` added to every
  entry as in disentanglement_lib); ``disentanglement = sum_i rho_i D_i`` with
  ``rho_i = sum_k R[i, k] / sum R``;
- ``C_k = 1 - H_d(R[:, k] / sum_i R[i, k])``; ``completeness = sum_k sigma_k C_k`` with
  ``sigma_k = sum_i R[i, k] / sum R``;
- informativeness: mean train / test score of the per-factor predictors (accuracy, or R^2 for
  the "lasso" back end; see :mod:`causalvae.metrics.importance`).

When ``R`` sums to zero the weights are uniform (as disentanglement_lib). Degenerate bases are
defined, not NaN: with a single factor every ``D_i = 1``, with a single latent every ``C_k = 1``.
"""

from __future__ import annotations

import numpy as np

from causalvae.metrics.importance import importance_matrix
from causalvae.metrics.validation import check_split, discrete_factors, varying_factor_columns

_EPS = 1e-11


def _one_minus_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """``1 - H(p)/log(n)`` along ``axis`` (n = its length) after adding 1e-11; 1 when n == 1."""
    n = p.shape[axis]
    if n == 1:
        return np.ones(p.shape[1 - axis])
    q = p + _EPS
    q = q / q.sum(axis=axis, keepdims=True)
    return 1.0 - (-np.sum(q * np.log(q), axis=axis)) / np.log(n)


def dci_from_importance(importance: np.ndarray) -> dict[str, float]:
    """Disentanglement and completeness of a d x K importance matrix (module docstring).

    Examples
    --------
    >>> dci_from_importance(np.eye(3))["disentanglement"] > 0.999
    True
    """
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or r.size == 0:
        raise ValueError(f"importance must be a non-empty 2-D (latents x factors) array, got shape {r.shape}")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("importance must be finite and non-negative")
    weights = r if r.sum() > 0 else np.ones_like(r)
    code_weight, factor_weight = weights.sum(axis=1), weights.sum(axis=0)
    # weighted means with the normalisation last, so that all-ones scores average to exactly 1
    return {"disentanglement": float(np.sum(_one_minus_entropy(r, axis=1) * code_weight) / code_weight.sum()),
            "completeness": float(np.sum(_one_minus_entropy(r, axis=0) * factor_weight) / factor_weight.sum())}


def dci_importance(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray,
                   factors_test: np.ndarray, *, backend: str = "random-forest", seed: int = 0,
                   n_jobs: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated inputs -> (d x K' importance, train scores, test scores, kept factor columns)."""
    ctr, ftr, cte, fte = check_split(codes_train, factors_train, codes_test, factors_test)
    ftr, fte = discrete_factors(ftr, metric="DCI", test=fte)
    kept = varying_factor_columns(ftr, metric="DCI")
    imp, train, test = importance_matrix(ctr, ftr[:, kept], cte, fte[:, kept], backend=backend, seed=seed,
                                         n_jobs=n_jobs)
    return imp, train, test, kept


def dci(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray,
        *, backend: str = "random-forest", seed: int = 0, n_jobs: int = 2) -> dict[str, float]:
    """DCI scores with the importance estimator ``backend``.

    Parameters
    ----------
    codes_train, factors_train, codes_test, factors_test : N x d codes and N x K discrete factors.
    backend : "gbt" (disentanglement_lib, slow), "random-forest" (fast default), "logistic" or
        "lasso". Different back ends give different scores: compare only like with like.
    seed : ``random_state`` of the estimators.
    n_jobs : worker count; the numbers do not depend on it.

    Returns
    -------
    ``disentanglement``, ``completeness``, ``informativeness_train``, ``informativeness_test``.
    Constant factors (in the train split) are left out with a warning.
    """
    imp, train, test, _ = dci_importance(codes_train, factors_train, codes_test, factors_test,
                                         backend=backend, seed=seed, n_jobs=n_jobs)
    out = dci_from_importance(imp)
    out.update(informativeness_train=float(train.mean()), informativeness_test=float(test.mean()))
    return out
