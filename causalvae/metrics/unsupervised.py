"""Metrics of the code alone: Gaussian total correlation and the number of active latents."""

from __future__ import annotations

import numpy as np

from causalvae.metrics.validation import check_codes


def _covariance(codes: np.ndarray) -> np.ndarray:
    """``np.cov(codes, rowvar=False)`` through BLAS only (numpy's column mean of an N x d array
    is its slowest part): the same numbers up to float rounding, twice as fast at 10,000 x 10."""
    n = len(codes)
    centred = codes - (np.ones(n) @ codes) / n
    return centred.T @ centred / (n - 1)


def gaussian_total_correlation(codes: np.ndarray) -> dict[str, float]:
    """Total correlation of a Gaussian with the codes' covariance (disentanglement_lib
    ``unsupervised_metrics.py``)::

        TC = 1/2 (sum_i log Sigma_ii - log det Sigma),   Sigma = cov(codes), ddof = 1

    in nats; 0 iff the latents are uncorrelated. Constant latents carry no information and are
    left out (``tc_latents`` says how many were used); the result is ``inf`` when the remaining
    latents are linearly dependent (singular covariance), 0 with fewer than two of them.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20000, 1))
    >>> tc = gaussian_total_correlation(np.hstack([x, x + rng.normal(size=x.shape)]))["gaussian_tc"]
    >>> bool(abs(tc - 0.5 * np.log(2)) < 0.01)  # closed form -1/2 log(1 - rho^2), rho^2 = 1/2
    True
    """
    cov = _covariance(check_codes(codes))
    varying = np.diag(cov) > 0
    if varying.sum() < 2:
        return {"gaussian_tc": 0.0, "tc_latents": float(varying.sum())}
    cov = cov[np.ix_(varying, varying)]
    sign, logdet = np.linalg.slogdet(cov)
    tc = np.inf if sign <= 0 else 0.5 * (np.sum(np.log(np.diag(cov))) - logdet)
    return {"gaussian_tc": float(max(tc, 0.0)), "tc_latents": float(varying.sum())}


def active_mask(*, kl: np.ndarray | None = None, codes: np.ndarray | None = None,
                threshold: float = 0.01) -> np.ndarray:
    """Boolean mask of the active latents, from the KL per latent or from the code variance (measured on a
    model and data: :func:`causalvae.models.active_latents`).

    Parameters
    ----------
    kl : per-latent KL divergence ``KL(q(z_i|x) || p(z_i))`` in nats, shape (d,) (already
        averaged over the data) or N x d (averaged here). Latent i is active when
        ``mean KL_i > threshold`` (DESIGN §5: 0.01 nats).
    codes : N x d posterior means, used when ``kl`` is not given. Latent i is active when
        ``Var_x mu_i(x) > threshold`` (Burda et al. 2016's activity statistic, 0.01).
    threshold : activity threshold (nats for ``kl``, variance units for ``codes``).

    Examples
    --------
    >>> active_mask(kl=np.array([0.5, 0.001, 2.0])).tolist()
    [True, False, True]
    """
    if (kl is None) == (codes is None):
        raise ValueError("give exactly one of kl= (per-latent KL) or codes= (posterior means)")
    if kl is not None:
        kl = np.asarray(kl, dtype=np.float64)
        if kl.ndim not in (1, 2) or kl.shape[-1] < 1 or not np.all(np.isfinite(kl)):
            raise ValueError(f"kl must be a finite (d,) or (N, d) array, got shape {kl.shape}")
        if np.any(kl < -1e-9):
            raise ValueError(f"kl must be non-negative, got minimum {kl.min()}")
        statistic = kl.mean(axis=0) if kl.ndim == 2 else kl
    else:
        statistic = check_codes(codes).var(axis=0)
    return statistic > threshold


def n_active_latents(*, kl: np.ndarray | None = None, codes: np.ndarray | None = None,
                     threshold: float = 0.01) -> int:
    """Number of active latents (see :func:`active_mask`)."""
    return int(active_mask(kl=kl, codes=codes, threshold=threshold).sum())
