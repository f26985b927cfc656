"""What the stages of one run share: the config, the run folder and the results so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from causalvae.pipeline.config import RunConfig
from causalvae.pipeline.runner import RunWorkspace


@dataclass
class RunContext:
    """Mutable state threaded through the stages (each stage adds what it produced)."""

    config: RunConfig
    folder: RunWorkspace
    dataset: Any = None
    model: Any = None
    x_analysis: np.ndarray | None = None
    effects: dict[str, Any] = field(default_factory=dict)
    graphs: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    readouts: Any = None
    spread: Any = None  # causalvae.interventions.Spread of the analysed units

    _pairs: dict[str, Any] = field(default_factory=dict, repr=False)

    def pairs(self, factor: str):
        """Factor-controlled pairs for ``factor``, drawn once per run (shared by mediation and circuits)."""
        if factor not in self._pairs:
            from causalvae import data

            self._pairs[factor] = data.factor_pairs(self.dataset, factor, n=self.config.n_pairs,
                                                    seed=self.config.seed)
        return self._pairs[factor]

    def metric(self, key: str, value: Any, *, ci: tuple[float, float] | None = None) -> None:
        """Record a metric (a float, or a float with its confidence interval)."""
        value = float(value)
        self.metrics[key] = value if ci is None else {"value": value, "ci_low": float(ci[0]), "ci_high": float(ci[1])}
