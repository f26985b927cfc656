"""Factor graphs read from interchange effects (torch-free): the effect matrix Δ, the max-null edge
threshold, the thresholded graph, its scores against a reference DAG and its schema (``aligned``) graph.
The interchanges themselves run in :func:`causalvae.interventions.alignment_search.interchange_graphs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd


def effect_matrix(base: np.ndarray, swapped: Mapping[str, np.ndarray], *, scale: np.ndarray,
                  readouts: Sequence[str]) -> pd.DataFrame:
    """``Δ[k, j] = E|R_j(x̂'_k) - R_j(x̂_b)| / sd(V_j)``: rows the swapped factor, columns the read-outs.

    >>> effect_matrix(np.zeros((2, 2)), {"a": np.array([[1.0, 0.0], [3.0, 1.0]])}, scale=np.array([2.0, 1.0]),
    ...               readouts=["a", "b"])
         a    b
    a  1.0  0.5
    """
    base = np.asarray(base, dtype=np.float64)
    if base.ndim != 2 or base.shape[1] != len(readouts) or np.shape(scale) != (len(readouts),):
        raise ValueError(f"base must be (N, {len(readouts)}) and scale ({len(readouts)},) for read-outs "
                         f"{list(readouts)}; got {base.shape} and {np.shape(scale)}")
    rows = [np.abs(np.asarray(swapped[k], dtype=np.float64) - base).mean(axis=0) / scale for k in swapped]
    return pd.DataFrame(np.array(rows), index=list(swapped), columns=list(readouts))


def null_threshold(base: np.ndarray, null_swaps: Sequence[np.ndarray], *, scale: np.ndarray,
                   usable: np.ndarray | None = None, alpha: float = 0.05) -> float:
    """Westfall–Young max-null edge threshold: the ``1 - alpha`` quantile, over the null swaps (the
    alignment's unaligned remainder), of ``max_j E|R_j(swap) - R_j(base)| / sd(V_j)`` over usable read-outs.

    >>> base = np.zeros((2, 2))
    >>> null_threshold(base, [base + [[0.1, 0.3]], base + [[0.2, 0.0]]], scale=np.ones(2), alpha=0.5)
    0.3
    """
    if not 0 < alpha < 1 or not len(null_swaps):
        raise ValueError(f"need alpha in (0, 1) and >= 1 null swap, got alpha={alpha}, {len(null_swaps)} swaps")
    use = np.ones(np.shape(base)[1], dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    maxima = [(np.abs(np.asarray(s) - base).mean(axis=0) / scale)[use].max() for s in null_swaps]
    return float(np.quantile(maxima, 1 - alpha, method="higher"))


def interchange_graph(delta: pd.DataFrame, *, threshold: float, usable: np.ndarray | None = None,
                      min_effect: float = 0.05, leakage: np.ndarray | None = None) -> nx.DiGraph:
    """Factor graph with ``k -> j`` (k != j) when ``Δ[k, j]`` exceeds the null ``threshold``, the minimal effect
    ``min_effect`` (in sd(V_j); round-off is never an edge) and ``leakage[k, j]`` (the read-out cross-talk C:
    what read-out j shows when only k changes in a true render); edges carry ``effect``.  Both read-outs must
    be usable: j's to see the effect, k's because k's block was chosen by what it does to the read-outs, and
    without k's own read-out it was chosen for its effects on the others alone (an edge out of it would
    only repeat the hypothesis it was chosen under)."""
    k = delta.shape[1]
    use = np.ones(k, dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    leak = np.zeros((k, k)) if leakage is None else np.asarray(leakage, dtype=np.float64)
    col = {name: j for j, name in enumerate(delta.columns)}
    G = nx.DiGraph()
    G.add_nodes_from(delta.columns)
    G.add_edges_from((a, b, {"effect": float(delta.loc[a, b])}) for a in delta.index for b in delta.columns
                     if a != b and use[col[a]] and use[col[b]]
                     and delta.loc[a, b] > max(threshold, min_effect, leak[col[a], col[b]]))
    return G


def graph_scores(graph: nx.DiGraph, reference: nx.DiGraph, delta: pd.DataFrame | None = None,
                 usable: np.ndarray | None = None) -> dict[str, float]:
    """SHD, directed precision/recall/F1 against ``reference`` and, given ``Δ``, the ROC-AUC of Δ over the
    threshold (pairs from or into unusable read-outs score 0, as the thresholded graph never claims them).

    >>> delta = pd.DataFrame([[1.0, 0.6], [0.1, 1.0]], index=["a", "b"], columns=["a", "b"])
    >>> graph_scores(interchange_graph(delta, threshold=0.3), nx.DiGraph([("a", "b")]), delta)
    {'shd': 0.0, 'precision': 1.0, 'recall': 1.0, 'f1': 1.0, 'roc_auc': 1.0}
    """
    from causalvae.causal.dags import compare_dags, edge_roc_auc

    out = {k: float(v) for k, v in compare_dags(graph, reference).items() if k in ("shd", "precision", "recall", "f1")}
    if delta is not None:
        use = dict(zip(delta.columns, np.ones(delta.shape[1], bool) if usable is None else np.asarray(usable, bool)))
        out["roc_auc"] = edge_roc_auc({(k, j): float(delta.loc[k, j]) if use[k] and use[j] else 0.0
                                       for k in reference for j in reference if k != j}, reference)
    return out


def aligned_graph(graph: nx.DiGraph, reference: nx.DiGraph, *, intervention: str = "interchange",
                  statistic: str = "mean_abs") -> nx.DiGraph:
    """The schema graph (kind ``aligned``, nodes ``factor.<name>``) of an interchange graph: its edges with
    ``effect`` and ``status`` (``match`` / ``reversed`` / ``extra``), plus the reference edges it lacks,
    drawn with effect 0 and status ``missing``.

    >>> G = nx.DiGraph(); G.add_edge("a", "b", effect=0.4)
    >>> A = aligned_graph(G, nx.DiGraph([("a", "b"), ("b", "c")]))
    >>> sorted((u, v, d["status"]) for u, v, d in A.edges(data=True))
    [('factor.a', 'factor.b', 'match'), ('factor.b', 'factor.c', 'missing')]
    """
    from causalvae.causal.dags import classify_edges
    from causalvae.graph.schema import new_graph, validate
    from causalvae.units import factor_id

    classes = classify_edges(graph.edges, reference.edges)
    A = new_graph("aligned")
    A.add_nodes_from((factor_id(n), {"role": "factor"}) for n in (*reference, *graph))
    for u, v in (*graph.edges, *classes.missing):
        effect = float(graph.edges[u, v]["effect"]) if graph.has_edge(u, v) else 0.0
        A.add_edge(factor_id(u), factor_id(v), effect=effect, weight=abs(effect), intervention=intervention,
                   statistic=statistic, status=classes.status((u, v)))
    return validate(A)
