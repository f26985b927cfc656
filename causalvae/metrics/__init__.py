"""Disentanglement and interventional metrics on numpy arrays (no torch).

Disentanglement suite (definitions as in disentanglement_lib; see ``docs/metrics.md``):
:func:`mig`, :func:`sap`, :func:`dci` (importance back ends "gbt", "random-forest", "logistic",
"lasso"), :func:`dci_from_importance`, :func:`modularity`, :func:`explicitness`, :func:`irs`,
:func:`factor_vae_score`, :func:`beta_vae_score`, :func:`gaussian_total_correlation`,
:func:`active_mask` / :func:`n_active_latents`, and :func:`suite` over a shared
:class:`CodeCache`. Interventional metrics (CES, specificity, circuit modularity) live in
:mod:`causalvae.metrics.interventional`. Names are imported lazily on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from causalvae.metrics import suite_registry

#: Lazy public names: the suite's rows (:data:`~causalvae.metrics.suite_registry.SUITE`) and the shared parts.
_EXPORTS = {
    **suite_registry.exports(),
    "BACKENDS": "importance", "importance_matrix": "importance",
    "CodeCache": "sampling", "FactorGroups": "sampling",
    "histogram_discretize": "discrete", "discrete_mutual_info": "discrete", "discrete_entropy": "discrete",
    "discrete_factors": "validation",
    "suite": "suite_runner", "DEFAULT_DCI_BACKENDS": "suite_runner",
    "SUITE": "suite_registry", "SuiteMetric": "suite_registry",
}


def _interventional_names() -> list[str]:
    """Public functions of the interventional module, once it exists (written by another stage)."""
    try:
        module = importlib.import_module("causalvae.metrics.interventional")
    except ModuleNotFoundError as err:
        if err.name != "causalvae.metrics.interventional":
            raise
        return []
    return list(getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")
                                             and callable(getattr(module, n))
                                             and getattr(getattr(module, n), "__module__", "") == module.__name__]))


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"causalvae.metrics.{_EXPORTS[name]}"), name)
    if not name.startswith("_") and name in _interventional_names():
        return getattr(importlib.import_module("causalvae.metrics.interventional"), name)
    raise AttributeError(f"module 'causalvae.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*_EXPORTS, *_interventional_names()])
