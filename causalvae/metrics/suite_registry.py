"""The disentanglement suite's one registry: a row per metric, read by :func:`~causalvae.metrics.suite`
(what runs, in order), by :mod:`causalvae.metrics`' lazy exports (the row's public names) and by
whoever describes the numbers (each row's key pattern, direction and definition).

A new suite metric is its module in ``causalvae/metrics/`` plus one row (and, when its call is not
one of the shapes below, a two-line adapter) here.  Importing this module imports no metric.

>>> [m.name for m in SUITE][:3]
['mig', 'sap', 'dci']
>>> suite_metric_of("dci.lasso.completeness").direction
'higher'
>>> suite_metric_of("dci.lasso.completeness").definition_of("dci.lasso.completeness")
'DCI completeness: how much each factor is captured by one latent.'
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

HIGHER, LOWER, NEUTRAL = "higher", "lower", "neutral"


@dataclass(frozen=True)
class SuiteInputs:
    """What every suite metric may read: the train / test codes and factors of one shared pool."""

    cache: Any  # causalvae.metrics.CodeCache
    z_train: np.ndarray
    v_train: np.ndarray
    z_test: np.ndarray
    v_test: np.ndarray
    kl: np.ndarray | None
    n_bins: int
    seed: int
    n_jobs: int
    dci_backends: Sequence[str]


def _train(fn: Callable, s: SuiteInputs) -> dict[str, float]:
    """A metric of the train split binned into ``n_bins`` (MIG, modularity, IRS)."""
    return fn(s.z_train, s.v_train, n_bins=s.n_bins)


def _split(fn: Callable, s: SuiteInputs) -> dict[str, float]:
    """A metric fitted on train and scored on test (SAP, explicitness)."""
    return fn(s.z_train, s.v_train, s.z_test, s.v_test, n_jobs=s.n_jobs)


def _sampled(fn: Callable, s: SuiteInputs) -> dict[str, float]:
    """A metric that draws its own batches from the pool (FactorVAE, beta-VAE scores)."""
    return fn(s.cache, seed=s.seed)


def _mig(fn: Callable, s: SuiteInputs) -> dict[str, float]:
    return {"mig": _train(fn, s)["mig"]}


def _dci(fn: Callable, s: SuiteInputs) -> dict[str, float]:
    out = {}
    for backend in s.dci_backends:
        scores = fn(s.z_train, s.v_train, s.z_test, s.v_test, backend=backend, seed=s.seed, n_jobs=s.n_jobs)
        out.update({f"dci.{backend}.{name}": value for name, value in scores.items()})
    return out


def _total_correlation(fn: Callable, s: SuiteInputs) -> dict[str, float]:
    return fn(s.z_train)


def _active(fn: Callable, s: SuiteInputs) -> dict[str, float]:
    return {"n_active_latents": float(fn(kl=s.kl) if s.kl is not None else fn(codes=s.z_train))}


@dataclass(frozen=True)
class SuiteMetric:
    """One row: ``function`` of ``causalvae.metrics.<module>``, called through ``call``.

    Attributes
    ----------
    name : the function's name (also the row's name).
    module : its module under ``causalvae.metrics``.
    call : ``call(function, inputs) -> {key: value}``, one of the shapes above.
    exports : further public names the module lends to :mod:`causalvae.metrics`.
    keys : ``fnmatch`` patterns of the keys it writes; direction and definition describe them.
    sampled : draws its own samples (left out by ``suite(sampled=False)``).
    parts : ``(key pattern, definition)`` of keys that mean more than ``definition`` says (DCI's three).
    """

    name: str
    module: str
    call: Callable[[Callable, SuiteInputs], dict[str, float]]
    keys: tuple[str, ...]
    direction: str
    definition: str
    exports: tuple[str, ...] = ()
    sampled: bool = False
    parts: tuple[tuple[str, str], ...] = ()

    def definition_of(self, key: str) -> str:
        """The definition of one of the row's keys: its part's, else the row's."""
        return next((text for pattern, text in self.parts if fnmatch.fnmatchcase(key, pattern)), self.definition)

    def run(self, inputs: SuiteInputs) -> dict[str, float]:
        function = getattr(importlib.import_module(f"causalvae.metrics.{self.module}"), self.name)
        return self.call(function, inputs)


SUITE: tuple[SuiteMetric, ...] = (
    SuiteMetric("mig", "information_gap", _mig, ("mig",), HIGHER,
                "Mutual information gap: normalised gap between the two latents most informative about a factor.",
                exports=("top_two_gap",)),
    SuiteMetric("sap", "attribute_predictability", _split, ("sap",), HIGHER,
                "SAP: gap in factor-prediction score between the two best single latents.",
                exports=("sap_score_matrix",)),
    SuiteMetric("dci", "dci_scores", _dci, ("dci.*",), HIGHER,
                "DCI disentanglement / completeness / informativeness from latent-to-factor importances.",
                exports=("dci_from_importance", "dci_importance"),
                parts=(("dci.*.disentanglement", "DCI disentanglement: how much each latent captures one factor "
                                                 "(importance-weighted 1 − entropy)."),
                       ("dci.*.completeness", "DCI completeness: how much each factor is captured by one latent."),
                       ("dci.*.informativeness*", "DCI informativeness: accuracy of predicting factors from latents."))),
    SuiteMetric("modularity", "modularity_explicitness", _train, ("modularity",), HIGHER,
                "Modularity: how much each latent depends on one factor only.", exports=("modularity_from_mi",)),
    SuiteMetric("explicitness", "modularity_explicitness", _split, ("explicitness_*",), HIGHER,
                "Explicitness: AUC of a linear factor classifier on the latents."),
    SuiteMetric("irs", "robustness", _train, ("irs", "irs_active_dims"), HIGHER,
                "Interventional robustness: latents stay put when nuisance factors change."),
    SuiteMetric("gaussian_total_correlation", "unsupervised", _total_correlation, ("gaussian_tc", "tc_latents"), LOWER,
                "Total correlation of a Gaussian fit of the latent means (nats)."),
    SuiteMetric("n_active_latents", "unsupervised", _active, ("n_active_latents",), NEUTRAL,
                "Latents with mean KL above 0.01 nats (or posterior-mean variance above 0.01).",
                exports=("active_mask",)),
    SuiteMetric("factor_vae_score", "sampled", _sampled, ("factor_vae_*",), HIGHER,
                "FactorVAE score: majority-vote accuracy of naming the fixed factor from the least varying latent.",
                sampled=True),
    SuiteMetric("beta_vae_score", "sampled", _sampled, ("beta_vae_*",), HIGHER,
                "beta-VAE score: accuracy of a linear classifier naming the fixed factor from latent differences.",
                sampled=True),
)


def exports() -> dict[str, str]:
    """``{public name: module}`` of every row, for :mod:`causalvae.metrics`' lazy imports."""
    return {name: m.module for m in SUITE for name in (m.name, *m.exports)}


def suite_metric_of(key: str) -> SuiteMetric | None:
    """The row that writes ``key`` (a suite key, without the ``disentanglement.`` prefix), or None."""
    return next((m for m in SUITE if any(fnmatch.fnmatchcase(key, pattern) for pattern in m.keys)), None)
