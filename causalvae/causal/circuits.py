"""Per-factor circuits: the smallest edge set carrying a chosen fraction of a factor's effect.

For factor ``k`` the effect on its targets (its read-out ``readout.<k>`` when the graph has one,
else every latent) is the path sum of :mod:`causalvae.causal.flow` over :func:`entry_graph`.
Edges are ranked by the effect flowing through them; the circuit is the shortest prefix of that
ranking whose subgraph still carries ``≥ fraction`` of the total (found by bisection: the carried
effect only grows with more edges), pruned to edges on factor-to-target paths.

*Faithfulness* validates it on the model: with a callback ``evaluate(keep) -> float`` giving the
behaviour when every unit outside ``keep`` is ablated (``causalvae.interventions.ablate_outside``
builds one),
``faithfulness = (evaluate(circuit) − evaluate(∅)) / (evaluate(all units) − evaluate(∅))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import networkx as nx
import pandas as pd

from causalvae.causal.effect_graph import entry_graph, readout_id
from causalvae.causal.flow import flow
from causalvae.graph.schema import new_graph, validate
from causalvae.units import factor_id, is_factor, parse_factor

Evaluate = Callable[[set[str]], float]


@dataclass(frozen=True)
class Circuit:
    """A factor's circuit: ``graph`` (kind ``"circuit"``), its ``units`` (non-factor nodes), the
    ``carried`` fraction of the factor's path-sum effect, and ``faithfulness`` (NaN if not evaluated)."""

    factor: str
    graph: nx.DiGraph
    units: frozenset[str]
    carried: float
    faithfulness: float

    @property
    def size(self) -> int:
        return len(self.units)


def default_targets(G: nx.DiGraph, factor: str) -> list[str]:
    own = readout_id(factor)
    if own in G:
        return [own]
    latents = [n for n, r in G.nodes(data="role") if r == "latent"]
    if not latents:
        raise ValueError(f"no target for factor {factor!r}: the graph has neither {own!r} nor latent nodes")
    return latents


def _carried(H: nx.DiGraph, edges: list[tuple[str, str]], source: str, targets: list[str]) -> float:
    sub = nx.DiGraph()
    sub.add_nodes_from(H.nodes)
    sub.add_edges_from((u, v, H.edges[u, v]) for u, v in edges)
    return flow(sub, source, targets).total


def _circuit_graph(G: nx.DiGraph, edges: Iterable[tuple[str, str]], **attrs: object) -> nx.DiGraph:
    C = new_graph("circuit", **attrs)
    for u, v in edges:
        for n in (u, v):
            C.add_node(n, **G.nodes[n])
        C.add_edge(u, v, **G.edges[u, v])
    return validate(C)


def circuit(graph: nx.DiGraph, factor: str, *, fraction: float = 0.8, targets: Iterable[str] | None = None,
            evaluate: Evaluate | None = None) -> Circuit:
    """The circuit of one factor (bare name or ``factor.<name>``); see the module docstring."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    name = parse_factor(factor) if is_factor(factor) else factor
    source = factor_id(name)
    if source not in graph:
        known = sorted(parse_factor(n) for n in graph if is_factor(n))
        raise KeyError(f"factor {name!r} is not in the graph; factors: {known}")
    H = entry_graph(graph)
    tgt = list(targets) if targets is not None else default_targets(graph, name)
    f = flow(H, source, tgt)
    total = f.total
    if total <= 0:
        raise ValueError(f"factor {name!r} has no effect path to {tgt[:5]}; no circuit to find")
    ranked = sorted((e for e in H.edges() if f.through_edge(H, *e) > 0), key=lambda e: -f.through_edge(H, *e))
    lo, hi = 1, len(ranked)
    while lo < hi:
        mid = (lo + hi) // 2
        if _carried(H, ranked[:mid], source, tgt) >= fraction * total * (1 - 1e-12):
            hi = mid
        else:
            lo = mid + 1
    kept = ranked[:lo]
    sub = nx.DiGraph(kept)
    reachable = nx.descendants(sub, source) | {source} if source in sub else set()
    on_path = reachable & set().union(*(nx.ancestors(sub, t) | {t} for t in tgt if t in sub))
    edges = [(u, v) for u, v in kept if u in on_path and v in on_path]
    carried = _carried(H, edges, source, tgt) / total
    units = frozenset(n for e in edges for n in e if not is_factor(n))
    faith = math.nan if evaluate is None else faithfulness(evaluate, units, graph)
    C = _circuit_graph(graph, edges, factor=name, fraction=float(fraction), carried=carried,
                       **({} if evaluate is None else {"faithfulness": faith}))
    return Circuit(factor=name, graph=C, units=units, carried=carried, faithfulness=faith)


def faithfulness(evaluate: Evaluate, keep: Iterable[str], graph: nx.DiGraph) -> float:
    """Normalised behaviour kept when only ``keep`` is left un-ablated (1 = all, 0 = like ablating all)."""
    every = {n for n in graph if not is_factor(n)}
    full, empty, part = float(evaluate(every)), float(evaluate(set())), float(evaluate(set(keep)))
    if not all(map(math.isfinite, (full, empty, part))):
        raise ValueError(f"evaluate returned a non-finite value: full={full}, empty={empty}, circuit={part}")
    if full == empty:
        raise ValueError(f"evaluate gives the same behaviour ({full}) with all units and with none; "
                         "faithfulness is undefined")
    return (part - empty) / (full - empty)


def circuits(graph: nx.DiGraph, *, factors: Iterable[str] | None = None, fraction: float = 0.8,
             evaluate: Callable[[str, set[str]], float] | None = None) -> dict[str, Circuit]:
    """Circuits of several factors (default: every factor node of the graph).

    ``evaluate(factor, keep)`` is the per-factor behaviour under ablation outside ``keep``.
    """
    names = [parse_factor(n) for n in graph if is_factor(n)] if factors is None else list(factors)
    return {n: circuit(graph, n, fraction=fraction,
                       evaluate=None if evaluate is None else (lambda keep, n=n: evaluate(n, keep)))
            for n in names}


def circuit_summary(found: dict[str, Circuit]) -> pd.DataFrame:
    """One row per circuit: ``factor, size`` (units), ``n_edges``, ``carried``, ``faithfulness``."""
    return pd.DataFrame([{"factor": c.factor, "size": c.size, "n_edges": c.graph.number_of_edges(),
                          "carried": c.carried, "faithfulness": c.faithfulness} for c in found.values()],
                        columns=["factor", "size", "n_edges", "carried", "faithfulness"])
