"""Input manipulations (factor-controlled pairs) and latent perturbations ``do(z_i = c)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from causalvae.effects import EffectMatrix
from causalvae.interventions.alternatives import Alternative
from causalvae.interventions.batching import chunks, to_tensor
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.spread import DEFAULT_RELATIVE_FLOOR, Moments, floored
from causalvae.interventions.sweep import as_inputs, probe, resolve, resolve_device, resolve_sources, run_exact
from causalvae.interventions.targets import OUTPUT_L2, STATISTICS, StatisticAccumulator, columns
from causalvae.modelstate import restores_model_state
from causalvae.units import factor_id, unit_id

DEFAULT_GRID = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
DEFAULT_QUANTILES = (0.02, 0.16, 0.5, 0.84, 0.98)


@restores_model_state()
def factor_effects(model: nn.Module, dataset, *, sites: Sequence[str] | None = None, n_pairs: int = 256,
                   seed: int = 0, factors: Sequence[str] | None = None, statistic: str = "mean_abs",
                   relative_floor: float = DEFAULT_RELATIVE_FLOOR, hold: str = "noise",
                   device: torch.device | str | None = None, batch_size: int = 64) -> EffectMatrix:
    """Factor x unit responses from factor-controlled pairs (DESIGN §5, input manipulation).

    For factor k, pairs (x, x'_k) come from :func:`causalvae.data.factor_pairs`; the response of
    unit u is ``stat(a_u(x'_k) - a_u(x)) / spread_u``, the statistic running over pairs (and
    positions of conv units).  ``spread_u`` is the unit's standard deviation pooled over every x and
    x' of all factors' pairs, floored at ``relative_floor`` × its site's RMS spread
    (:mod:`causalvae.interventions.spread`), so a unit that is silent on the data cannot dominate.
    The result is *standardised* (``meta["standardised"]``: responses are in units of the target's
    spread); ``meta["silent"]`` lists the units below their site's floor.

    Returns
    -------
    EffectMatrix with rows ``factor.<name>`` and columns the unit ids of ``sites``.
    """
    from causalvae.data import factor_pairs

    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    names = list(factors) if factors is not None else list(dataset.factor_names)
    for name in names:
        dataset.factor_index(name)
    dev = resolve_device(model, device)
    info = probe(model, dataset.images(np.arange(1)), dev, extra=[] if sites is None else list(sites))
    sources = resolve_sources(model, info, sites)
    cols = [unit_id(s, u) for s, units in sources.items() for u in units]
    acc = StatisticAccumulator(len(names), len(cols))
    moments = Moments()
    for k, name in enumerate(names):
        pairs = factor_pairs(dataset, name, n=n_pairs, seed=seed, hold=hold)
        if len(pairs) != n_pairs:
            raise ValueError(f"factor_pairs returned {len(pairs)} pairs for {name!r}; expected {n_pairs}")
        for rows in chunks(len(pairs), batch_size):
            base, changed = (_captured(model, xs, rows, dev, sources) for xs in (pairs.x, pairs.x_prime))
            for acts in (base, changed):
                moments.add(acts, rows.stop - rows.start)
            start = 0
            for site, units in sources.items():
                a, b = _positions(base[site]), _positions(changed[site])
                col = slice(start, start + len(units))
                acc.add([k], col, (b - a)[None])
                if k == 0:
                    acc.add_count(col, a.shape[0] * a.shape[2])
                start += len(units)
    spread = floored({s: moments.spread(s, range(len(u))) for s, u in sources.items()}, sources,
                     relative_floor=relative_floor)
    values = acc.result(statistic) / np.array([spread.values[c] for c in cols])[None]
    return EffectMatrix(values, [factor_id(n) for n in names], cols, intervention="factor-pair", statistic=statistic,
                        n_samples=int(n_pairs), seed=seed,
                        meta={"hold": hold, "standardised": True, "relative_floor": float(relative_floor),
                              "normalisation": "std pooled over x and x', floored per site",
                              "silent": list(spread.silent), "device": str(dev)})


def _captured(model: nn.Module, x, rows: slice, dev: torch.device,
              sources: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    acts = forward_capture(model, to_tensor(x, rows, dev), list(sources))[0]
    return {s: acts[s][:, units] for s, units in sources.items()}


def _positions(a: torch.Tensor) -> torch.Tensor:
    """(N, units, positions) float64 view of an activation (positions = 1 for linear units)."""
    return a.double().reshape(a.shape[0], a.shape[1], -1)


@restores_model_state()
def latent_effects(model: nn.Module, x, *, latent: str | None = None, values: Sequence[float] | None = None,
                   calibrated: bool = False, targets: Sequence[str] | None = None, statistic: str = "mean_abs",
                   method: str = "exact", device: torch.device | str | None = None, batch_size: int = 64
                   ) -> EffectMatrix:
    """Effects of ``do(z_i = c)`` on decoder units and the output, averaged over the values c.

    Parameters
    ----------
    latent : the latent site (default ``"latent.mu"``; the analysis forward uses ``z = mu``).
    values : the grid of c (default -3..3); with ``calibrated=True`` they are quantile levels of
        the empirical marginal of each latent over ``x`` (default 2/16/50/84/98 %).
    targets : default every site after the latent in forward order (outside the latent head),
        ``"output"`` and ``"output_l2"`` (per-input ||D(z) - D(z~)||, whose ``statistic="mean"``
        average over the grid is the paper's CES of latent i).
    """
    x = as_inputs(x)
    dev = resolve_device(model, device)
    latent = latent or "latent.mu"
    info = probe(model, x, dev, extra=[latent])
    if latent not in info.n_units:
        raise KeyError(f"unknown latent site {latent!r}; expected one of {info.order}")
    if targets is None:
        after = info.order[info.order.index(latent) + 1:]
        head = latent.rsplit(".", 1)[0] + "." if "." in latent else latent
        targets = [s for s in after if not s.startswith(head)] + ["output", OUTPUT_L2]
    grid = np.asarray(values if values is not None else (DEFAULT_QUANTILES if calibrated else DEFAULT_GRID),
                      dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"values must be a non-empty 1-D grid, got {grid!r}")
    if calibrated and not np.all((grid >= 0) & (grid <= 1)):
        raise ValueError(f"calibrated values are quantile levels in [0, 1], got {grid.tolist()}")
    _, _, sources, tgts = resolve(model, x, [latent], targets, dev)
    if calibrated:
        mus = np.concatenate([forward_capture(model, to_tensor(x, r, dev), [latent])[0][latent].cpu().numpy()
                              for r in chunks(len(x), batch_size)])
        settings = [np.quantile(mus, q, axis=0) for q in grid]
    else:
        settings = list(grid)
    parts = [run_exact(model, x, sources=sources, targets=tgts, alternative=Alternative("set", value=v),
                       statistic=statistic, method=method, device=dev, batch_size=batch_size, units_per_pass=None)
             for v in settings]
    mean_values = np.mean([p[0] for p in parts], axis=0)
    return EffectMatrix(mean_values, [unit_id(latent, u) for u in sources[latent]], columns(tgts),
                        intervention="do(z=quantile)" if calibrated else "do(z=c)", statistic=statistic,
                        n_samples=len(x), meta={**parts[0][1], "values": grid.tolist(), "calibrated": calibrated,
                                                "averaged_over": "values"})


@restores_model_state()
def latent_output_profiles(model: nn.Module, x, *, latent: str = "latent.mu", value: float = 0.0,
                           device: torch.device | str | None = None, batch_size: int = 64) -> np.ndarray:
    """``E_x (D(mu) - D(mu with z_i <- value))^2`` per output element: (latents, output elements).

    The input of the paper's intervention specificity (:mod:`causalvae.metrics.interventional`).
    """
    from causalvae.interventions.ops import set_value

    x = as_inputs(x)
    dev = resolve_device(model, device)
    n_latents = probe(model, x, dev, extra=[latent]).n_units.get(latent)
    if n_latents is None:
        raise KeyError(f"unknown latent site {latent!r}")
    total = None
    with torch.no_grad():
        for rows in chunks(len(x), batch_size):
            xb = to_tensor(x, rows, dev)
            clean = forward_capture(model, xb, [])[1].double().flatten(1)
            sq = torch.stack([((forward_capture(model, xb, [], ops={latent: set_value([i], value)})[1]
                                .double().flatten(1) - clean) ** 2).sum(0) for i in range(n_latents)])
            total = sq if total is None else total + sq
    return (total / len(x)).cpu().numpy()
