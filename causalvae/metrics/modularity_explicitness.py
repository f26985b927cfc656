"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings
with the F-Statistic Loss").

Definitions (disentanglement_lib ``evaluation/metrics/modularity_explicitness.py``):

- modularity, from the d x K mutual-information matrix ``m`` of 20-bin-discretised codes:
  ``delta_i = (sum_k m[i,k]^2 - max_k m[i,k]^2) / (max_k m[i,k]^2 (K - 1))``,
  ``modularity = mean_i (1 - delta_i)``, with ``1 - delta_i := 0`` for a latent whose mutual
  information is all zero (and ``:= 1`` for the others when K = 1);
- explicitness: per factor, a one-vs-rest ROC AUC (macro average over classes) of a
  ``LogisticRegression()`` with default settings on codes standardised with the train mean and
  std; reported as the mean over factors on the train and on the test split. Classes absent
  from a split are left out of that split's average; a constant latent standardises to 0.
"""

from __future__ import annotations

import numpy as np

from causalvae.metrics.discrete import discrete_mutual_info, histogram_discretize, labels
from causalvae.metrics.parallel import map_largest_first, one_thread
from causalvae.metrics.validation import check_pair, check_split, discrete_factors, varying_factor_columns


def modularity_from_mi(mutual_information: np.ndarray) -> float:
    """Modularity of a d x K mutual-information matrix (module docstring).

    Examples
    --------
    >>> modularity_from_mi(np.array([[1.0, 0.0], [0.5, 0.5]]))
    0.5
    """
    m = np.asarray(mutual_information, dtype=np.float64)
    if m.ndim != 2 or m.size == 0 or not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError(f"mutual_information must be a non-empty finite non-negative 2-D array, "
                         f"got shape {m.shape}")
    squared = m**2
    top = squared.max(axis=1)
    score = np.zeros(len(m))
    informative = top > 0
    if m.shape[1] == 1:
        score[informative] = 1.0
    else:
        delta = (squared.sum(axis=1)[informative] - top[informative]) / (top[informative] * (m.shape[1] - 1))
        score[informative] = 1.0 - delta
    return float(score.mean())


def modularity(codes: np.ndarray, factors: np.ndarray, *, n_bins: int = 20) -> dict[str, float]:
    """Modularity score of ``codes`` (N x d) for discrete ``factors`` (N x K)."""
    codes, factors = check_pair(codes, factors)
    factors, _ = discrete_factors(factors, metric="modularity", n_bins=n_bins)
    kept = varying_factor_columns(factors, metric="modularity")
    mi = discrete_mutual_info(histogram_discretize(codes, n_bins=n_bins), factors[:, kept])
    return {"modularity": modularity_from_mi(mi)}


def _macro_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    onehot = (y[:, None] == classes[None, :]).astype(np.int64)
    present = (onehot.sum(axis=0) > 0) & (onehot.sum(axis=0) < len(y))
    if not present.any():
        raise ValueError("explicitness: a split holds a single class of a factor; ROC AUC is undefined")
    return float(roc_auc_score(onehot[:, present], proba[:, present], average="macro"))


def _explicitness_one(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    with one_thread():
        clf = LogisticRegression().fit(x_tr, y_tr)
    return (_macro_auc(y_tr, clf.predict_proba(x_tr), clf.classes_),
            _macro_auc(y_te, clf.predict_proba(x_te), clf.classes_))


def explicitness(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray,
                 factors_test: np.ndarray, *, n_jobs: int = 2) -> dict[str, float]:
    """Explicitness (train and test) of the codes; the per-factor fits run single-threaded in
    ``n_jobs`` processes (see :mod:`causalvae.metrics.parallel`).

    Returns ``{"explicitness_train": float, "explicitness_test": float}``; the numbers do not
    depend on ``n_jobs``.
    """
    ctr, ftr, cte, fte = check_split(codes_train, factors_train, codes_test, factors_test)
    ftr, fte = discrete_factors(ftr, metric="explicitness", test=fte)
    kept = varying_factor_columns(ftr, metric="explicitness")
    mean, std = ctr.mean(axis=0), ctr.std(axis=0)
    std = np.where(std > 0, std, np.inf)
    x_tr, x_te = (ctr - mean) / std, (cte - mean) / std
    n_train = len(ctr)
    ys = [labels(np.concatenate([ftr[:, k], fte[:, k]])) for k in kept]
    tasks = [(x_tr, y[:n_train], x_te, y[n_train:]) for y, _ in ys]
    scores = map_largest_first(_explicitness_one, tasks, [m for _, m in ys], n_jobs=n_jobs)
    train, test = np.array(scores).T
    return {"explicitness_train": float(train.mean()), "explicitness_test": float(test.mean())}
