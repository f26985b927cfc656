"""Per-input outcome arrays for causal mediation and circuit faithfulness.

The causal layer builds TE / NIE / NDE, bootstrap CIs and FDR control on top of these arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from causalvae.interventions.alternatives import prepare_alternative
from causalvae.interventions.analysis import Analysis, analysis, site_names
from causalvae.interventions.batching import chunks
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.ops import UnitOp, patch, set_value, zero
from causalvae.interventions.checks import check_sites, check_units
from causalvae.interventions.spec import ModelSpec
from causalvae.interventions.effect_plumbing import as_inputs
from causalvae.interventions.targets import RECON_ERROR
from causalvae.interventions.trace import OUTPUT
from causalvae.modelstate import restores_model_state
from causalvae.units import parse_node, parse_unit


def _outcome_site(outcome: str, n_units: dict[str, int]) -> tuple[str | None, int | None]:
    if outcome in (RECON_ERROR, OUTPUT):
        return None, None
    site, index = parse_unit(outcome)
    if site not in n_units:
        raise KeyError(f"unknown outcome {outcome!r}; expected a site or unit id of {sorted(n_units)}, "
                       f"'output' or 'recon_error'")
    if index is not None:
        check_units(site, [index], n_units[site])
    return site, index


def _evaluate(outcome: str, site: str | None, index: int | None, acts, out, xb, loss) -> np.ndarray:
    if outcome == RECON_ERROR:
        return loss(xb, out).cpu().numpy()
    value = (out if site is None else acts[site]).double()
    if outcome == OUTPUT:
        return value.flatten(1).cpu().numpy()
    per_unit = value.reshape(value.shape[0], value.shape[1], -1).mean(2)  # conv units: spatial mean
    return (per_unit if index is None else per_unit[:, index]).cpu().numpy()


def _group(ids: Iterable[str], n_units: dict[str, int]) -> dict[str, list[int] | None]:
    """``{site: units}`` from unit ids and whole sites (None = every unit)."""
    out: dict[str, list[int] | None] = {}
    for uid in ids:
        site, index = parse_unit(uid)
        if site not in n_units:
            raise KeyError(f"unknown mediator {uid!r}; expected unit ids or sites of {sorted(n_units)}")
        if index is None:
            out[site] = None
        elif out.get(site, []) is not None:
            out.setdefault(site, []).append(check_units(site, [index], n_units[site])[0])
    return out


@restores_model_state()
def mediation_outcomes(model: nn.Module, x, x_prime, *, mediators: Sequence[str], outcome: str,
                       device: torch.device | str | None = None, batch_size: int = 64,
                       spec: ModelSpec | None = None) -> dict[str, np.ndarray]:
    """Outcomes of the four runs of a mediation analysis, per input.

    Returns ``y`` = Y(x), ``y_prime`` = Y(x'), ``y_nie`` = Y(x; M <- M(x')), ``y_nde`` =
    Y(x'; M <- M(x)), float64 of shape (N,) (or (N, T) for a vector outcome).  ``mediators`` are
    unit ids and/or whole sites, patched jointly; ``outcome`` is a unit id (conv units: spatial
    mean), a site (vector), ``"output"`` (flattened; the declared reconstruction, see ``spec``) or
    ``"recon_error"`` (each run against its own input).
    """
    x, x_prime = as_inputs(x), as_inputs(x_prime, name="x_prime")
    if tuple(x.shape) != tuple(x_prime.shape):
        raise ValueError(f"x and x_prime must have the same shape: {tuple(x.shape)} vs {tuple(x_prime.shape)}")
    if isinstance(mediators, str) or not len(mediators):
        raise ValueError(f"mediators must be a non-empty list of unit ids or sites, got {mediators!r}")
    with analysis(model, x, spec=spec, sites=site_names([*mediators, outcome]), device=device) as an:
        return _mediation(an, x, x_prime, mediators, outcome, batch_size=batch_size)


def _mediation(an: Analysis, x, x_prime, mediators: Sequence[str], outcome: str, *,
               batch_size: int) -> dict[str, np.ndarray]:
    """:func:`mediation_outcomes` inside an open analysis."""
    model, loss = an.module, an.loss
    n_units = an.probe(x, site_names([*mediators, outcome])).n_units
    groups = _group(mediators, n_units)
    site, index = _outcome_site(outcome, n_units)
    read = [site] if site else []
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("y", "y_prime", "y_nie", "y_nde")}
    with torch.no_grad():
        for rows in chunks(len(x), batch_size):
            xa, xb = an.tensor(x, rows), an.tensor(x_prime, rows)
            acts_a, out_a = forward_capture(model, xa, dict.fromkeys([*groups, *read]))
            acts_b, out_b = forward_capture(model, xb, dict.fromkeys([*groups, *read]))
            from_b = {s: patch(u, acts_b[s]) for s, u in groups.items()}
            from_a = {s: patch(u, acts_a[s]) for s, u in groups.items()}
            nie_acts, nie_out = forward_capture(model, xa, read, ops=from_b)
            nde_acts, nde_out = forward_capture(model, xb, read, ops=from_a)
            for key, (acts, out, xin) in {"y": (acts_a, out_a, xa), "y_prime": (acts_b, out_b, xb),
                                          "y_nie": (nie_acts, nie_out, xa), "y_nde": (nde_acts, nde_out, xb)}.items():
                parts[key].append(_evaluate(outcome, site, index, acts, out, xin, loss))
    return {k: np.concatenate(v).astype(np.float64) for k, v in parts.items()}


@restores_model_state()
def ablate_outside(model: nn.Module, x, keep: set[str], *, sites: Sequence[str], kind: str = "mean",
                   outcome: str = RECON_ERROR, reference=None, device: torch.device | str | None = None,
                   batch_size: int = 64, spec: ModelSpec | None = None) -> np.ndarray:
    """Outcome with every unit of ``sites`` not in ``keep`` ablated (circuit faithfulness).

    ``kind`` is ``"mean"`` (the unit's mean activation over ``reference``, default ``x``) or ``"zero"``.
    To compare inputs (``x`` against ``x′`` of factor pairs) pass one fixed ``reference`` to every call:
    the ablated units then take the same values for both, and ablating everything leaves no effect
    (with means over ``x`` and ``x′`` separately, the ablation values themselves differ).  Ids in
    ``keep`` outside ``sites`` (factors, read-outs, other sites) are ignored; unit ids of ``sites`` are
    checked.
    """
    if kind not in ("mean", "zero"):
        raise ValueError(f"kind must be 'mean' or 'zero', got {kind!r}")
    x = as_inputs(x)
    with analysis(model, x, spec=spec, sites=site_names([*sites, outcome]), device=device) as an:
        return _ablate_outside(an, x, keep, check_sites(an.module, sites), kind=kind, outcome=outcome,
                               reference=x if reference is None else as_inputs(reference, name="reference"),
                               batch_size=batch_size)


def _ablate_outside(an: Analysis, x, keep: set[str], sites: list[str], *, kind: str, outcome: str, reference,
                    batch_size: int) -> np.ndarray:
    """:func:`ablate_outside` inside an open analysis."""
    n_units = an.probe(x, site_names([*sites, outcome])).n_units
    kept = {s: set() for s in sites}
    for uid in keep:
        node = parse_node(uid)
        if node.kind == "unit" and node.name in kept:
            kept[node.name].add(check_units(node.name, [node.index], n_units[node.name])[0])
    ablated = {s: sorted(set(range(n_units[s])) - kept[s]) for s in sites}
    means = prepare_alternative(an.module, reference, sites, kind="mean", batch_size=batch_size, device=an.device,
                                dtype=an.dtype).means if kind == "mean" else {}
    ops: dict[str, UnitOp] = {s: (set_value(u, means[s][0]) if kind == "mean" else zero(u))
                              for s, u in ablated.items() if u}
    site, index = _outcome_site(outcome, n_units)
    out_parts = []
    with torch.no_grad():
        for rows in chunks(len(x), batch_size):
            xb = an.tensor(x, rows)
            acts, out = forward_capture(an.module, xb, [site] if site else [], ops=ops)
            out_parts.append(_evaluate(outcome, site, index, acts, out, xb, an.loss))
    return np.concatenate(out_parts).astype(np.float64)
