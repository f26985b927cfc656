"""Run the whole disentanglement suite (the rows of :data:`~causalvae.metrics.suite_registry.SUITE`) on one
shared, lazily encoded pool."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from causalvae.argtypes import check_int
from causalvae.metrics.importance import check_backend
from causalvae.metrics.sampling import CodeCache
from causalvae.metrics.suite_registry import SUITE, SuiteInputs

DEFAULT_DCI_BACKENDS = ("random-forest", "lasso")


def train_test_split(n_pool: int, n_train: int, n_test: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random train/test pool indices; drawn with replacement (and a warning) if the pool is small."""
    n_train = check_int(n_train, name="n_train", minimum=2)
    n_test = check_int(n_test, name="n_test", minimum=2)
    replace = n_train + n_test > n_pool
    if replace:
        warnings.warn(f"pool of {n_pool} items is smaller than n_train + n_test = {n_train + n_test}; "
                      "drawing with replacement", UserWarning, stacklevel=3)
    index = np.random.default_rng(seed).choice(n_pool, n_train + n_test, replace=replace)
    return index[:n_train], index[n_train:]


def suite(cache: CodeCache, *, n_train: int = 10000, n_test: int = 5000,
          dci_backends: Sequence[str] = DEFAULT_DCI_BACKENDS, sampled: bool = True, kl: np.ndarray | None = None,
          n_bins: int = 20, seed: int = 0, n_jobs: int = 2) -> dict[str, float]:
    """Every disentanglement metric with the documented default back ends, as a flat dict of floats.

    Parameters
    ----------
    cache : the pool (see :class:`CodeCache`); its codes are shared by all metrics.
    n_train, n_test : sizes of the random train / test split of the pool (disentanglement_lib:
        10,000 / 5,000). MIG, modularity, IRS, total correlation and the activity count use
        the train split; DCI, SAP and explicitness fit on train and score on test.
    dci_backends : DCI importance back ends, each reported under its own key
        ``dci.<backend>.<score>``; add "gbt" for disentanglement_lib's (slow) estimator.
    sampled : also compute the FactorVAE and beta-VAE scores (disentanglement_lib sizes).
    kl : per-latent KL (d,) or (N, d) for the active-latent count; None counts latents whose
        posterior-mean variance exceeds 0.01.
    n_bins, seed, n_jobs : histogram bins, seed of every stochastic step, worker count.

    Returns
    -------
    Keys ``mig``, ``sap``, ``dci.<backend>.{disentanglement, completeness, informativeness_train,
    informativeness_test}``, ``modularity``, ``explicitness_train``, ``explicitness_test``,
    ``irs``, ``irs_active_dims``, ``gaussian_tc``, ``tc_latents``, ``n_active_latents`` and, when
    ``sampled``, ``factor_vae_{train, eval, active_dims}`` and ``beta_vae_{train, eval}``.
    """
    for backend in dci_backends:
        check_backend(backend)
    train, test = train_test_split(len(cache), n_train, n_test, seed=seed)
    cache.ensure(np.concatenate([train, test]))
    inputs = SuiteInputs(cache, cache.codes(train), cache.factors[train], cache.codes(test), cache.factors[test],
                         kl=kl, n_bins=n_bins, seed=seed, n_jobs=n_jobs, dci_backends=tuple(dci_backends))
    out: dict[str, float] = {}
    for metric in SUITE:
        if sampled or not metric.sampled:
            out.update(metric.run(inputs))
    return out
