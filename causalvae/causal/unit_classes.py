"""Dead / monosemantic / polysemantic units from normalised factor responses (DESIGN §5).

For unit ``u`` with factor responses ``e_k`` (a factor × unit :class:`EffectMatrix`), the
normalised responses are ``r_k = |e_k| / Σ_j |e_j|``.  The unit is

* ``dead`` if ``Σ_k |e_k| < dead``;
* ``monosemantic`` if ``max_k r_k ≥ mono`` (assigned to that factor);
* ``polysemantic`` if at least two factors have ``r_k ≥ poly``;
* ``diffuse`` otherwise (responds, but to no factor clearly);
* ``silent`` — before any of the above — if the response matrix flags it as silent on the data
  (``meta["silent"]``, :func:`causalvae.interventions.factor_effects`): a unit whose activation
  barely varies over the data has no factor selectivity to speak of, however its few responses
  happen to split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causalvae.effects import EffectMatrix
from causalvae.units import is_factor, parse_factor, site_of

CLASSES = ("silent", "dead", "monosemantic", "polysemantic", "diffuse")


def classify_units(responses: EffectMatrix, *, dead: float = 0.01, mono: float = 0.7,
                   poly: float = 0.25) -> pd.DataFrame:
    """Classify every target unit of a factor × unit response matrix.

    Parameters
    ----------
    responses : rows ``factor.<name>``, columns unit ids (e.g. the input-manipulation matrix).
    dead, mono, poly : the thresholds of the module docstring (``mono`` takes precedence over ``poly``).

    Returns
    -------
    One row per unit: ``unit, site, class, factor`` (top factor; empty for dead units),
    ``purity`` (max r_k), ``total`` (Σ|e_k|) and ``factors`` (comma-joined factors with r_k ≥ poly).
    """
    bad = [s for s in responses.sources if not is_factor(s)]
    if bad:
        hint = " (transpose it?)" if all(is_factor(t) for t in responses.targets) else ""
        raise ValueError(f"responses must have factor rows 'factor.<name>'{hint}; got non-factor rows {bad[:5]}")
    if not (0 < poly <= mono <= 1) or dead < 0:
        raise ValueError(f"need dead >= 0 and 0 < poly <= mono <= 1, got dead={dead}, mono={mono}, poly={poly}")
    names = [parse_factor(s) for s in responses.sources]
    mag = np.abs(responses.values)
    if not np.isfinite(mag).all():
        raise ValueError("responses contain NaN or infinite values")
    total = mag.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(total > 0, mag / total, 0.0)
    silent = set(responses.meta.get("silent", ()))
    rows = []
    for j, unit in enumerate(responses.targets):
        top = int(np.argmax(r[:, j]))
        strong = [names[k] for k in np.flatnonzero(r[:, j] >= poly)]
        if unit in silent:
            cls = "silent"
        elif total[j] < dead:
            cls = "dead"
        elif r[top, j] >= mono:
            cls = "monosemantic"
        elif len(strong) >= 2:
            cls = "polysemantic"
        else:
            cls = "diffuse"
        rows.append({"unit": unit, "site": site_of(unit), "class": cls,
                     "factor": "" if cls in ("dead", "silent") else names[top], "purity": float(r[top, j]),
                     "total": float(total[j]), "factors": "" if cls in ("dead", "silent") else ",".join(strong)})
    return pd.DataFrame(rows, columns=["unit", "site", "class", "factor", "purity", "total", "factors"])


def class_fractions(classes: pd.DataFrame) -> pd.DataFrame:
    """Fraction of each class per site (layer), plus the unit count ``n``."""
    counts = pd.crosstab(classes["site"], classes["class"]).reindex(columns=list(CLASSES), fill_value=0)
    fractions = counts.div(counts.sum(axis=1), axis=0)
    fractions.insert(0, "n", counts.sum(axis=1))
    return fractions.reindex(pd.unique(classes["site"]))
