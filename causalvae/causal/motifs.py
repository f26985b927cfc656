"""Circuit motifs in the causal unit graph, counted per layer, with z-scores against a degree-preserving null.

Motifs (``layer`` is the layer of the centre node; of the start node for parallel paths):

``detector``     a unit with an edge from exactly one factor;
``convergent``   a unit with edges from two or more factors;
``divergent``    a unit with edges into two or more units of one later site (e.g. several latents);
``bottleneck``   a (factor, unit) pair where the unit carries more than ``bottleneck`` of the factor's
                 path-sum effect on its targets (:mod:`causalvae.causal.flow`);
``parallel``     a pair ``(s, t)`` joined by two or more two-step paths ``s -> m -> t`` (redundancy).

Detector and convergent use every factor edge; the path motifs use :func:`entry_graph`.
The null model rewires edges by double edge swaps *within* each (source site, target site) block —
``(a→b, c→d) → (a→d, c→b)`` — which keeps every node's in- and out-degree per block and the layer
structure (the directed, layered counterpart of ``networkx.double_edge_swap``); edge weights move
with their source node.  ``z = (count − null mean) / null std``.  Detector, convergent and divergent
counts are functions of those per-block degrees, so the null leaves them unchanged; the null tests
the path motifs (bottleneck, parallel), which depend on how the edges are wired.  Where ``z`` is
undefined the ``note`` column says why (fixed by the degrees, or a null that never changed the
count because its blocks had too few rewirable edges) instead of leaving a bare NaN.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import networkx as nx
import numpy as np
import pandas as pd

from causalvae.causal.effect_graph import entry_graph
from causalvae.causal.flow import default_targets, flow
from causalvae.units import is_factor, parse_factor

MOTIFS = ("detector", "convergent", "divergent", "bottleneck", "parallel")
#: Motifs whose counts are functions of the per-block degrees that the null model preserves.
DEGREE_FIXED = ("detector", "convergent", "divergent")


def _layer(G: nx.DiGraph, n: str) -> int:
    return int(G.nodes[n]["layer"])


def count_motifs(G: nx.DiGraph, *, bottleneck: float = 0.5) -> Counter:
    """Counts keyed by ``(motif, layer)`` for one unit graph (see the module docstring)."""
    counts: Counter = Counter()
    units = [n for n, r in G.nodes(data="role") if r != "factor"]
    for n in units:
        n_factors = sum(is_factor(p) for p in G.predecessors(n))
        if n_factors == 1:
            counts["detector", _layer(G, n)] += 1
        elif n_factors >= 2:
            counts["convergent", _layer(G, n)] += 1
        per_site = Counter(G.nodes[s]["site"] for s in G.successors(n))
        if per_site and max(per_site.values()) >= 2:
            counts["divergent", _layer(G, n)] += 1
    H = entry_graph(G)
    for f in (n for n in G if is_factor(n)):
        fl = flow(H, f, default_targets(G, parse_factor(f)))
        if fl.total <= 0:
            continue
        for n in units:
            if n not in fl.targets and fl.through_node(n) > bottleneck * fl.total:
                counts["bottleneck", _layer(G, n)] += 1
    for s in H:
        two_step = Counter(t for m in H.successors(s) if not is_factor(m) for t in H.successors(m))
        n_parallel = sum(c >= 2 for c in two_step.values())
        if n_parallel:
            counts["parallel", _layer(G, s)] += n_parallel
    return counts


def _rewired(G: nx.DiGraph, rng: np.random.Generator, swaps_per_edge: int) -> nx.DiGraph:
    blocks: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    for u, v in G.edges():
        blocks[G.nodes[u]["site"], G.nodes[v]["site"]].append([u, v])
    R = nx.DiGraph()
    R.add_nodes_from(G.nodes(data=True))
    R.graph.update(G.graph)
    for edges in blocks.values():
        present = {tuple(e) for e in edges}
        attrs = [G.edges[u, v] for u, v in edges]
        pairs = rng.integers(0, len(edges), size=(swaps_per_edge * len(edges) if len(edges) > 1 else 0, 2))
        for i, j in pairs.tolist():
            (a, b), (c, d) = edges[i], edges[j]
            if i == j or a == c or b == d or (a, d) in present or (c, b) in present:
                continue
            present -= {(a, b), (c, d)}
            present |= {(a, d), (c, b)}
            edges[i][1], edges[j][1] = d, b
        R.add_edges_from((u, v, dict(a)) for (u, v), a in zip(edges, attrs))
    return R


def motifs(graph: nx.DiGraph, *, n_null: int = 100, seed: int = 0, bottleneck: float = 0.5,
           swaps_per_edge: int = 10) -> pd.DataFrame:
    """Motif counts per layer with z-scores against ``n_null`` degree-preserving rewirings.

    Returns
    -------
    Columns ``motif, layer, count, null_mean, null_std, z, note`` for every (motif, layer) observed
    in the graph or in any null sample; ``note`` explains an undefined ``z``.
    """
    if graph.graph.get("kind") != "unit":
        raise ValueError(f"graph must be a causal unit graph (kind 'unit'), got kind {graph.graph.get('kind')!r}")
    if n_null < 2:
        raise ValueError(f"n_null must be >= 2 to estimate a null spread, got {n_null}")
    observed = count_motifs(graph, bottleneck=bottleneck)
    rng = np.random.default_rng(seed)
    nulls = [count_motifs(_rewired(graph, rng, swaps_per_edge), bottleneck=bottleneck) for _ in range(n_null)]
    keys = sorted(set(observed).union(*nulls), key=lambda k: (MOTIFS.index(k[0]), k[1]))
    rows = []
    for key in keys:
        draws = np.array([c[key] for c in nulls], dtype=float)
        sd = draws.std(ddof=1)
        note = ("" if sd > 0 else "fixed by the per-block degrees the null preserves" if key[0] in DEGREE_FIXED
                else "the null never changed this count (too few rewirable edges in its blocks)")
        rows.append({"motif": key[0], "layer": key[1], "count": observed[key], "null_mean": draws.mean(),
                     "null_std": sd, "z": (observed[key] - draws.mean()) / sd if sd > 0 else np.nan, "note": note})
    return pd.DataFrame(rows, columns=["motif", "layer", "count", "null_mean", "null_std", "z", "note"])
