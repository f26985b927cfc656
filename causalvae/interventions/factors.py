"""Input manipulations (factor-controlled pairs) and latent perturbations ``do(z_i = c)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from causalvae.argtypes import check_float, check_floats, check_int
from causalvae.effects import EffectMatrix
from causalvae.interventions.alternatives import Alternative
from causalvae.interventions.analysis import Analysis, analysis, factor_dataset, sample_rows, site_names, with_latent
from causalvae.interventions.batching import chunks
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.ops import set_value
from causalvae.interventions.roles import site_roles
from causalvae.interventions.sites import candidate_sites
from causalvae.interventions.spec import ModelSpec
from causalvae.interventions.spread import DEFAULT_RELATIVE_FLOOR, Moments, floored
from causalvae.interventions.effect_plumbing import as_inputs, resolve, resolve_sources, run_exact
from causalvae.interventions.targets import OUTPUT_L2, STATISTICS, StatisticAccumulator, columns
from causalvae.modelstate import restores_model_state
from causalvae.units import factor_id, unit_id

DEFAULT_GRID = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
DEFAULT_QUANTILES = (0.02, 0.16, 0.5, 0.84, 0.98)


@restores_model_state()
def factor_effects(model: nn.Module, dataset, *, sites: Sequence[str] | None = None, n_pairs: int = 256,
                   seed: int = 0, factors: Sequence[str] | None = None, statistic: str = "mean_abs",
                   relative_floor: float = DEFAULT_RELATIVE_FLOOR, hold: str = "noise",
                   device: torch.device | str | None = None, batch_size: int = 64,
                   spec: ModelSpec | None = None) -> EffectMatrix:
    """Factor x unit responses from factor-controlled pairs (DESIGN §5, input manipulation).

    For factor k, pairs (x, x'_k) come from :func:`causalvae.data.factor_pairs`; the response of
    unit u is ``stat(a_u(x'_k) - a_u(x)) / spread_u``, the statistic running over pairs (and
    positions of conv units).  ``spread_u`` is the unit's standard deviation pooled over every x and
    x' of all factors' pairs, floored at ``relative_floor`` × its site's RMS spread
    (:mod:`causalvae.interventions.spread`), so a unit that is silent on the data cannot dominate.
    The result is *standardised* (``meta["standardised"]``: responses are in units of the target's
    spread); ``meta["silent"]`` lists the units below their site's floor.

    ``dataset`` is a :class:`~causalvae.data.FactorDataset` (build one from your own arrays with
    :meth:`~causalvae.data.FactorDataset.from_arrays`); ``spec`` the model's declaration.

    Returns
    -------
    EffectMatrix with rows ``factor.<name>`` and columns the unit ids of ``sites``.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    dataset = factor_dataset(dataset)
    n_pairs, seed = check_int(n_pairs, name="n_pairs", minimum=1), check_int(seed, name="seed", minimum=0)
    with analysis(model, sample_rows(dataset), spec=spec, sites=site_names(sites), device=device) as an:
        return _factor_effects(an, dataset, sites=sites, n_pairs=n_pairs, seed=seed, factors=factors,
                               statistic=statistic, relative_floor=relative_floor, hold=hold, batch_size=batch_size)


def _factor_effects(an: Analysis, dataset, *, sites: Sequence[str] | None, n_pairs: int, seed: int,
                    factors: Sequence[str] | None, statistic: str, relative_floor: float, hold: str,
                    batch_size: int) -> EffectMatrix:
    """:func:`factor_effects` inside an open analysis."""
    from causalvae.data import factor_pairs

    names = list(factors) if factors is not None else list(dataset.factor_names)
    for name in names:
        dataset.factor_index(name)
    info = an.probe(sample_rows(dataset), [] if sites is None else list(sites))
    sources = resolve_sources(an.module, info, sites)
    cols = [unit_id(s, u) for s, units in sources.items() for u in units]
    acc = StatisticAccumulator(len(names), len(cols))
    moments = Moments()
    for k, name in enumerate(names):
        pairs = factor_pairs(dataset, name, n=n_pairs, seed=seed, hold=hold)
        if len(pairs) != n_pairs:
            raise ValueError(f"factor_pairs returned {len(pairs)} pairs for {name!r}; expected {n_pairs}")
        for rows in chunks(len(pairs), batch_size):
            base, changed = (_captured(an, xs, rows, sources) for xs in (pairs.x, pairs.x_prime))
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
                              "silent": list(spread.silent), "device": str(an.device)})


