"""The unit-level causal graph built from measured effect matrices, with a valid edge test.

Nodes are factors (``factor.<name>``), units (``encoder.conv2[5]``), latents (``latent.mu[3]``),
decoder units and factor read-outs: a factor id used as a *target* (e.g. latent × read-out-factor
matrix B) becomes the read-out node ``readout.<name>``.

**Edge test.** Every matrix is the mean of ``R >= 2`` independent replicate measurements (disjoint
input batches, :meth:`causalvae.effects.EffectMatrix.average`, which records ``R`` and the
batch-means standard error).  An edge ``s -> t`` is kept when

1. its effect is larger than a *minimal effect* ``min_effect × spread(t)``, the target's natural
   variation over the data (``spread``: standard deviation of the unit's activation, the latent's
   mean or the factor over the data; matrices marked ``meta["standardised"]`` are already in those
   units), tested as ``H0: |effect| <= floor`` against a t(R − 1) distribution
   (:func:`causalvae.causal.stats.minimal_effect_pvalues`) — so float round-off and read-out
   leakage, which are far below any stated fraction of the target's spread, never become edges, and
   a normal approximation with ``R = 4`` replicates cannot inflate the error rate; and
2. its p-value survives multiplicity control over *every* tested pair of *every* matrix at once:
   Benjamini–Hochberg (``error="fdr"``, false-discovery rate) or Holm (``error="fwer"``,
   family-wise error rate).  Under the complete null both bound the probability of any false edge
   by ``alpha``.

Targets whose spread is 0 (a unit that never varies on the data) cannot be tested and get no edge.
Every edge carries its effect, its effect in units of the target's spread (``effect_sd``), a
t-interval (``ci_low``, ``ci_high``), ``p_value`` and ``q_value``.

**Roles are data.** Each site's stage (``encoder``, ``latent``, ``decoder``, ``output``) comes from
``stages`` (for our VAEs ``{s.name: s.stage for s in model.sites}``); nothing is guessed from names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import networkx as nx
import numpy as np

from causalvae.causal.stats import benjamini_hochberg, holm, minimal_effect_pvalues, t_interval
from causalvae.effects import EffectMatrix
from causalvae.graph.schema import new_graph, validate
from causalvae.units import is_factor, parse_node, readout_id

ERRORS = {"fdr": benjamini_hochberg, "fwer": holm}
ABSOLUTE_STATISTICS = ("mean_abs", "rms", "l2")
#: node stage -> schema role ("other": a site neither upstream nor downstream of the latent)
_ROLE_OF_STAGE = {"encoder": "hidden", "decoder": "hidden", "other": "hidden", "latent": "latent",
                  "output": "output", "input": "input", "factor": "factor", "readout": "readout"}


def _node_id(label: str, *, as_target: bool) -> str:
    return readout_id(label) if as_target and is_factor(label) else label


def _site_and_index(node: str) -> tuple[str, int]:
    ref = parse_node(node)
    if ref.kind in ("factor", "readout"):
        return ref.kind, -1
    return ref.name, -1 if ref.index is None else ref.index


def _stage(site: str, stages: Mapping[str, str] | None) -> str:
    if site in ("factor", "readout"):
        return site
    if stages is None or site not in stages:
        known = sorted(stages) if stages else []
        raise KeyError(f"no stage declared for site {site!r}; pass stages={{site: 'encoder' | 'latent' | 'decoder' | "
                       f"'output'}} for every measured site (declared: {known})")
    stage = stages[site]
    if stage not in _ROLE_OF_STAGE:
        raise ValueError(f"stage of site {site!r} must be one of {sorted(_ROLE_OF_STAGE)}, got {stage!r}")
    return stage


def _replicates(m: EffectMatrix, k: int) -> int:
    reps = m.meta.get("replicates")
    if m.stderr is None or not isinstance(reps, int) or reps < 2:
        raise ValueError(f"matrix {k} ({m.intervention}, {m.sources[0]} -> {m.targets[0]} ...) must be the mean of "
                         f">= 2 independent replicates with a standard error (EffectMatrix.average); it has "
                         f"stderr={'set' if m.stderr is not None else None}, replicates={reps!r}")
    return reps


def _scales(m: EffectMatrix, targets: Sequence[str], spread: Mapping[str, float] | None) -> np.ndarray:
    if m.meta.get("standardised"):
        return np.ones(len(targets))
    missing = [t for t in targets if spread is None or t not in spread]
    if missing:
        raise KeyError(f"matrix {m.intervention!r} is not standardised and spread lacks {len(missing)} of its "
                       f"targets, e.g. {missing[:3]}; pass spread={{target id: natural standard deviation}}")
    scales = np.array([float(spread[t]) for t in targets])
    if not np.all(np.isfinite(scales) & (scales >= 0)):
        raise ValueError(f"spread must be finite and >= 0, got {scales[~(np.isfinite(scales) & (scales >= 0))][:3]}")
    return scales


def measured_mask(m: EffectMatrix) -> np.ndarray:
    """Entries of ``m`` that were measured: all, or only the ``meta["pairs"]`` site blocks of an
    :func:`causalvae.interventions.edge_effects` matrix (its other entries are structural zeros)."""
    pairs = m.meta.get("pairs")
    if pairs is None:
        return np.ones(m.values.shape, dtype=bool)
    blocks = {tuple(p) for p in pairs}
    src = [_site_and_index(_node_id(s, as_target=False))[0] for s in m.sources]
    tgt = [_site_and_index(_node_id(t, as_target=True))[0] for t in m.targets]
    return np.array([[(a, b) in blocks for b in tgt] for a in src], dtype=bool).reshape(m.values.shape)


def _tests(m: EffectMatrix, k: int, targets: Sequence[str], spread, min_effect: float) -> dict[str, np.ndarray]:
    """Per entry: p-value (NaN where not measured or the target cannot be tested), t-interval, scale."""
    dof = _replicates(m, k) - 1
    scale = np.broadcast_to(_scales(m, targets, spread)[None], m.values.shape)
    measured = measured_mask(m)
    p = minimal_effect_pvalues(m.values, m.stderr, dof=dof, floor=min_effect * scale,
                               signed=m.statistic not in ABSOLUTE_STATISTICS)
    low, high = t_interval(m.values, m.stderr, dof=dof)
    return {"p": np.where(measured & (scale > 0), p, np.nan), "low": low, "high": high, "scale": scale,
            "untestable": measured & (scale == 0)}


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


def causal_unit_graph(matrices: Sequence[EffectMatrix], *, stages: Mapping[str, str] | None = None,
                      spread: Mapping[str, float] | None = None, min_effect: float = 0.1, alpha: float = 0.05,
                      error: str = "fdr", site_order: Sequence[str] | None = None) -> nx.DiGraph:
    """Build the ``kind="unit"`` causal graph whose edges are the significant, non-negligible effects.

    Parameters
    ----------
    matrices : replicate-averaged effect matrices (factor × unit, factor × latent, unit → unit,
        latent → decoder unit, decoder unit → read-out, latent × read-out factor, ...), in any order.
    stages : the stage of every measured site (``encoder``, ``latent``, ``decoder``, ``output``).
    spread : natural standard deviation of every target node over the data (node ids; read-outs as
        ``readout.<name>``), for matrices not marked ``meta["standardised"]``.
    min_effect : the minimal effect of interest, as a fraction of the target's spread (>= 0).
    alpha : the error rate controlled over all tested pairs.
    error : ``"fdr"`` (Benjamini–Hochberg) or ``"fwer"`` (Holm).
    site_order : the model's sites in forward order; default: layers from the sites joined by a
        nonzero measured effect.

    Returns
    -------
    A validated graph; nodes carry ``site``, ``index``, ``layer``, ``role``, ``stage`` (units) and
    ``active`` (has a kept edge); edges carry ``effect``, ``weight`` (= |effect|), ``effect_sd``,
    ``ci_low``, ``ci_high``, ``stderr``, ``p_value``, ``q_value``, ``intervention``, ``statistic``
    and ``n_samples``.  ``G.graph`` records ``error``, ``alpha``, ``min_effect``, ``n_tested`` and
    ``n_untestable``.

    Examples
    --------
    >>> import numpy as np
    >>> reps = [EffectMatrix(np.array([[1.0 + 0.02 * (r - 1.5), 1e-9]]), ["latent.mu[0]"], ["decoder.h[0]", "decoder.h[1]"],
    ...                      intervention="mean-ablation", statistic="mean_abs", n_samples=16) for r in range(4)]
    >>> G = causal_unit_graph([EffectMatrix.average(reps)], stages={"latent.mu": "latent", "decoder.h": "decoder"},
    ...                       spread={"decoder.h[0]": 2.0, "decoder.h[1]": 1.0})
    >>> list(G.edges), round(G.edges["latent.mu[0]", "decoder.h[0]"]["effect_sd"], 3)
    ([('latent.mu[0]', 'decoder.h[0]')], 0.5)
    """
    matrices = list(matrices)
    if not matrices or not all(isinstance(m, EffectMatrix) for m in matrices):
        raise TypeError("matrices must be a non-empty sequence of EffectMatrix")
    if error not in ERRORS:
        raise ValueError(f"error must be one of {sorted(ERRORS)}, got {error!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    if not (isinstance(min_effect, (int, float)) and math.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"min_effect must be a finite number >= 0, got {min_effect!r}")
    G = new_graph("unit", error=error, alpha=float(alpha), min_effect=float(min_effect))
    labelled = [([_node_id(s, as_target=False) for s in m.sources], [_node_id(t, as_target=True) for t in m.targets])
                for m in matrices]
    tests = [_tests(m, k, targets, spread, min_effect) for k, (m, (_, targets)) in enumerate(zip(matrices, labelled))]
    pooled = np.concatenate([t["p"].ravel() for t in tests])
    q_all = ERRORS[error](pooled)
    measured: set[tuple[str, str]] = set()
    offset = 0
    for m, (sources, targets), t in zip(matrices, labelled, tests):
        q = q_all[offset:offset + m.values.size].reshape(m.values.shape)
        offset += m.values.size
        for node in (*sources, *targets):
            if node not in G:
                _add_node(G, node, stages)
        measured |= {(G.nodes[sources[i]]["site"], G.nodes[targets[j]]["site"]) for i, j in zip(*np.nonzero(m.values))}
        for i, j in zip(*np.nonzero(q <= alpha)):
            if sources[i] == targets[j]:
                raise ValueError(f"effect of {sources[i]!r} on itself in matrix {m.intervention!r}")
            e = float(m.values[i, j])
            G.add_edge(sources[i], targets[j], effect=e, weight=abs(e), effect_sd=e / float(t["scale"][i, j]),
                       ci_low=float(t["low"][i, j]), ci_high=float(t["high"][i, j]), stderr=float(m.stderr[i, j]),
                       p_value=float(t["p"][i, j]), q_value=float(q[i, j]), intervention=m.intervention,
                       statistic=m.statistic, n_samples=m.n_samples)
    G.graph["n_tested"] = int(np.isfinite(pooled).sum())
    G.graph["n_untestable"] = int(sum(t["untestable"].sum() for t in tests))
    layer = _layers(G, measured, site_order)
    for node, data in G.nodes(data=True):
        data["layer"] = layer[data["site"]]
        data["active"] = G.degree(node) > 0
    return validate(G)


def _add_node(G: nx.DiGraph, node: str, stages: Mapping[str, str] | None) -> None:
    site, index = _site_and_index(node)
    stage = _stage(site, stages)
    attrs = {"site": site, "index": index, "layer": 0, "role": _ROLE_OF_STAGE[stage], "active": False}
    if stage not in ("factor", "readout"):
        attrs["stage"] = stage
    G.add_node(node, **attrs)


def block_density(G: nx.DiGraph, matrices: Sequence[EffectMatrix]) -> "pd.DataFrame":  # noqa: F821
    """Kept edges over tested pairs for every (source site, target site) block of the unit graph.

    A block near density 1 means the graph keeps the network's wiring skeleton there, not its effects.
    """
    import pandas as pd

    tested: dict[tuple[str, str], int] = {}
    for m in matrices:
        src = [_site_and_index(_node_id(s, as_target=False))[0] for s in m.sources]
        tgt = [_site_and_index(_node_id(t, as_target=True))[0] for t in m.targets]
        for i, j in zip(*np.nonzero(measured_mask(m))):
            tested[src[i], tgt[j]] = tested.get((src[i], tgt[j]), 0) + 1
    kept: dict[tuple[str, str], int] = {}
    for u, v in G.edges:
        key = (G.nodes[u]["site"], G.nodes[v]["site"])
        kept[key] = kept.get(key, 0) + 1
    rows = [{"source_site": s, "target_site": t, "tested": n, "edges": kept.get((s, t), 0),
             "density": kept.get((s, t), 0) / n} for (s, t), n in tested.items()]
    return pd.DataFrame(rows, columns=["source_site", "target_site", "tested", "edges", "density"])


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
