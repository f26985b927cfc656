"""Factor read-outs: small sklearn models predicting each factor from an observation (torch-free).

They turn decoder outputs into factor terms.  Observations are flattened, reduced by a seeded PCA,
standardised, then fitted with ridge regression (continuous factors) or multinomial logistic
regression (discrete factors, predicted as the probability-weighted mean class value).  Image
read-outs also see four pooled intensity statistics of the observation, ``Σx``, ``max x`` and their
logarithms (``log(· + 1e-3)`` of the positive part): position-invariant terms a linear read-out of
principal components lacks (a sprite's brightness is its peak intensity wherever it sits).

**Factorial read-outs** (:func:`readouts`) are fitted on renders of *independently sampled*
factors (each factor's observational marginal, columns shuffled independently, rendered by the
dataset's generator; datasets without a generator must have independent factors), so a correlated
factor cannot stand in for the one being read.  Each read-out carries

- its held-out R² (continuous) or accuracy (discrete);
- a tolerance ``τ_j``: the 95th percentile of ``|R_j(render(v)) - v_j|`` on the held-out renders;
- cross-talk ``C[k, j] = E|R_j(x'_k) - R_j(x)| / sd(V_j)`` on factor-controlled pairs of true renders
  (only factor k differs), so ``C[j, j]`` is its own sensitivity and ``C[k, j]``, k != j, its leakage;
- a status: ``"weak"`` when the held-out R² (or the chance-corrected accuracy
  ``(acc - base) / (1 - base)``) is below ``weak``; else ``"leaks"`` when
  ``max_{k != j} C[k, j] > τ_j / sd(V_j)`` (another factor moves it by more than its own error);
  else ``"ok"`` (``"unchecked"`` while no cross-talk is measured).  Analyses that rely on read-outs
  use only the ``"ok"`` ones (:attr:`FactorReadouts.usable`).

``B`` (:meth:`FactorReadouts.effects`) is the latent × read-out-factor matrix: ``B[i, k]`` = mean
change of predicted factor k when latent i is intervened on, in units of factor k's standard deviation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalvae.effects import EffectMatrix
from causalvae.units import factor_id

STATUSES = ("ok", "weak", "leaks", "unchecked")
POOLED_EPS = 1e-3
SCORE_COLUMNS = ["factor", "kind", "metric", "train", "test", "baseline", "tolerance", "leak", "status"]


@dataclass(frozen=True)
class ReadoutParameters:
    """The fitted read-outs as arrays, for re-implementing them elsewhere (e.g. differentiably in torch).

    With ``x`` flattened to (N, P): ``f = [(x - pca_mean) @ pca_components.T, pooled(x)]`` (the pooled
    statistics only when ``pooled``: see :func:`pooled_statistics`), ``features = (f - feature_mean) /
    feature_scale``; per factor, a ``"continuous"`` head predicts ``features @ weight + bias``; a
    ``"discrete"`` head has logits ``features @ weight.T + bias`` (one row per class; a single row means
    logits ``(0, t)`` for two classes) and predicts ``softmax(logits) @ classes``.
    """

    pca_components: np.ndarray
    pca_mean: np.ndarray
    pooled: bool
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    heads: tuple[tuple[str, np.ndarray, np.ndarray, np.ndarray | None], ...]
    obs_shape: tuple[int, ...]


def pooled_statistics(flat: np.ndarray) -> np.ndarray:
    """(N, 4): ``Σx``, ``max x``, ``log(Σx⁺ + ε)``, ``log(max x⁺ + ε)`` of flattened observations (ε = 1e-3).

    >>> pooled_statistics(np.array([[0.0, 0.5, 0.5]])).round(3).tolist()
    [[1.0, 0.5, 0.001, -0.691]]
    """
    total, peak = flat.sum(axis=1), flat.max(axis=1)
    return np.stack([total, peak, np.log(np.maximum(total, 0) + POOLED_EPS), np.log(np.maximum(peak, 0) + POOLED_EPS)],
                    axis=1)


class _Features:
    """Principal components (plus pooled statistics) of flattened observations, standardised."""

    def __init__(self, pca: Any, scaler: Any, pooled: bool) -> None:
        self.pca, self.scaler, self.pooled = pca, scaler, pooled

    def raw(self, flat: np.ndarray) -> np.ndarray:
        f = self.pca.transform(flat)
        return np.hstack([f, pooled_statistics(flat)]) if self.pooled else f

    def transform(self, flat: np.ndarray) -> np.ndarray:
        return self.scaler.transform(self.raw(flat))


class FactorReadouts:
    """Fitted read-outs; build with :func:`readouts` (factorial) or :func:`fit_readouts`.

    Attributes
    ----------
    factor_names, factor_kinds : one entry per factor.
    scores : one row per factor: ``factor, kind, metric`` (``r2`` or ``accuracy``), ``train``,
        ``test``, ``baseline`` (0 for R²; majority-class rate for accuracy), ``tolerance`` (τ),
        ``leak`` (max off-diagonal cross-talk, NaN when unmeasured) and ``status``.
    factor_std : per-factor standard deviation of the training targets (effect units).
    tolerance : (K,) held-out 95th-percentile absolute error τ.
    cross_talk : (K, K) matrix C (rows: changed factor, columns: read-out), or None.
    """

    def __init__(self, *, reducer: Any, models: list[Any], factor_names: Sequence[str], factor_kinds: Sequence[str],
                 factor_std: np.ndarray, scores: pd.DataFrame, obs_shape: tuple[int, ...], tolerance: np.ndarray,
                 cross_talk: np.ndarray | None = None, weak: float = 0.7) -> None:
        self._reducer, self._models = reducer, models
        self.factor_names, self.factor_kinds = tuple(factor_names), tuple(factor_kinds)
        self.factor_std, self.obs_shape, self.weak = factor_std, obs_shape, weak
        self.tolerance, self.cross_talk = np.asarray(tolerance, dtype=np.float64), cross_talk
        k = len(self.factor_names)
        if cross_talk is not None and np.shape(cross_talk) != (k, k):
            raise ValueError(f"cross_talk must have shape ({k}, {k}), got {np.shape(cross_talk)}")
        self.scores = _with_status(scores, self.tolerance / factor_std, cross_talk, weak)

    @property
    def usable(self) -> np.ndarray:
        """(K,) bool: read-outs whose status is ``"ok"`` (the only ones analyses may rely on)."""
        return (self.scores["status"] == "ok").to_numpy()

    def with_cross_talk(self, cross_talk: np.ndarray) -> "FactorReadouts":
        """The same read-outs with a measured cross-talk matrix (statuses recomputed)."""
        return FactorReadouts(reducer=self._reducer, models=self._models, factor_names=self.factor_names,
                              factor_kinds=self.factor_kinds, factor_std=self.factor_std,
                              scores=self.scores[SCORE_COLUMNS[:7]], obs_shape=self.obs_shape,
                              tolerance=self.tolerance, cross_talk=np.asarray(cross_talk, dtype=np.float64),
                              weak=self.weak)

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

    def parameters(self) -> ReadoutParameters:
        """The read-outs as arrays (:class:`ReadoutParameters`)."""
        r = self._reducer
        heads = tuple(("discrete", m.coef_, m.intercept_, m.classes_.astype(np.float64)) if kind == "discrete"
                      else ("continuous", m.coef_, np.asarray(m.intercept_), None)
                      for m, kind in zip(self._models, self.factor_kinds))
        return ReadoutParameters(r.pca.components_, r.pca.mean_, r.pooled, r.scaler.mean_, r.scaler.scale_, heads,
                                 self.obs_shape)

    def effects(self, baseline: np.ndarray, intervened: Mapping[str, np.ndarray], *,
                intervention: str = "do(z=c)", statistic: str = "mean_abs") -> EffectMatrix:
        """The source × read-out-factor matrix B from decoded outputs.

        Parameters
        ----------
        baseline : (N, ...) decoder outputs without intervention.
        intervened : per source (e.g. ``latent.mu[3]``), (N, ...) outputs under its intervention,
            paired with ``baseline`` row by row.
        statistic : ``"mean_abs"`` or ``"mean"`` of the change of each predicted factor, divided by
            the factor's training standard deviation (so ``meta["standardised"]``); the standard error
            is over the N paired outputs (``meta["replicates"] = N``).
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
                            stderr=np.array(stderr),
                            meta={"readout": "pca+linear", "standardised": True, "replicates": len(base)})


