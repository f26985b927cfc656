"""Importance estimators for DCI: which latent predicts which factor.

Each back end fits one predictor per factor on the train split and returns a d x K importance
matrix and per-factor train/test scores. They give *different* DCI values on the same codes, so
results are always labelled with the back end's name.

========================  ===================================================  ==================
back end                  importance of latent i for factor k                   informativeness
========================  ===================================================  ==================
``"gbt"``                 ``GradientBoostingClassifier().feature_importances_``  accuracy
                          (disentanglement_lib ``dci.py``; parallel over
                          factors, identical numbers to the sequential loop)
``"random-forest"``       ``RandomForestClassifier(n_estimators=100,             accuracy
                          max_depth=8)`` impurity importances (Eastwood &
                          Williams 2018; depth-limited, as GBT's trees are, so
                          noise latents get little importance)
``"logistic"``            sum over classes of ``|coef|`` of a multinomial        accuracy
                          ``LogisticRegression`` on standardised codes
``"lasso"``               ``|coef|`` of ``Lasso(alpha=0.02)`` regressing the     R^2
                          standardised factor label on standardised codes
                          (Eastwood & Williams 2018)
========================  ===================================================  ==================
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from causalvae.metrics.discrete import labels
from causalvae.metrics.parallel import map_largest_first, one_thread

FitResult = tuple[np.ndarray, float, float]


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _classifier_fit(model: Any, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray,
                    importance: Callable[[Any], np.ndarray]) -> FitResult:
    model.fit(x_tr, y_tr)
    return (np.abs(importance(model)), float(np.mean(model.predict(x_tr) == y_tr)),
            float(np.mean(model.predict(x_te) == y_te)))


def fit_gbt(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *, seed: int) -> FitResult:
    """disentanglement_lib's estimator: ``GradientBoostingClassifier`` with default settings."""
    from sklearn.ensemble import GradientBoostingClassifier

    return _classifier_fit(GradientBoostingClassifier(random_state=seed), x_tr, y_tr, x_te, y_te,
                           lambda m: m.feature_importances_)


def fit_random_forest(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *, seed: int,
                      n_jobs: int = 1) -> FitResult:
    """Impurity importances of a 100-tree, depth-8 random forest (results do not depend on ``n_jobs``)."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=seed, n_jobs=n_jobs)
    return _classifier_fit(model, x_tr, y_tr, x_te, y_te, lambda m: m.feature_importances_)


def fit_logistic(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *, seed: int) -> FitResult:
    """Summed absolute multinomial logistic-regression weights on standardised codes.

    Fitted with one BLAS/OpenMP thread (see :func:`causalvae.metrics.parallel.one_thread`).
    """
    from sklearn.linear_model import LogisticRegression

    x_tr, x_te = _standardise(x_tr, x_te)
    model = LogisticRegression(max_iter=1000, random_state=seed)
    with one_thread():
        return _classifier_fit(model, x_tr, y_tr, x_te, y_te, lambda m: np.abs(m.coef_).sum(axis=0))


def fit_lasso(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *, seed: int,
              alpha: float = 0.02) -> FitResult:
    """Absolute Lasso weights for the standardised factor label; scores are R^2."""
    from sklearn.linear_model import Lasso

    x_tr, x_te = _standardise(x_tr, x_te)
    mean, std = y_tr.mean(), y_tr.std()
    t_tr, t_te = (y_tr - mean) / std, (y_te - mean) / std
    model = Lasso(alpha=alpha, precompute=True, random_state=seed).fit(x_tr, t_tr)  # d x d Gram: same fit, faster

    def r2(x: np.ndarray, t: np.ndarray) -> float:
        ss = np.sum((t - t.mean()) ** 2)
        resid = np.sum((t - model.predict(x)) ** 2)
        return float(1.0 - resid / ss) if ss > 0 else 0.0

    return np.abs(model.coef_), r2(x_tr, t_tr), r2(x_te, t_te)


BACKENDS: dict[str, Callable[..., FitResult]] = {
    "gbt": fit_gbt, "random-forest": fit_random_forest, "logistic": fit_logistic, "lasso": fit_lasso}


def check_backend(backend: str) -> Callable[..., FitResult]:
    """The fit function of ``backend``; a clear error lists the valid names."""
    try:
        return BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown DCI importance back end {backend!r}; expected one of {sorted(BACKENDS)}") from None


def importance_matrix(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray,
                      factors_test: np.ndarray, *, backend: str, seed: int = 0,
                      n_jobs: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit one ``backend`` predictor per factor; return (d x K importance, train scores, test scores).

    Inputs must already be validated. Factor values are relabelled 0..m-1 jointly over train
    and test. "gbt" and "logistic" run the per-factor fits in ``n_jobs`` processes (most classes
    first, for load balance); "random-forest" uses ``n_jobs`` for its trees; "lasso" is sequential
    and fast. Every back end gives the same numbers for any ``n_jobs``.
    """
    fit = check_backend(backend)
    n_train, n_factors = factors_train.shape
    ys = [labels(np.concatenate([factors_train[:, k], factors_test[:, k]])) for k in range(n_factors)]
    tasks = [(codes_train, y[:n_train], codes_test, y[n_train:]) for y, _ in ys]
    if backend in ("gbt", "logistic"):
        results = map_largest_first(partial(fit, seed=seed), tasks, [m for _, m in ys], n_jobs=n_jobs)
    elif backend == "random-forest":
        results = [fit(*task, seed=seed, n_jobs=n_jobs) for task in tasks]
    else:
        results = [fit(*task, seed=seed) for task in tasks]
    importance = np.stack([r[0] for r in results], axis=1).astype(np.float64)
    return importance, np.array([r[1] for r in results]), np.array([r[2] for r in results])
