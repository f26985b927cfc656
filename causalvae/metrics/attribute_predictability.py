"""Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations").

Definition (disentanglement_lib ``evaluation/metrics/sap_score.py``): a d x K score matrix
``S[i, k]`` of how well latent ``i`` alone predicts factor ``k``; SAP is the mean over factors
of the gap between the best and second-best latent.

- discrete factors (default, as disentanglement_lib's dSprites configuration): ``S[i, k]`` is
  the test accuracy of ``sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")`` fitted on
  the single feature ``z_i`` (train split) to predict ``v_k``;
- continuous factors: ``S[i, k] = Cov(z_i, v_k)^2 / (Var z_i Var v_k)`` (``ddof=1``) on the
  train split, and 0 where ``Var z_i <= 1e-12``.
"""

from __future__ import annotations

import numpy as np

from causalvae.metrics.information_gap import top_two_gap
from causalvae.metrics.validation import check_split, discrete_factors, varying_factor_columns


def _svc_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    from sklearn.svm import LinearSVC

    classifier = LinearSVC(C=0.01, class_weight="balanced")
    classifier.fit(x_train[:, None], y_train)
    return float(np.mean(classifier.predict(x_test[:, None]) == y_test))


def _correlation_scores(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    centred_z = codes - codes.mean(axis=0)
    centred_v = factors - factors.mean(axis=0)
    n = len(codes) - 1
    cov = centred_z.T @ centred_v / n
    var_z = np.sum(centred_z**2, axis=0) / n
    var_v = np.sum(centred_v**2, axis=0) / n
    scores = np.zeros_like(cov)
    ok = var_z > 1e-12
    scores[ok] = cov[ok] ** 2 / (var_z[ok, None] * var_v[None, :])
    return scores


def sap_score_matrix(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray,
                     factors_test: np.ndarray, *, continuous_factors: bool = False,
                     n_jobs: int = 2) -> np.ndarray:
    """The d x K SAP score matrix (see the module docstring); fits run on ``n_jobs`` threads."""
    ctr, ftr, cte, fte = check_split(codes_train, factors_train, codes_test, factors_test)
    if continuous_factors:
        return _correlation_scores(ctr, ftr)
    ftr, fte = discrete_factors(ftr, metric="SAP", test=fte)
    from joblib import Parallel, delayed

    pairs = [(i, k) for i in range(ctr.shape[1]) for k in range(ftr.shape[1])]
    scores = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_svc_accuracy)(ctr[:, i], ftr[:, k], cte[:, i], fte[:, k]) for i, k in pairs)
    return np.asarray(scores, dtype=np.float64).reshape(ctr.shape[1], ftr.shape[1])


def sap(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray,
        *, continuous_factors: bool = False, n_jobs: int = 2) -> dict[str, float]:
    """SAP score; constant factors (in the train split) are left out with a warning.

    Returns ``{"sap": float}``; with a single latent the runner-up score is taken as 0. Note that
    a one-vs-rest linear classifier on one feature cannot isolate a middle class, so even a
    perfect code scores below 1 on factors with more than two values (as in disentanglement_lib).
    The result does not depend on ``n_jobs`` (each fit is deterministic).

    Examples
    --------
    >>> v = np.tile(np.arange(2.0), 20)[:, None]
    >>> sap(v, v, v, v)["sap"]
    1.0
    """
    ctr, ftr, cte, fte = check_split(codes_train, factors_train, codes_test, factors_test)
    kept = varying_factor_columns(ftr, metric="SAP")
    matrix = sap_score_matrix(ctr, ftr[:, kept], cte, fte[:, kept], continuous_factors=continuous_factors,
                              n_jobs=n_jobs)
    return {"sap": float(np.mean(top_two_gap(matrix)))}