def _predict_value(model: Any, features: np.ndarray, kind: str) -> np.ndarray:
    if kind == "discrete":
        return model.predict_proba(features) @ model.classes_.astype(np.float64)
    return model.predict(features)


def fit_readouts(x: np.ndarray, factors: np.ndarray, *, factor_names: Sequence[str], factor_kinds: Sequence[str],
                 test_fraction: float = 0.2, n_components: int = 64, seed: int = 0,
                 weak: float = 0.7, pooled: bool | None = None) -> FactorReadouts:
    """Fit one read-out per factor on a random train split; score it and its tolerance on the held-out rest.

    Parameters
    ----------
    x : (N, ...) observations (images or vectors).
    factors : (N, K) factor values.
    factor_names, factor_kinds : per factor; kinds ``"discrete"`` or ``"continuous"``.
    test_fraction : held-out share of the samples.
    n_components : PCA dimensions (capped by the data).
    seed : seed of the split and the randomised PCA.
    weak : R² (or chance-corrected accuracy) below which a read-out's status is ``"weak"``.
    pooled : add the pooled intensity statistics to the features (None: for image observations).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, RidgeCV
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
    reducer = _Features(PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit(flat[train]),
                        StandardScaler(), x.ndim == 4 if pooled is None else pooled)
    features = reducer.scaler.fit_transform(reducer.raw(flat[train]))
    test_features = reducer.transform(flat[test])
    models, rows, errors = [], [], []
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
        errors.append(np.quantile(np.abs(_predict_value(model, test_features, kind) - v[test, j]), 0.95))
        rows.append({"factor": name, "kind": kind, **row, "tolerance": errors[-1]})
    std = v[train].std(axis=0)
    return FactorReadouts(reducer=reducer, models=models, factor_names=factor_names, factor_kinds=factor_kinds,
                          factor_std=np.where(std > 0, std, 1.0), scores=pd.DataFrame(rows, columns=SCORE_COLUMNS[:7]),
                          obs_shape=tuple(x.shape[1:]), tolerance=np.array(errors), weak=weak)


def _with_status(scores: pd.DataFrame, relative_tolerance: np.ndarray, cross_talk: np.ndarray | None,
                 weak: float) -> pd.DataFrame:
    out = scores[SCORE_COLUMNS[:7]].reset_index(drop=True).copy()
    chance = out["baseline"].where(out["metric"] == "accuracy", 0.0).to_numpy(dtype=np.float64)
    corrected = (out["test"].to_numpy(dtype=np.float64) - chance) / np.where(chance < 1, 1 - chance, 1.0)
    if cross_talk is None:
        out["leak"] = np.nan
    else:
        off = np.where(np.eye(len(out), dtype=bool), -np.inf, cross_talk)
        out["leak"] = off.max(axis=0) if len(out) > 1 else 0.0
    leaks = out["leak"].to_numpy() > relative_tolerance
    out["status"] = np.where(corrected < weak, "weak", np.where(leaks, "leaks",
                                                               "unchecked" if cross_talk is None else "ok"))
    return out


def factorial_sample(dataset: Any, *, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` factor rows with independent factors and their observations: ``(factors, x)``.

    With a generator (``dataset.intervene.observe``: SCM and procedural grid datasets), each factor's
    column of ``n`` dataset rows is shuffled independently (its observational marginal, no
    dependence left) and rendered, i.e. ``do(all factors)``; without one, the dataset rows themselves,
    which requires independent factors (a factor DAG without edges).

    >>> from causalvae.data import load
    >>> v, x = factorial_sample(load("scm-linear", n=50), n=8)
    >>> v.shape, x.shape
    ((8, 6), (8, 16))
    """
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(dataset), size=n, replace=n > len(dataset))
    observe = getattr(dataset.intervene, "observe", None)
    if observe is None:
        if dataset.factor_dag.number_of_edges():
            raise ValueError(f"factorial read-outs need a generator (dataset.intervene.observe) or independent "
                             f"factors; {dataset.name!r} has neither (its factor DAG has "
                             f"{dataset.factor_dag.number_of_edges()} edges)")
        return dataset.factors[rows], dataset.images(rows)
    factors = np.stack([rng.permutation(col) for col in dataset.factors[rows].T], axis=1)
    return factors, np.asarray(observe(factors), dtype=np.float32)


