"""``find_circuit``: a factor's encoder or decoder circuit, found by interchange patching and verified.

Unit scores come from :class:`~causalvae.interventions.circuit_patching.PairRunner` (attribution
screen, exact verification of the top candidates); the torch-free search, random baseline, status
rules and circuit graph live in :mod:`causalvae.causal.circuits`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from causalvae.causal import circuits as circ
from causalvae.interventions.circuit_patching import Behaviour, PairRunner
from causalvae.units import factor_id, is_factor, parse_unit

EDGE_WEIGHTS = ("factor edges: the unit's measured mean change across the pair (factor-pair); edges into the target: "
                "measured denoising effect of patching the unit alone from x' into x (patch); unit-to-unit edges: "
                "attribution patching, (a_u(x') - a_u(x)) * d mean(a_v) / d a_u at x (attribution); each node keeps "
                "its strongest incoming edges (in_edges_per_node)")
ABLATION = "mean over one reference batch, the same values for x and x'"


def unit_scores(runner: PairRunner, *, n_verify: int = 32) -> tuple[pd.DataFrame, float]:
    """Screen every unit, measure the ``n_verify`` largest |screen| exactly; returns ``(scores, Spearman)``.

    ``score`` is the mean of the exact denoising and noising scores where verified, the screen's
    estimate elsewhere; the screen-vs-exact Spearman correlation on the verified units is NaN when
    undefined (fewer than 3 units, or a constant column).
    """
    from scipy.stats import spearmanr

    ids = [u for s in runner.sites for u in runner.units_by_site[s]]
    screen = np.mean(runner.screen(), axis=0)
    top = np.sort(np.argsort(-np.abs(screen), kind="stable")[:max(0, min(int(n_verify), len(ids)))])
    exact = np.full((2, len(ids)), np.nan)
    for site in runner.sites:
        rows = [i for i in top if runner.where[ids[i]][0] == site]
        for k, noising in enumerate((False, True)):
            if rows:
                units = [runner.where[ids[i]][1] for i in rows]
                exact[k, rows] = runner.patched(site, units, noising=noising) @ runner.signs
    mean_exact = exact.mean(0)
    est, meas = screen[top], mean_exact[top]
    rho = float(spearmanr(est, meas).statistic) if len(top) > 2 and np.ptp(est) > 0 and np.ptp(meas) > 0 else math.nan
    frame = pd.DataFrame({"unit": ids, "site": [runner.where[u][0] for u in ids], "screen": screen,
                          "exact_denoise": exact[0], "exact_noise": exact[1],
                          "score": np.where(np.isfinite(mean_exact), mean_exact, screen)})
    return frame, rho


def _by_site(ids: Sequence[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for u in ids:
        site, index = parse_unit(u)
        out.setdefault(site, []).append(index)
    return out


def circuit_edges(runner: PairRunner, layers: Sequence[Sequence[str]]) -> dict[tuple[str, str], tuple[float, str]]:
    """``{(u, v): (effect, how)}`` between consecutive ``layers`` (sources, circuit units site by site,
    targets), zeros (no path) left out: from the factor node, the unit's measured change across the pair
    (``"factor-pair"``); into the target endpoints, the measured denoising effect (``"patch"``); between
    units, attribution patching (``"attribution"``)."""
    edges: dict[tuple[str, str], tuple[float, str]] = {}
    for i, (earlier, later) in enumerate(zip(layers, layers[1:])):
        into_target = i + 2 == len(layers)
        read, read_units = (None, []) if into_target else next(iter(_by_site(later).items()))
        if is_factor(earlier[0]):
            how, rows = "factor-pair", {earlier[0]: runner.pair_change(read, read_units)}
        else:
            how, rows = ("patch" if into_target else "attribution"), {}
            for site, units in _by_site(earlier).items():
                values = (runner.patched(site, units) if into_target
                          else runner.attributed(site, units, read=read, read_units=read_units))
                rows.update({f"{site}[{u}]": row for u, row in zip(units, values)})
        edges.update({(u, v): (float(e), how) for u, row in rows.items() for v, e in zip(later, row) if e != 0})
    return edges


def find_circuit(model: nn.Module, pairs, *, sites: Sequence[str], behaviour: Behaviour,
                 target_faithfulness: float = 0.8, reference=None, sources: Sequence[str] | None = None,
                 n_verify: int = 32, prune: bool = True, points: int = 12, n_random: int = 20, alpha: float = 0.05,
                 min_effect: float = 0.1, readout_score: float | None = None, min_readout_score: float | None = None,
                 max_in_edges: int | None = 8, seed: int = 0, batch_size: int = 64, units_per_pass: int = 8,
                 device: torch.device | str | None = None) -> circ.CircuitResult:
    """The circuit of ``pairs.factor`` over ``sites`` for ``behaviour`` (definitions: :mod:`causalvae.causal.circuits`).

    Parameters
    ----------
    model : the network.
    pairs : factor pairs (``x``, ``x_prime``, ``delta``, ``factor``; :func:`causalvae.data.factor_pairs`).
    sites : the circuit's sites, upstream of the behaviour (e.g. the encoder sites for a latent behaviour).
    behaviour : :func:`~causalvae.interventions.circuit_patching.latent_behaviour` (encoder circuit) or
        :func:`~causalvae.interventions.circuit_patching.readout_behaviour` (decoder circuit).
    target_faithfulness : the faithfulness the circuit must reach, in (0, 1].
    reference : inputs whose mean activations replace ablated units (default: the pairs' x and x′).
    sources : node ids of the source endpoints (default: the factor node; latent ids for decoder circuits).
    n_verify : screened units measured exactly (the others keep their attribution estimate).
    prune : run the ACDC-style backward pruning pass.
    points : points of the geometric size grid.
    n_random : random circuits of the same size per site.
    alpha : level of the behaviour test and of the random-baseline rule.
    min_effect : minimal behaviour, as a fraction of the target's spread over the reference batch.
    readout_score, min_readout_score : the read-out's held-out score and the least accepted.
    max_in_edges : strongest measured incoming edges kept per node of the graph (None: every nonzero one).
    seed : seed of the random circuits.
    batch_size : pairs per cached pass.
    units_per_pass : interventions stacked along the batch axis per replay.

    Returns
    -------
    :class:`~causalvae.causal.circuits.CircuitResult`; its ``reason`` says why no circuit was found.

    Examples
    --------
    >>> import types
    >>> from collections import OrderedDict
    >>> from causalvae.interventions.circuit_patching import latent_behaviour
    >>> net = nn.Sequential(OrderedDict(h=nn.Linear(2, 3), mu=nn.Linear(3, 1)))
    >>> with torch.no_grad():  # h[0] carries factor a (input 0); h[1], h[2] follow input 1
    ...     _ = net.h.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    ...     _ = net.mu.weight.fill_(1.0)
    >>> x = np.random.default_rng(0).uniform(size=(16, 2)).astype(np.float32)
    >>> pairs = types.SimpleNamespace(factor="a", x=x, x_prime=x + np.float32([1, 0]), delta=np.ones(16))
    >>> r = find_circuit(net, pairs, sites=["h"], behaviour=latent_behaviour([0], site="mu"))
    >>> r.units, round(r.faithfulness, 3), r.random.round(3).tolist()[:6]
    (('h[0]',), 1.0, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    >>> r.status  # one unit of three: random circuits of its size hit it by chance
    'not found (indistinguishable from random circuits of the same size: f = 1, random 0.3 ± 0.47, p = 0.33)'
    """
    factor = pairs.factor
    src = [factor_id(factor)] if sources is None else list(sources)
    runner = PairRunner(model, pairs, sites=sites, behaviour=behaviour, reference=reference,
                        extra_sites=[parse_unit(u)[0] for u in src if not is_factor(u)], device=device,
                        batch_size=batch_size, units_per_pass=units_per_pass)
    reason, p = circ.behaviour_rule(runner.effects, spread=runner.spread, min_effect=min_effect, alpha=alpha,
                                    readout_score=readout_score, min_readout_score=min_readout_score)
    targets = behaviour.targets(factor)
    common = dict(factor=factor, part=behaviour.part, p_value=p, n_units=sum(runner.n_units.values()))
    attrs = dict(factor=factor, part=behaviour.part, target_faithfulness=float(target_faithfulness),
                 ablation=ABLATION, edge_weights=EDGE_WEIGHTS, n_pairs=runner.n_pairs,
                 **({} if max_in_edges is None else {"in_edges_per_node": int(max_in_edges)}))
    if reason:
        graph = circ.circuit_graph([src, targets], {}, status="not found", reason=reason, **attrs)
        return circ.CircuitResult(reason=reason, units=(), faithfulness=math.nan, random=np.empty(0), curve=None,
                                  m_all=float(runner.effects.mean()), m_empty=math.nan, screen_spearman=math.nan,
                                  graph=graph, **common)
    scores, rho = unit_scores(runner, n_verify=n_verify)
    ranking = scores.sort_values("score", ascending=False, kind="stable")["unit"].tolist()
    found = circ.search(ranking, evaluate=runner.measure, target=target_faithfulness, points=points, prune=prune)
    sets = circ.random_circuits(runner.units_by_site, found.units, n=n_random, seed=seed)
    random = (runner.measure(sets) - found.m_empty) / (found.m_all - found.m_empty)
    reason = circ.random_rule(found.faithfulness, random, alpha=alpha)
    kept = set(found.units)
    layers = [src, *[[u for u in runner.units_by_site[s] if u in kept] for s in runner.sites], targets]
    layers = [src, targets] if reason else [layer for layer in layers if layer]
    numbers = dict(faithfulness=found.faithfulness, size=len(found.units), random_mean=float(random.mean()),
                   cpr=found.curve.cpr, cmd=found.curve.cmd, m_all=found.m_all, m_empty=found.m_empty)
    graph = circ.circuit_graph(layers, {} if reason else circuit_edges(runner, layers),
                               max_in_edges=max_in_edges,
                               status="not found" if reason else "found", reason=reason, **attrs,
                               **{k: v for k, v in numbers.items() if math.isfinite(v)})
    return circ.CircuitResult(reason=reason, units=found.units, faithfulness=found.faithfulness, random=random,
                              curve=found.curve, m_all=found.m_all, m_empty=found.m_empty, screen_spearman=rho,
                              graph=graph, scores=scores, **common)
