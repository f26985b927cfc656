"""Factor read-outs: small sklearn models predicting each factor from an observation (torch-free).

They turn decoder outputs into factor terms: the latent × read-out-factor effect matrix ``B``
(``B[i, k]`` = mean change of the predicted factor k when latent i is intervened on, in units of
factor k's standard deviation).  Observations are flattened, reduced by a seeded PCA, standardised,
then fitted with ridge regression (continuous factors) or multinomial logistic regression
(discrete factors, predicted as the probability-weighted mean class value).  Held-out R² /
accuracy is reported so a weak read-out is never taken at face value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from causalvae.effects import EffectMatrix
from causalvae.units import factor_id


class FactorReadouts:
    """Fitted read-outs; build with :func:`fit_readouts` or :func:`readouts`.

    Attributes
    ----------
    factor_names, factor_kinds : one entry per factor.
    scores : one row per factor: ``factor, kind, metric`` (``r2`` or ``accuracy``), ``train``,
        ``test`` and ``baseline`` (0 for R²; majority-class rate for accuracy).
    factor_std : per-factor standard deviation of the training targets (effect units).
    """

    def __init__(self, *, reducer: Any, models: list[Any], factor_names: Sequence[str], factor_kinds: Sequence[str],
                 factor_std: np.ndarray, scores: pd.DataFrame, obs_shape: tuple[int, ...]) -> None:
        self._reducer, self._models = reducer, models
        self.factor_names, self.factor_kinds = tuple(factor_names), tuple(factor_kinds)
        self.factor_std, self.scores, self.obs_shape = factor_std, scores, obs_shape

    def _features(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if tuple(x.shape[1:]) != self.obs_shape:
            raise ValueError(f"observations must have shape (N, {', '.join(map(str, self.obs_shape))}), "
                             f"got {x.shape}")
        return self._reducer.transform(x.reshape(len(x), -1))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, K) predicted factor values (expected class value for discrete factors)."""
        features = self._features(x)
        cols = [_predict_value(m, features, kind) for m, kind in zip(self._models, self.factor_kinds)]
        return np.stack(cols, axis=1)

    def effects(self, baseline: np.ndarray, intervened: Mapping[str, np.ndarray], *,
                intervention: str = "do(z=c)", statistic: str = "mean_abs") -> EffectMatrix:
        """The source × read-out-factor matrix B from decoded outputs.

        Parameters
        ----------
        baseline : (N, ...) decoder outputs without intervention.
        intervened : per source (e.g. ``latent.mu[3]``), (N, ...) outputs under its intervention,
            paired with ``baseline`` row by row.
        statistic : ``"mean_abs"`` or ``"mean"`` of the change of each predicted factor, divided by
            the factor's training standard deviation.
        """
        if statistic not in ("mean_abs", "mean"):
            raise ValueError(f"statistic must be 'mean_abs' or 'mean', got {statistic!r}")
        if not intervened:
            raise ValueError("intervened must map at least one source id to its outputs")
        base = self.predict(baseline)
        if len(base) < 2:
            raise ValueError(f"need >= 2 paired outputs for a standard error, got {len(base)}")
        rows, stderr = [], []
        for source, out in intervened.items():
            if np.shape(out)[0] != len(base):
                raise ValueError(f"{source!r}: {np.shape(out)[0]} outputs, expected {len(base)} (paired with baseline)")
            delta = (self.predict(out) - base) / self.factor_std
            delta = np.abs(delta) if statistic == "mean_abs" else delta
            rows.append(delta.mean(axis=0))
            stderr.append(delta.std(axis=0, ddof=1) / np.sqrt(len(delta)))
        return EffectMatrix(np.array(rows), list(intervened), [factor_id(f) for f in self.factor_names],
                            intervention=intervention, statistic=statistic, n_samples=len(base),
                            stderr=np.array(stderr), meta={"readout": "pca+linear"})


def _predict_value(model: Any, features: np.ndarray, kind: str) -> np.ndarray:
    if kind == "discrete":
        return model.predict_proba(features) @ model.classes_.astype(np.float64)
    return model.predict(features)


def fit_readouts(x: np.ndarray, factors: np.ndarray, *, factor_names: Sequence[str], factor_kinds: Sequence[str],
                 test_fraction: float = 0.2, n_components: int = 64, seed: int = 0) -> FactorReadouts:
    """Fit one read-out per factor on a random train split; score it on the held-out rest.

    Parameters
    ----------
    x : (N, ...) observations (images or vectors).
    factors : (N, K) factor values.
    factor_names, factor_kinds : per factor; kinds ``"discrete"`` or ``"continuous"``.
    test_fraction : held-out share of the samples.
    n_components : PCA dimensions (capped by the data).
    seed : seed of the split and the randomised PCA.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(factors, dtype=np.float64)
    k = len(factor_names)
    if v.ndim != 2 or v.shape != (len(x), k) or len(factor_kinds) != k:
        raise ValueError(f"factors must have shape (N, K) = ({len(x)}, {k}) with {k} kinds, got {v.shape} "
                         f"and {len(factor_kinds)} kinds")
    if not (np.isfinite(x).all() and np.isfinite(v).all()):
        raise ValueError("observations and factors must be finite (found NaN or inf)")
    if not 0 < test_fraction < 1 or len(x) < 10:
        raise ValueError(f"need test_fraction in (0, 1) and >= 10 samples, got {test_fraction} and {len(x)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = order[:n_test], order[n_test:]
    flat = x.reshape(len(x), -1)
    dims = min(n_components, flat.shape[1], len(train) - 1)
    reducer = make_pipeline(PCA(n_components=dims, svd_solver="randomized", random_state=seed), StandardScaler())
    features = reducer.fit_transform(flat[train])
    test_features = reducer.transform(flat[test])
    models, rows = [], []
    for j, (name, kind) in enumerate(zip(factor_names, factor_kinds)):
        if kind == "discrete":
            model = LogisticRegression(max_iter=2000).fit(features, v[train, j])
            _, counts = np.unique(v[test, j], return_counts=True)
            row = {"metric": "accuracy", "train": model.score(features, v[train, j]),
                   "test": model.score(test_features, v[test, j]), "baseline": counts.max() / len(test)}
        elif kind == "continuous":
            model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(features, v[train, j])
            row = {"metric": "r2", "train": model.score(features, v[train, j]),
                   "test": model.score(test_features, v[test, j]), "baseline": 0.0}
        else:
            raise ValueError(f"factor {name!r}: kind must be 'discrete' or 'continuous', got {kind!r}")
        models.append(model)
        rows.append({"factor": name, "kind": kind, **row})
    std = v[train].std(axis=0)
    return FactorReadouts(reducer=reducer, models=models, factor_names=factor_names, factor_kinds=factor_kinds,
                          factor_std=np.where(std > 0, std, 1.0),
                          scores=pd.DataFrame(rows, columns=["factor", "kind", "metric", "train", "test", "baseline"]),
                          obs_shape=tuple(x.shape[1:]))


def readouts(dataset: Any, *, n: int | None = 5000, test_fraction: float = 0.2, n_components: int = 64,
             seed: int = 0) -> FactorReadouts:
    """:func:`fit_readouts` on (a seeded random subset of ``n`` samples of) a ``FactorDataset``."""
    size = len(dataset)
    idx = np.sort(np.random.default_rng(seed).choice(size, size=min(n, size), replace=False)) if n else np.arange(size)
    return fit_readouts(dataset.images(idx), dataset.factors[idx], factor_names=dataset.factor_names,
                        factor_kinds=dataset.factor_kinds, test_fraction=test_fraction,
                        n_components=n_components, seed=seed)