def cross_talk(fitted: FactorReadouts, dataset: Any, *, n_pairs: int = 200, seed: int = 0) -> np.ndarray:
    """(K, K) cross-talk ``C[k, j] = E|R_j(x'_k) - R_j(x)| / sd(V_j)`` on factor-controlled pairs of true
    observations (:func:`causalvae.data.factor_pairs` with ``hold="factors"``: only factor k differs)."""
    from causalvae.data import factor_pairs

    rows = []
    for name in fitted.factor_names:
        p = factor_pairs(dataset, name, n=n_pairs, seed=seed, hold="factors")
        rows.append(np.abs(fitted.predict(p.x_prime) - fitted.predict(p.x)).mean(axis=0) / fitted.factor_std)
    return np.array(rows)


def readouts(dataset: Any, *, n: int = 5000, test_fraction: float = 0.2, n_components: int = 64, seed: int = 0,
             n_pairs: int = 200, weak: float = 0.7) -> FactorReadouts:
    """Factorial read-outs of a ``FactorDataset``: fitted on ``n`` renders of independent factors
    (:func:`factorial_sample`), with tolerances, cross-talk on ``n_pairs`` pairs per factor and statuses
    (``"unchecked"`` where no factor-controlled pairs can be formed: neither an SCM nor a grid dataset).

    >>> from causalvae.data import load
    >>> r = readouts(load("scm-linear", n=400), n=400, n_pairs=50)
    >>> r.scores["status"].tolist()
    ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']
    """
    from causalvae.data.scm import SCMSampler

    factors, x = factorial_sample(dataset, n=n, seed=seed)
    fitted = fit_readouts(x, factors, factor_names=dataset.factor_names, factor_kinds=dataset.factor_kinds,
                          test_fraction=test_fraction, n_components=n_components, seed=seed, weak=weak)
    pairable = isinstance(dataset.intervene, SCMSampler) or (
        dataset.factor_values is not None and all(v is not None for v in dataset.factor_values))
    return fitted.with_cross_talk(cross_talk(fitted, dataset, n_pairs=n_pairs, seed=seed)) if pairable else fitted
