"""DAG utilities: validation, CPDAGs, structural Hamming distance, edge precision/recall/F1, the edge
classifier (correct / reversed / missing / extra), ROC-AUC of edge scores, d-separation.

Partially directed graphs (CPDAGs, PC output) are plain :class:`networkx.DiGraph` objects in which an
*undirected* edge ``u - v`` is stored as the two arcs ``u -> v`` and ``v -> u``.  Every comparison works
per adjacent node pair, whose state is one of: absent, ``u -> v``, ``v -> u`` or undirected.

>>> import networkx as nx
>>> truth = nx.DiGraph([("a", "c"), ("b", "c")])
>>> shd(nx.DiGraph([("a", "c"), ("c", "b")]), truth)
1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

_PairState = str  # "->" (first node to second in sorted pair order), "<-", or "--"


def check_dag(G: nx.DiGraph, *, name: str = "graph") -> nx.DiGraph:
    """Return ``G`` if it is a directed acyclic graph, else raise ``ValueError`` naming a cycle."""
    if not isinstance(G, nx.DiGraph):
        raise TypeError(f"{name} must be a networkx.DiGraph, got {type(G).__name__}")
    if not nx.is_directed_acyclic_graph(G):
        cycle = " -> ".join(str(u) for u, _ in nx.find_cycle(G))
        raise ValueError(f"{name} must be acyclic (a DAG), but it has the cycle {cycle} -> ...")
    return G


def _pair_states(G: nx.DiGraph) -> dict[tuple[str, str], _PairState]:
    states: dict[tuple[str, str], _PairState] = {}
    for u, v in G.edges():
        if u == v:
            raise ValueError(f"self-loop on {u!r} is not allowed in a causal graph")
        key = (u, v) if str(u) <= str(v) else (v, u)
        forward = "->" if key == (u, v) else "<-"
        states[key] = "--" if key in states and states[key] != forward else forward
    return states


def _check_same_nodes(a: nx.DiGraph, b: nx.DiGraph) -> None:
    if set(a.nodes) != set(b.nodes):
        only_a, only_b = sorted(map(str, set(a) - set(b))), sorted(map(str, set(b) - set(a)))
        raise ValueError(f"graphs must have the same nodes; only in the first: {only_a}, only in the second: {only_b}")


def shd(a: nx.DiGraph, b: nx.DiGraph) -> int:
    """Structural Hamming distance: node pairs whose edge state differs.

    A missing, extra or reversed edge counts 1, as does a directed-versus-undirected disagreement, so the
    function compares DAGs, CPDAGs, or one with the other.  The graphs must share their node set.
    """
    _check_same_nodes(a, b)
    sa, sb = _pair_states(a), _pair_states(b)
    return sum(sa.get(p) != sb.get(p) for p in set(sa) | set(sb))


def edge_precision_recall(estimated: nx.DiGraph, reference: nx.DiGraph, *,
                          directed: bool = True) -> tuple[float, float]:
    """Precision and recall of the estimated edges against the reference.

    With ``directed=True`` an estimated pair counts as correct only when its orientation matches too
    (undirected matches undirected); with ``directed=False`` only adjacency (the skeleton) is compared.
    Empty denominators give 1.0 (no edge claimed means no false edge; no edge to find means none missed).
    """
    _check_same_nodes(estimated, reference)
    se, sr = _pair_states(estimated), _pair_states(reference)
    hits = sum(p in sr and (not directed or sr[p] == s) for p, s in se.items())
    precision = hits / len(se) if se else 1.0
    recall = hits / len(sr) if sr else 1.0
    return precision, recall


def compare_dags(estimated: nx.DiGraph, reference: nx.DiGraph) -> dict[str, float | int]:
    """SHD, oriented precision/recall/F1, skeleton precision/recall, and counts of extra, missing and
    misoriented edges.

    >>> truth = nx.DiGraph([("a", "b"), ("b", "c")])
    >>> {k: compare_dags(nx.DiGraph([("a", "b"), ("a", "c")]), truth)[k] for k in ("shd", "precision", "f1")}
    {'shd': 2, 'precision': 0.5, 'f1': 0.5}
    """
    se, sr = _pair_states(estimated), _pair_states(reference)
    _check_same_nodes(estimated, reference)
    precision, recall = edge_precision_recall(estimated, reference)
    sk_precision, sk_recall = edge_precision_recall(estimated, reference, directed=False)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"shd": shd(estimated, reference), "precision": precision, "recall": recall, "f1": f1,
            "skeleton_precision": sk_precision, "skeleton_recall": sk_recall,
            "n_extra": sum(p not in sr for p in se), "n_missing": sum(p not in se for p in sr),
            "n_misoriented": sum(p in sr and sr[p] != s for p, s in se.items())}


@dataclass(frozen=True)
class EdgeClasses:
    """Directed edges of an estimate against a reference, each sorted.

    ``correct``: in both; ``reversed``: estimated edges whose reverse (only) is a reference edge;
    ``extra``: other estimated edges; ``missing``: reference edges neither found nor found reversed.
    """

    correct: tuple[tuple[str, str], ...]
    reversed: tuple[tuple[str, str], ...]
    missing: tuple[tuple[str, str], ...]
    extra: tuple[tuple[str, str], ...]

    def status(self, edge: tuple[str, str]) -> str:
        """``"match"``, ``"reversed"`` or ``"extra"`` for an estimated edge, ``"missing"`` for a reference one."""
        for name, edges in (("match", self.correct), ("reversed", self.reversed), ("extra", self.extra),
                            ("missing", self.missing)):
            if tuple(edge) in edges:
                return name
        raise KeyError(f"edge {edge!r} is neither an estimated nor a reference edge")


def classify_edges(estimated: Iterable[tuple[str, str]], reference: Iterable[tuple[str, str]]) -> EdgeClasses:
    """The one edge classifier: sort estimated and reference edges into correct / reversed / missing / extra.

    Every estimated edge lands in exactly one of correct, reversed, extra; every reference edge is
    correct, missing, or the reverse of a reversed edge.

    >>> c = classify_edges([("a", "b"), ("c", "b"), ("d", "c")], [("a", "b"), ("b", "c"), ("a", "d")])
    >>> c.correct, c.reversed, c.missing, c.extra
    ((('a', 'b'),), (('c', 'b'),), (('a', 'd'),), (('d', 'c'),))
    """
    found, truth = {tuple(e) for e in estimated}, {tuple(e) for e in reference}
    flipped = {(u, v) for u, v in found - truth if (v, u) in truth}
    return EdgeClasses(correct=tuple(sorted(found & truth)), reversed=tuple(sorted(flipped)),
                       missing=tuple(sorted(e for e in truth - found if (e[1], e[0]) not in flipped)),
                       extra=tuple(sorted(found - truth - flipped)))


def edge_roc_auc(scores: Mapping[tuple[str, str], float], reference: nx.DiGraph) -> float:
    """ROC-AUC of directed edge scores against the reference edges, over every ordered pair of distinct nodes.

    The area under the curve traced by thresholding ``scores`` (ties count one half): the probability
    that a reference edge scores above a non-edge.  NaN when the reference has no edge or every pair
    is an edge.

    >>> truth = nx.DiGraph([("a", "b")]); truth.add_node("c")
    >>> pairs = [(u, v) for u in "abc" for v in "abc" if u != v]
    >>> edge_roc_auc({p: float(p == ("a", "b")) for p in pairs}, truth)
    1.0
    """
    from scipy.stats import rankdata

    pairs = [(u, v) for u in reference for v in reference if u != v]
    missing = [p for p in pairs if p not in scores]
    if missing:
        raise KeyError(f"scores must cover every ordered node pair of the reference; missing {missing[:3]}")
    values = np.array([float(scores[p]) for p in pairs])
    if not np.isfinite(values).all():
        raise ValueError(f"edge scores must be finite, got {values[~np.isfinite(values)][:3].tolist()}")
    positive = np.array([reference.has_edge(*p) for p in pairs])
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(values)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _is_undirected(G: nx.DiGraph, u: str, v: str) -> bool:
    return G.has_edge(u, v) and G.has_edge(v, u)


def _adjacent(G: nx.DiGraph, u: str, v: str) -> bool:
    return G.has_edge(u, v) or G.has_edge(v, u)


def _orient(G: nx.DiGraph, u: str, v: str) -> None:
    G.remove_edge(v, u)


def apply_meek_rules(pdag: nx.DiGraph) -> nx.DiGraph:
    """Orient undirected edges of a PDAG by Meek's rules R1-R3 until nothing changes (returns a copy)."""
    G = pdag.copy()
    changed = True
    while changed:
        changed = False
        for u, v in [(u, v) for u, v in G.edges() if _is_undirected(G, u, v)]:
            if not _is_undirected(G, u, v):
                continue
            directed_in = [w for w in G.predecessors(u) if not G.has_edge(u, w)]
            r1 = any(not _adjacent(G, w, v) for w in directed_in if w != v)
            r2 = any(G.has_edge(w, v) and not G.has_edge(v, w) for w in G.successors(u)
                     if w != v and not G.has_edge(w, u))
            into_v = [w for w in G.predecessors(v) if not G.has_edge(v, w) and _is_undirected(G, u, w)]
            r3 = any(not _adjacent(G, c, d) for i, c in enumerate(into_v) for d in into_v[i + 1:])
            if r1 or r2 or r3:
                _orient(G, u, v)
                changed = True
    return G


