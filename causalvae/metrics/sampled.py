"""Scores that need batches with one factor fixed: FactorVAE score and beta-VAE score.

Both draw their batches from a :class:`~causalvae.metrics.sampling.CodeCache` pool (see there
for how this relates to disentanglement_lib's sampling). All pool items a score needs are
encoded once, up front, through the shared cache.
"""

from __future__ import annotations

import warnings

import numpy as np

from causalvae.argtypes import check_int
from causalvae.metrics.sampling import CodeCache, FactorGroups
from causalvae.metrics.validation import discrete_factors, varying_factor_columns

_CHUNK = 2048  # sample points per gather, bounding memory to _CHUNK * batch_size * d floats


def _fixed_factor_batches(groups: FactorGroups, n_pool: int, n_factors: int, n_points: int, batch_size: int,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: a factor (uniform), an anchor (uniform over the pool), and ``batch_size`` pool items
    sharing the anchor's value of that factor. Returns (factor, anchors, members)."""
    factor = rng.integers(n_factors, size=n_points)
    anchors = rng.integers(n_pool, size=n_points)
    return factor, anchors, groups.same_value(factor, anchors, batch_size, rng)


def _prepare(cache: CodeCache, metric: str, **sizes: int) -> tuple[np.ndarray, FactorGroups]:
    for name, value in sizes.items():
        check_int(value, name=name, minimum=2 if name == "batch_size" else 1)
    kept = varying_factor_columns(cache.factors, metric=metric)
    groups = FactorGroups(discrete_factors(cache.factors, metric=metric)[0][:, kept])
    lonely = [int(k) for k, counts in zip(kept, groups.counts) if np.median(counts) < 2]
    if lonely:
        warnings.warn(f"{metric}: most values of factors {lonely} occur once in the pool, so a batch with the "
                      "factor fixed repeats one item; discretise continuous factors (histogram_discretize) "
                      "or use a larger pool", UserWarning, stacklevel=3)
    return kept, groups


def factor_vae_score(cache: CodeCache, *, batch_size: int = 64, n_train: int = 10000, n_eval: int = 5000,
                     n_variance: int = 10000, prune_threshold: float = 0.05, seed: int = 0) -> dict[str, float]:
    """FactorVAE disentanglement score (Kim & Mnih 2018, "Disentangling by Factorising").

    Definition (disentanglement_lib ``evaluation/metrics/factor_vae.py``): global variances
    ``s_j^2`` of every latent over ``n_variance`` random pool items (``ddof=1``); latents with
    ``s_j < prune_threshold`` are inactive (disentanglement_lib's gin configuration: 0.05). Each
    training point fixes a random factor k, draws ``batch_size`` items sharing k's value and votes
    ``(k, argmin_j Var_batch(z_j) / s_j^2)`` over active j. A majority-vote classifier maps each
    latent to the factor it received most votes for; accuracies are the fractions of train and
    of eval (``n_eval`` fresh points) votes it gets right.

    Returns
    -------
    ``factor_vae_train``, ``factor_vae_eval``, ``factor_vae_active_dims`` (both accuracies 0 when
    no latent is active).
    """
    kept, groups = _prepare(cache, "FactorVAE score", batch_size=batch_size, n_train=n_train, n_eval=n_eval,
                            n_variance=n_variance)
    rng = np.random.default_rng(seed)
    variance_items = rng.integers(len(cache), size=n_variance)
    train = _fixed_factor_batches(groups, len(cache), len(kept), n_train, batch_size, rng)
    evaluation = _fixed_factor_batches(groups, len(cache), len(kept), n_eval, batch_size, rng)
    cache.ensure(np.concatenate([variance_items, train[2].ravel(), evaluation[2].ravel()]))

    global_var = cache.codes(variance_items).var(axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= prune_threshold)
    if active.size == 0:
        return {"factor_vae_train": 0.0, "factor_vae_eval": 0.0, "factor_vae_active_dims": 0.0}

    def votes(factor: np.ndarray, members: np.ndarray) -> np.ndarray:
        counts = np.zeros((len(kept), len(global_var)), dtype=np.int64)
        for start in range(0, len(factor), _CHUNK):
            z = cache.codes(members[start:start + _CHUNK])[:, :, active]
            ratio = z.var(axis=1, ddof=1) / global_var[active]
            np.add.at(counts, (factor[start:start + _CHUNK], active[np.argmin(ratio, axis=1)]), 1)
        return counts

    train_votes = votes(train[0], train[2])
    eval_votes = votes(evaluation[0], evaluation[2])
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(train_votes.shape[1])
    return {"factor_vae_train": float(train_votes[classifier, columns].sum() / train_votes.sum()),
            "factor_vae_eval": float(eval_votes[classifier, columns].sum() / eval_votes.sum()),
            "factor_vae_active_dims": float(active.size)}


def beta_vae_score(cache: CodeCache, *, batch_size: int = 64, n_train: int = 10000, n_eval: int = 5000,
                   seed: int = 0) -> dict[str, float]:
    """beta-VAE disentanglement score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual
    Concepts with a Constrained Variational Framework").

    Definition (disentanglement_lib ``evaluation/metrics/beta_vae.py``): each point fixes a random
    factor k and draws ``batch_size`` pairs that share k's value (pair-wise; the other factors
    vary); its feature is ``mean_pairs |z_a - z_b|`` and its label k. A
    ``LogisticRegression(random_state=seed)`` with default settings is fitted on ``n_train``
    points; the scores are its train accuracy and its accuracy on ``n_eval`` fresh points.

    Returns
    -------
    ``beta_vae_train`` and ``beta_vae_eval`` (both 1 when a single factor varies: there is
    nothing to confuse it with).
    """
    from sklearn.linear_model import LogisticRegression

    kept, groups = _prepare(cache, "beta-VAE score", batch_size=batch_size, n_train=n_train, n_eval=n_eval)
    if len(kept) == 1:
        return {"beta_vae_train": 1.0, "beta_vae_eval": 1.0}
    rng = np.random.default_rng(seed)
    sets = []
    for n_points in (n_train, n_eval):
        factor = rng.integers(len(kept), size=n_points)
        first = rng.integers(len(cache), size=(n_points, batch_size))
        second = groups.same_value(np.repeat(factor, batch_size), first.ravel(), 1, rng).reshape(first.shape)
        sets.append((factor, first, second))
    cache.ensure(np.concatenate([np.concatenate([a.ravel(), b.ravel()]) for _, a, b in sets]))

    def features(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return np.concatenate([np.abs(cache.codes(first[s:s + _CHUNK]) - cache.codes(second[s:s + _CHUNK])).mean(axis=1)
                               for s in range(0, len(first), _CHUNK)])

    (y_train, a_train, b_train), (y_eval, a_eval, b_eval) = sets
    x_train, x_eval = features(a_train, b_train), features(a_eval, b_eval)
    model = LogisticRegression(random_state=seed).fit(x_train, y_train)
    return {"beta_vae_train": float(model.score(x_train, y_train)),
            "beta_vae_eval": float(model.score(x_eval, y_eval))}
