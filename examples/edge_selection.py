"""Edge selection shared by the examples: relative thresholds per layer pair.

``causal_unit_graph(..., rule="fdr")`` needs standard errors, which the exact sweeps do not
report; these examples therefore keep an effect when its magnitude is at least ``fraction`` of the
strongest effect measured between the same two layers (so one strong early layer does not hide
every later edge).
"""

from __future__ import annotations

import numpy as np

from causalvae.effects import EffectMatrix
from causalvae.units import is_factor, site_of


def layer_of(uid: str) -> str:
    """The site of a unit id; every factor counts as one layer, ``factor``."""
    return "factor" if is_factor(uid) else site_of(uid)


def by_site_pair(matrix: EffectMatrix) -> list[EffectMatrix]:
    """``matrix`` split into one block per (source site, target site) pair."""
    sources = dict.fromkeys(layer_of(s) for s in matrix.sources)
    targets = dict.fromkeys(layer_of(t) for t in matrix.targets)
    blocks = [matrix.select(sources=[s for s in matrix.sources if layer_of(s) == a],
                            targets=[t for t in matrix.targets if layer_of(t) == b])
              for a in sources for b in targets]
    return [m for m in blocks if np.any(m.values != 0)]


def relative_thresholds(matrices: list[EffectMatrix], *, fraction: float = 0.1) -> list[float]:
    """One threshold per matrix: ``fraction`` of its largest |effect|."""
    return [fraction * float(np.max(np.abs(m.values))) for m in matrices]


def threshold_blocks(matrices: list[EffectMatrix], *, fraction: float = 0.1) -> dict:
    """Keyword arguments for :func:`causalvae.causal.causal_unit_graph`: every matrix split by site
    pair, each block with its own relative threshold."""
    blocks = [b for m in matrices for b in by_site_pair(m)]
    return {"matrices": blocks, "rule": "threshold", "thresholds": relative_thresholds(blocks, fraction=fraction)}