def cpdag(dag: nx.DiGraph) -> nx.DiGraph:
    """The CPDAG (essential graph) of a DAG: v-structure edges and those compelled by Meek's rules."""
    check_dag(dag, name="dag")
    G = nx.DiGraph()
    G.add_nodes_from(dag.nodes(data=True))
    compelled = {(a, c) for c in dag for a in dag.predecessors(c)
                 for b in dag.predecessors(c) if b != a and not _adjacent(dag, a, b)}
    for u, v in dag.edges():
        G.add_edge(u, v)
        if (u, v) not in compelled:
            G.add_edge(v, u)
    return apply_meek_rules(G)


def orient_by_order(pdag: nx.DiGraph, tiers: Sequence[Iterable[str]]) -> nx.DiGraph:
    """Orient undirected edges from earlier to later tiers (background knowledge), then apply Meek's rules.

    Edges the data already oriented are kept even when they contradict the tiers.
    """
    rank: dict[str, int] = {}
    for i, tier in enumerate(tiers):
        for node in tier:
            rank[node] = i
    unknown = sorted(set(rank) - set(pdag.nodes))
    if unknown:
        raise ValueError(f"tiers name nodes not in the graph: {unknown}; graph nodes: {sorted(pdag.nodes)}")
    G = pdag.copy()
    for u, v in [(u, v) for u, v in G.edges() if _is_undirected(G, u, v)]:
        if _is_undirected(G, u, v) and u in rank and v in rank and rank[u] < rank[v]:
            _orient(G, u, v)
    return apply_meek_rules(G)


