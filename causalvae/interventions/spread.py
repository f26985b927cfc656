"""Natural spread of units over the data: the scale against which effects are judged.

A unit's spread is the standard deviation of its activation over inputs (per spatial position for
conv channels, then averaged over positions).  A unit that is silent on the data has spread ≈ 0;
dividing by it would let a handful of near-silent units dominate every normalised response, so each
spread is floored at ``relative_floor`` × the RMS spread of its site (the layer's typical
variation).  Units below that floor are *silent* and are flagged: unit classes and alignment leave
them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from causalvae.interventions.analysis import analysis
from causalvae.interventions.batching import chunks
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.spec import ModelSpec
from causalvae.interventions.effect_plumbing import as_inputs, resolve_sources
from causalvae.modelstate import restores_model_state
from causalvae.units import unit_id

DEFAULT_RELATIVE_FLOOR = 0.1


@dataclass(frozen=True)
class Spread:
    """Per-unit spread over the data: ``values`` (floored, by unit id), ``raw`` (unfloored), ``silent``
    (units whose raw spread is below their site's floor) and ``floor`` (by site)."""

    values: dict[str, float]
    raw: dict[str, float]
    silent: tuple[str, ...]
    floor: dict[str, float]


class Moments:
    """Running float64 sums of activations and their squares per site, for (unit, position) cells."""

    def __init__(self) -> None:
        self.sums: dict[str, list[torch.Tensor]] = {}
        self.n = 0

    def add(self, acts: dict[str, torch.Tensor], n_inputs: int) -> None:
        for site, a in acts.items():
            a = a.double().reshape(a.shape[0], a.shape[1], -1)
            s = self.sums.setdefault(site, [torch.zeros(a.shape[1:], dtype=torch.float64, device=a.device)] * 2)
            self.sums[site] = [s[0] + a.sum(0), s[1] + (a * a).sum(0)]
        self.n += n_inputs

    def spread(self, site: str, units: Sequence[int]) -> np.ndarray:
        """Per unit: std over inputs per position, averaged over positions."""
        s1, s2 = (t / self.n for t in self.sums[site])
        sd = torch.sqrt(torch.clamp(s2 - s1 * s1, min=0.0)).mean(1)
        return sd[list(units)].cpu().numpy()


def floored(raw: dict[str, np.ndarray], sources: dict[str, list[int]], *, relative_floor: float) -> Spread:
    """Apply the per-site floor ``relative_floor × RMS spread of the site`` to raw spreads."""
    if not (np.isfinite(relative_floor) and 0 <= relative_floor <= 1):
        raise ValueError(f"relative_floor must lie in [0, 1], got {relative_floor!r}")
    values, raws, silent, floors = {}, {}, [], {}
    for site, units in sources.items():
        sd = raw[site]
        floor = float(relative_floor * np.sqrt(np.mean(sd ** 2))) if sd.size else 0.0
        floors[site] = floor
        for u, s in zip(units, sd):
            uid = unit_id(site, u)
            raws[uid] = float(s)
            values[uid] = max(float(s), floor)
            if s < floor or s == 0:
                silent.append(uid)
    return Spread(values, raws, tuple(silent), floors)


@restores_model_state()
def activation_spread(model: nn.Module, x, *, sites: Iterable[str], relative_floor: float = DEFAULT_RELATIVE_FLOOR,
                      device: torch.device | str | None = None, batch_size: int = 64,
                      spec: ModelSpec | None = None) -> Spread:
    """Spread of every unit of ``sites`` over the inputs ``x`` (module docstring); ``spec`` declares a
    foreign model's latent and reconstruction (:class:`~causalvae.interventions.ModelSpec`).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]])); _ = net[0].bias.zero_()
    >>> s = activation_spread(net, torch.tensor([[1.0, 0.0], [3.0, 0.0]]), sites=["1"])
    >>> s.values["1[0]"], s.silent
    (1.0, ('1[1]',))
    """
    x = as_inputs(x)
    sites = list(dict.fromkeys(sites))
    with analysis(model, x, spec=spec, sites=sites, device=device) as an:
        sources = resolve_sources(an.module, an.probe(x, sites), sites)
        moments = Moments()
        with torch.no_grad():
            for rows in chunks(len(x), batch_size):
                acts = forward_capture(an.module, an.tensor(x, rows), list(sources))[0]
                moments.add({s: acts[s][:, units] for s, units in sources.items()}, rows.stop - rows.start)
    raw = {site: moments.spread(site, range(len(units))) for site, units in sources.items()}
    return floored(raw, sources, relative_floor=relative_floor)
