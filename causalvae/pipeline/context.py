"""What the stages of one run share: the config, the run folder and the results so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, SupportsFloat, Union

import numpy as np

from causalvae.effects import EffectMatrix
from causalvae.pipeline.config import RunConfig
from causalvae.pipeline.runner import RunWorkspace
from causalvae.report.artifacts import ArtifactRegistry

if TYPE_CHECKING:  # the run's torch / pandas / networkx types, never imported at run time from here
    import networkx as nx
    import pandas as pd

    from causalvae.causal.readouts import FactorReadouts
    from causalvae.data import FactorDataset, FactorPairs
    from causalvae.interventions import Spread
    from causalvae.models import VAE

#: A recorded metric: a float, or ``{"value", "ci_low", "ci_high"}`` when it has a confidence interval.
Metric = Union[float, dict[str, float]]


@dataclass
class RunContext:
    """Mutable state threaded through the stages (each stage adds what it produced).

    Attributes
    ----------
    config, folder : the run's configuration and its run folder (log, status).
    dataset : the factor dataset (stage ``data``).
    model : the trained or loaded VAE, in eval mode (stage ``train``).
    x_analysis : the analysis inputs, N x C x H x W or N x D float32 (stage ``data``).
    effects : effect matrices by name, and per-latent arrays (``latent_information``, ``latent_kl``).
    graphs, tables : networkx graphs and pandas tables by name; export writes effects, graphs and tables.
    metrics : ``metrics.json``'s entries (see :meth:`metric`).
    readouts : the factor read-outs of decoded images (stage ``readouts``).
    spread : the natural spread of every analysed unit (stage ``unit_ablation``).
    artifacts : what the stages declare they add to the run folder (:func:`causalvae.pipeline.run_artifacts`);
        export writes nothing else, the report reads by it.
    """

    config: RunConfig
    folder: RunWorkspace
    dataset: FactorDataset | None = None
    model: VAE | None = None
    x_analysis: np.ndarray | None = None
    effects: dict[str, EffectMatrix | np.ndarray] = field(default_factory=dict)
    graphs: dict[str, nx.DiGraph] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    readouts: FactorReadouts | None = None
    spread: Spread | None = None
    artifacts: ArtifactRegistry | None = None

    _pairs: dict[str, FactorPairs] = field(default_factory=dict, repr=False)

    def pairs(self, factor: str) -> FactorPairs:
        """Factor-controlled pairs for ``factor``, drawn once per run (shared by mediation and circuits)."""
        if factor not in self._pairs:
            from causalvae import data

            self._pairs[factor] = data.factor_pairs(self.dataset, factor, n=self.config.n_pairs,
                                                    seed=self.config.seed)
        return self._pairs[factor]

    def metric(self, key: str, value: SupportsFloat, *, ci: tuple[float, float] | None = None) -> None:
        """Record a metric (a float, or a float with its confidence interval)."""
        value = float(value)
        self.metrics[key] = value if ci is None else {"value": value, "ci_low": float(ci[0]), "ci_high": float(ci[1])}
