"""Attribution patching (gradient x difference) and screen-then-verify.

First-order estimate of the effect of swapping unit ``u`` for its alternative on a per-input
scalar target ``y``: ``sum_positions (alt_u - a_u) * dy/da_u`` -- one forward pass and one
backward pass per target column cover every unit of every site.  Exact for networks that are
linear from the site to the target.  Conv target units are read as their spatial mean (so the
estimate of ``statistic="mean_abs"`` is of |mean change|, not mean |change|).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from causalvae.interventions.alternatives import Alternative
from causalvae.interventions.analysis import Analysis
from causalvae.interventions.batching import chunks
from causalvae.interventions.forward import analysis_mode
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.effect_plumbing import run_exact
from causalvae.interventions.targets import OUTPUT_L2, RECON_ERROR, StatisticAccumulator, Target, column_slices
from causalvae.interventions.trace import OUTPUT


def _per_input_scalars(target: Target, acts: dict, out: torch.Tensor, xb: torch.Tensor, loss) -> torch.Tensor:
    """(N, columns) differentiable per-input scalars of ``target``."""
    if target.name == OUTPUT_L2:
        raise ValueError("attribution cannot estimate 'output_l2' (the norm of a change has no useful gradient "
                         "at zero); use method='exact'")
    if target.name == RECON_ERROR:
        return loss(xb, out)[:, None]
    value = out if target.source == OUTPUT else acts[target.source]
    value = value[:, list(target.units)]
    return value.reshape(value.shape[0], value.shape[1], -1).double().mean(2)


def attribution_values(an: Analysis, x, *, sources: dict[str, list[int]], targets: list[Target],
                       alternative: Alternative, statistic: str, batch_size: int = 64) -> tuple[np.ndarray, dict]:
    """Gradient x difference estimates of every (unit, target column) effect."""
    model, loss = an.module, an.loss
    n_rows = sum(len(u) for u in sources.values())
    acc = StatisticAccumulator(n_rows, sum(len(t.columns) for t in targets))
    target_sites = [t.source for t in targets if t.source != OUTPUT]
    site_list = list(sources)
    for rows in chunks(len(x), batch_size):
        xb = an.tensor(x, rows).requires_grad_(True)
        with torch.enable_grad():
            acts, out = forward_capture(model, xb, dict.fromkeys(site_list + target_sites), detach=False)
        with torch.no_grad():
            src = (forward_capture(model, an.tensor(alternative.source, rows), site_list)[0]
                   if alternative.needs_source else {})
            diffs = [(alternative.build(s, acts[s].detach(), src.get(s), rows) - acts[s].detach())[:, sources[s]]
                     for s in site_list]
        for t, col in zip(targets, column_slices(targets)):
            with torch.enable_grad(), analysis_mode(model):
                scalars = _per_input_scalars(t, acts, out, xb, loss)
            acc.add_count(col, xb.shape[0])
            for j in range(scalars.shape[1]):
                grads = torch.autograd.grad(scalars[:, j].sum(), [acts[s] for s in site_list], retain_graph=True,
                                            allow_unused=True)
                est = []
                for s, d, g in zip(site_list, diffs, grads):
                    g = torch.zeros_like(acts[s]) if g is None else g
                    prod = d.double() * g[:, sources[s]].double()
                    est.append(prod.reshape(prod.shape[0], prod.shape[1], -1).sum(2))
                e = torch.cat(est, dim=1)  # (N, rows)
                acc.add(range(n_rows), slice(col.start + j, col.start + j + 1), e.T[:, :, None, None])
    return acc.result(statistic), {"method": "attribution", "device": str(an.device), "batch_size": int(batch_size)}


def screen_then_verify(an: Analysis, x, *, sources: dict[str, list[int]], targets: list[Target],
                       alternative: Alternative, statistic: str, batch_size: int = 64, verify_fraction: float = 0.05,
                       units_per_pass: int | None = None) -> tuple[np.ndarray, dict]:
    """Attribution for every unit, then exact effects for the top ``verify_fraction`` of units.

    Units are ranked by their largest column-normalised |estimate|.  The returned values hold the
    exact effects for verified units and the estimates elsewhere; ``meta`` reports the verified
    units and the Spearman rank correlation between estimate and exact effect on them, over the
    entries where either is non-zero (NaN when undefined -- it is measured, never assumed).
    """
    from scipy.stats import spearmanr

    if not 0 < verify_fraction <= 1:
        raise ValueError(f"verify_fraction must lie in (0, 1], got {verify_fraction}")
    estimates, _ = attribution_values(an, x, sources=sources, targets=targets, alternative=alternative,
                                      statistic=statistic, batch_size=batch_size)
    scale = np.abs(estimates).max(axis=0)
    score = (np.abs(estimates) / np.where(scale > 0, scale, 1.0)).max(axis=1)
    k = max(1, math.ceil(verify_fraction * len(score)))
    top = np.sort(np.argsort(-score, kind="stable")[:k])
    flat = [(s, u) for s, units in sources.items() for u in units]
    subset: dict[str, list[int]] = {}
    for i in top:
        subset.setdefault(flat[i][0], []).append(flat[i][1])
    exact, info = run_exact(an, x, sources=subset, targets=targets, alternative=alternative, statistic=statistic,
                            method="exact", batch_size=batch_size, units_per_pass=units_per_pass)
    values = estimates.copy()
    values[top] = exact
    est_top, exact_flat = estimates[top].ravel(), exact.ravel()
    informative = (est_top != 0) | (exact_flat != 0)  # structural zeros (no path to the target) agree trivially
    rho = (float(spearmanr(est_top[informative], exact_flat[informative])[0]) if informative.sum() > 1
           else float("nan"))
    return values, {**info, "method": "screen", "verify_fraction": float(verify_fraction), "n_verified": int(k),
                    "verified_rows": [int(i) for i in top], "verified_rank_correlation": rho,
                    "rank_correlation_entries": int(informative.sum())}
