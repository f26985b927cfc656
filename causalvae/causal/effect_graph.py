"""The unit-level causal graph built from measured effect matrices, with a stated edge-selection rule.

Nodes are factors (``factor.<name>``), units (``encoder.conv2[5]``), latents (``latent.mu[3]``) and
factor read-outs: a factor id used as a *target* (latent × read-out-factor matrix B) becomes the
read-out node ``readout.<name>``.  An edge ``s -> t`` is kept when its effect is significant under
one of these rules (recorded in ``G.graph["threshold_rule"]``):

``"fdr"``
    each matrix carries ``stderr``; two-sided z-test ``p = 2 Φ(−|e| / se)``, Benjamini–Hochberg
    within each matrix, keep ``q ≤ alpha`` (false-discovery-rate control).  Valid for signed
    statistics (``mean``).  Absolute ones (``mean_abs``) are positive under a *noisy* null, so they
    warn — unless the caller passes ``deterministic=True``: with exact, noise-free interventions
    (z = μ, do-operations, zero/mean ablation) a source with no causal path to a target changes it
    by exactly 0 on every input, and the test asks whether a nonzero effect is consistent across
    independent input batches (``stderr`` from :meth:`causalvae.effects.EffectMatrix.average`).
``"max-null"``
    a family-wise permutation rule: for each matrix the caller passes draws of the null
    distribution of ``max |effect|`` (e.g. :func:`causalvae.causal.stats.sign_flip_max_null` of the
    per-input paired changes, or the maxima of effect matrices re-measured under a null
    intervention such as pairs differing in no factor); keep ``|e| >`` the ``1 − alpha`` quantile
    (Westfall–Young max-statistic).  Works for any statistic, ``mean_abs`` included.
``"threshold"``
    explicit per-matrix thresholds computed elsewhere (the caller states the rule).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import networkx as nx
import numpy as np

from causalvae.causal.stats import benjamini_hochberg, max_null_threshold
from causalvae.effects import EffectMatrix
from causalvae.graph.schema import new_graph, validate
from causalvae.units import is_factor, parse_factor, parse_unit

RULES = ("fdr", "max-null", "threshold")
ABSOLUTE_STATISTICS = ("mean_abs", "rms", "l2")
READOUT_PREFIX = "readout."


def readout_id(factor: str) -> str:
    """Node id of the read-out of ``factor`` (a bare name or a ``factor.<name>`` id)."""
    return READOUT_PREFIX + (parse_factor(factor) if is_factor(factor) else factor)


def _node_id(label: str, *, as_target: bool) -> str:
    return readout_id(label) if as_target and is_factor(label) else label


def _site_and_index(node: str) -> tuple[str, int]:
    if is_factor(node):
        return "factor", -1
    if node.startswith(READOUT_PREFIX):
        return "readout", -1
    site, index = parse_unit(node)
    return site, -1 if index is None else index


def _role(site: str) -> str:
    if site in ("factor", "readout"):
        return site
    head = site.split(".")[0]
    if head == "latent":
        return "latent"
    if head.startswith("output") or head in ("recon", "reconstruction", "recon_error"):
        return "output"
    return "hidden"


def _keep_masks(matrices: Sequence[EffectMatrix], rule: str, alpha: float,
                null_maxima: Sequence[np.ndarray] | None, thresholds: Sequence[float] | None,
                deterministic: bool = False) -> list[tuple[np.ndarray, np.ndarray | None, float]]:
    """Per matrix: (keep mask, p-values or None, threshold or NaN)."""
    from scipy import stats

    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    extra = {"max-null": null_maxima, "threshold": thresholds}.get(rule)
    if rule != "fdr" and (extra is None or len(extra) != len(matrices)):
        got = None if extra is None else len(extra)
        raise ValueError(f"rule {rule!r} needs one {'null_maxima array' if rule == 'max-null' else 'threshold'} "
                         f"per matrix ({len(matrices)}), got {got}")
    out = []
    for k, m in enumerate(matrices):
        if rule == "fdr":
            if m.stderr is None:
                raise ValueError(f"rule 'fdr' needs stderr on every matrix; matrix {k} "
                                 f"({m.intervention}, {m.sources[0]} -> {m.targets[0]} ...) has none")
            if m.statistic in ABSOLUTE_STATISTICS and not deterministic:
                warnings.warn(f"rule 'fdr' tests effect = 0, but statistic {m.statistic!r} is positive even without "
                              "an effect; use rule 'max-null' with draws measured under a null intervention",
                              stacklevel=3)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.abs(m.values) / m.stderr
            p = np.where(m.stderr > 0, 2 * stats.norm.sf(z), np.where(m.values != 0, 0.0, 1.0))
            q = benjamini_hochberg(p.ravel()).reshape(p.shape)
            out.append((q <= alpha, p, math.nan))
        else:
            thr = max_null_threshold(extra[k], alpha=alpha) if rule == "max-null" else float(extra[k])
            out.append((np.abs(m.values) > thr, None, thr))
    return out


def _layers(G: nx.DiGraph, measured: set[tuple[str, str]], site_order: Sequence[str] | None) -> dict[str, int]:
    """Layer of every site: its position in ``site_order`` (factors 0, read-outs last), or else the
    longest path from the factors over the graph of sites joined by a nonzero measured effect."""
    present = {d["site"] for _, d in G.nodes(data=True)}
    if site_order is not None:
        order = [s for s in site_order if s in present]
        missing = sorted(present - set(order) - {"factor", "readout"})
        if missing:
            raise ValueError(f"site_order lacks the sites {missing}; it must list every measured site in forward order")
        layer = {"factor": 0, **{s: i + 1 for i, s in enumerate(order)}}
        return {**layer, "readout": len(order) + 1}
    sites = nx.DiGraph()
    sites.add_nodes_from(present)
    sites.add_edges_from(measured)
    if not nx.is_directed_acyclic_graph(sites):
        raise ValueError(f"effects between sites form a cycle: {nx.find_cycle(sites)}; the unit graph must be "
                         "feed-forward (or pass site_order)")
    layer: dict[str, int] = {}
    for site in nx.topological_sort(sites):
        layer[site] = max((layer[p] + 1 for p in sites.predecessors(site)), default=0)
    return layer


def causal_unit_graph(matrices: Sequence[EffectMatrix], *, rule: str = "fdr", alpha: float = 0.05,
                      null_maxima: Sequence[np.ndarray] | None = None, thresholds: Sequence[float] | None = None,
                      site_order: Sequence[str] | None = None, deterministic: bool = False) -> nx.DiGraph:
    """Build the ``kind="unit"`` causal graph whose edges are the significant measured effects.

    Parameters
    ----------
    matrices : factor × unit, factor × latent, unit → unit (edge effects), latent × decoder-unit and
        latent × read-out-factor matrices, in any order.
    rule : edge-selection rule, ``"fdr"``, ``"max-null"`` or ``"threshold"`` (module docstring).
    deterministic : the effects come from exact, noise-free interventions, so ``"fdr"`` may test
        absolute statistics (module docstring).
    alpha : FDR level (``"fdr"``) or family-wise error level (``"max-null"``).
    null_maxima : for ``"max-null"``, one array of null ``max |effect|`` draws per matrix.
    thresholds : for ``"threshold"``, one threshold per matrix.
    site_order : the model's sites in forward order (e.g. ``causalvae.interventions.sites(model)``);
        default: layers from the sites joined by nonzero measured effects (before thresholding).

    Returns
    -------
    A validated graph; nodes carry ``site``, ``index``, ``layer`` (longest path from the factors
    over the site graph), ``role`` and ``active`` (has a kept edge); edges carry ``effect``,
    ``weight``, ``intervention``, ``statistic``, ``n_samples``, ``threshold`` or ``p_value``, and
    any ``stderr`` / ``ci_low`` / ``ci_high``.
    """
    matrices = list(matrices)
    if not matrices or not all(isinstance(m, EffectMatrix) for m in matrices):
        raise TypeError("matrices must be a non-empty sequence of EffectMatrix")
    G = new_graph("unit", threshold_rule=rule, alpha=float(alpha))
    masks = _keep_masks(matrices, rule, alpha, null_maxima, thresholds, deterministic)
    measured: set[tuple[str, str]] = set()
    for m, (keep, p, thr) in zip(matrices, masks):
        sources = [_node_id(s, as_target=False) for s in m.sources]
        targets = [_node_id(t, as_target=True) for t in m.targets]
        for node in (*sources, *targets):
            if node not in G:
                site, index = _site_and_index(node)
                G.add_node(node, site=site, index=index, layer=0, role=_role(site), active=False)
        measured |= {(G.nodes[sources[i]]["site"], G.nodes[targets[j]]["site"]) for i, j in zip(*np.nonzero(m.values))}
        for i, j in zip(*np.nonzero(keep)):
            e = float(m.values[i, j])
            attrs = {"effect": e, "weight": abs(e), "intervention": m.intervention, "statistic": m.statistic,
                     "n_samples": m.n_samples}
            attrs.update({"p_value": float(p[i, j])} if p is not None else {"threshold": thr})
            attrs.update({name: float(getattr(m, name)[i, j]) for name in ("stderr", "ci_low", "ci_high")
                          if getattr(m, name) is not None and math.isfinite(getattr(m, name)[i, j])})
            if sources[i] == targets[j]:
                raise ValueError(f"effect of {sources[i]!r} on itself in matrix {m.intervention!r}")
            G.add_edge(sources[i], targets[j], **attrs)
    layer = _layers(G, measured, site_order)
    for node, data in G.nodes(data=True):
        data["layer"] = layer[data["site"]]
        data["active"] = G.degree(node) > 0
    return validate(G)


def entry_graph(G: nx.DiGraph) -> nx.DiGraph:
    """``G`` with factor edges kept only into the first layer of units (where factors enter the network).

    Factor × unit matrices measure total effects on every layer; for path arithmetic (circuits,
    bottlenecks, parallel paths) a factor enters the network once, at the lowest unit layer.
    """
    first = min((d["layer"] for _, d in G.nodes(data=True) if d["role"] != "factor"), default=0)
    H = G.copy()
    H.remove_edges_from([(u, v) for u, v in G.edges()
                         if G.nodes[u]["role"] == "factor" and G.nodes[v]["layer"] > first])
    return H


def check_labels(G: nx.DiGraph, labels: Iterable[str], *, what: str) -> None:
    """Raise ``KeyError`` naming the ids in ``labels`` that are not nodes of ``G``."""
    missing = [x for x in labels if x not in G]
    if missing:
        raise KeyError(f"{what} has {len(missing)} label(s) that are not nodes of the graph, e.g. {missing[:5]}; "
                       f"graph nodes look like {list(G.nodes)[:5]}")