def d_separated(G: nx.DiGraph, x: str | Iterable[str], y: str | Iterable[str],
                given: Iterable[str] = ()) -> bool:
    """Whether ``x`` and ``y`` are d-separated by ``given`` in the DAG ``G``."""
    check_dag(G)
    as_set = lambda s: {s} if isinstance(s, str) else set(s)  # noqa: E731
    xs, ys, zs = as_set(x), as_set(y), as_set(given)
    unknown = sorted((xs | ys | zs) - set(G.nodes))
    if unknown:
        raise KeyError(f"unknown node(s) {unknown}; graph nodes are {sorted(G.nodes)}")
    return nx.is_d_separator(G, xs, ys, zs)


def local_markov_statements(G: nx.DiGraph) -> list[tuple[str, str, tuple[str, ...]]]:
    """Testable statements ``(x, y, parents(x))`` with ``x ⫫ y | parents(x)`` (local Markov property).

    ``y`` ranges over nodes that are neither descendants nor parents of ``x``; each pair appears once.
    """
    check_dag(G)
    out, seen = [], set()
    for x in G:
        parents = tuple(sorted(G.predecessors(x)))
        for y in sorted(set(G) - nx.descendants(G, x) - set(parents) - {x}):
            if frozenset((x, y)) not in seen:
                seen.add(frozenset((x, y)))
                out.append((x, y, parents))
    return out