def _captured(an: Analysis, x, rows: slice, sources: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    acts = forward_capture(an.module, an.tensor(x, rows), list(sources))[0]
    return {s: acts[s][:, units] for s, units in sources.items()}


def _positions(a: torch.Tensor) -> torch.Tensor:
    """(N, units, positions) float64 view of an activation (positions = 1 for linear units)."""
    return a.double().reshape(a.shape[0], a.shape[1], -1)


@restores_model_state()
def latent_effects(model: nn.Module, x, *, latent: str | None = None, values: Sequence[float] | None = None,
                   calibrated: bool = False, targets: Sequence[str] | None = None, statistic: str = "mean_abs",
                   method: str = "exact", device: torch.device | str | None = None, batch_size: int = 64,
                   spec: ModelSpec | None = None) -> EffectMatrix:
    """Effects of ``do(z_i = c)`` on decoder units and the output, averaged over the values c.

    Parameters
    ----------
    latent : the site to set (default: the declared latent site, ``spec.latent_site``; the
        analysis forward uses ``z = mu``).
    values : the grid of c (default -3..3); with ``calibrated=True`` they are quantile levels of
        the empirical marginal of each latent over ``x`` (default 2/16/50/84/98 %).
    targets : default every default site (:func:`~causalvae.interventions.sites`) of the decoder
        stage (:func:`~causalvae.interventions.site_roles`) in forward order, ``"output"`` and ``"output_l2"`` (per-input ||D(z) - D(z~)||, whose
        ``statistic="mean"`` average over the grid is the paper's CES of latent i).
    spec : the model's declaration (latent site, reconstruction).
    """
    x = as_inputs(x)
    spec, latent = with_latent(spec, model, latent, what="latent_effects")
    if targets is None:
        default = set(candidate_sites(model))
        targets = [s for s, r in site_roles(model, spec=spec).items() if r.stage == "decoder" and s in default]
        targets += ["output", OUTPUT_L2]
    with analysis(model, x, spec=spec, sites=[latent], targets=site_names(targets), device=device) as an:
        return _latent_effects(an, x, latent, values=values, calibrated=calibrated, targets=targets,
                               statistic=statistic, method=method, batch_size=batch_size)


def _latent_effects(an: Analysis, x, latent: str, *, values: Sequence[float] | None, calibrated: bool,
                    targets: Sequence[str], statistic: str, method: str, batch_size: int) -> EffectMatrix:
    """:func:`latent_effects` inside an open analysis."""
    default = DEFAULT_QUANTILES if calibrated else DEFAULT_GRID
    grid = np.asarray(check_floats(default if values is None else values, name="values"))
    if calibrated and not np.all((grid >= 0) & (grid <= 1)):
        raise ValueError(f"calibrated values are quantile levels in [0, 1], got {grid.tolist()}")
    _, sources, tgts = resolve(an, x, [latent], targets)
    if calibrated:
        mus = np.concatenate([forward_capture(an.module, an.tensor(x, r), [latent])[0][latent].double().cpu().numpy()
                              for r in chunks(len(x), batch_size)])
        settings = [np.quantile(mus, q, axis=0) for q in grid]
    else:
        settings = list(grid)
    parts = [run_exact(an, x, sources=sources, targets=tgts, alternative=Alternative("set", value=v),
                       statistic=statistic, method=method, batch_size=batch_size, units_per_pass=None)
             for v in settings]
    mean_values = np.mean([p[0] for p in parts], axis=0)
    return EffectMatrix(mean_values, [unit_id(latent, u) for u in sources[latent]], columns(tgts),
                        intervention="do(z=quantile)" if calibrated else "do(z=c)", statistic=statistic,
                        n_samples=len(x), meta={**parts[0][1], "values": grid.tolist(), "calibrated": calibrated,
                                                "averaged_over": "values"})


@restores_model_state()
def latent_output_profiles(model: nn.Module, x, *, latent: str | None = None, value: float = 0.0,
                           device: torch.device | str | None = None, batch_size: int = 64,
                           spec: ModelSpec | None = None) -> np.ndarray:
    """``E_x (D(mu) - D(mu with z_i <- value))^2`` per output element: (latents, output elements).

    The input of the paper's intervention specificity (:mod:`causalvae.metrics.interventional`).
    ``latent`` defaults to the declared latent site (``spec.latent_site``).
    """
    x, value = as_inputs(x), check_float(value, name="value")
    spec, latent = with_latent(spec, model, latent, what="latent_output_profiles")
    with analysis(model, x, spec=spec, sites=[latent], device=device) as an, torch.no_grad():
        n_latents = an.probe(x, [latent]).n_units.get(latent)
        if n_latents is None:
            raise KeyError(f"latent site {latent!r} has no unit axis")
        total = None
        for rows in chunks(len(x), batch_size):
            xb = an.tensor(x, rows)
            clean = forward_capture(an.module, xb, [])[1].double().flatten(1)
            sq = torch.stack([((forward_capture(an.module, xb, [], ops={latent: set_value([i], value)})[1]
                                .double().flatten(1) - clean) ** 2).sum(0) for i in range(n_latents)])
            total = sq if total is None else total + sq
    return (total / len(x)).cpu().numpy()
