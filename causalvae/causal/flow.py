"""Path arithmetic on effect graphs: how much of a source's effect flows through each node and edge.

The effect carried from ``source`` to ``targets`` is the sum, over all directed paths, of the
product of edge weights (``|effect|``) along the path — exact for linear networks, the standard
path-patching approximation otherwise.  Computed in linear time by dynamic programming.  Used by the
motif counts (:mod:`causalvae.causal.motifs`); circuits are measured, not path-summed
(:mod:`causalvae.causal.circuits`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import networkx as nx

from causalvae.causal.effect_graph import readout_id


@dataclass(frozen=True)
class Flow:
    """Forward (``reach``) and backward (``co_reach``) path sums from a source to a target set."""

    source: str
    targets: frozenset[str]
    reach: dict[str, float]
    co_reach: dict[str, float]

    @property
    def total(self) -> float:
        """Total path-sum effect of the source on the targets."""
        return self.reach.get(self.source, 0.0) * self.co_reach.get(self.source, 0.0)

    def through_node(self, node: str) -> float:
        return self.reach.get(node, 0.0) * self.co_reach.get(node, 0.0)

    def through_edge(self, G: nx.DiGraph, u: str, v: str) -> float:
        return self.reach.get(u, 0.0) * G.edges[u, v]["weight"] * self.co_reach.get(v, 0.0)


def flow(G: nx.DiGraph, source: str, targets: Collection[str], *, weight: str = "weight") -> Flow:
    """Path sums from ``source`` to ``targets`` over the acyclic graph ``G``."""
    missing = [t for t in (source, *targets) if t not in G]
    if missing:
        raise KeyError(f"nodes {missing} are not in the graph")
    order = [n for n in nx.topological_sort(G)]
    reach = {source: 1.0}
    for node in order:
        if node in reach:
            for succ in G.successors(node):
                reach[succ] = reach.get(succ, 0.0) + reach[node] * G.edges[node, succ][weight]
    target_set = frozenset(targets)
    co = {t: 1.0 for t in target_set}
    for node in reversed(order):
        if node in target_set:
            continue
        total = sum(G.edges[node, s][weight] * co[s] for s in G.successors(node) if s in co)
        if total:
            co[node] = total
    return Flow(source=source, targets=target_set, reach=reach, co_reach=co)


def default_targets(G: nx.DiGraph, factor: str) -> list[str]:
    """Targets of a factor's path sums: its read-out node ``readout.<factor>`` when ``G`` has one, else every latent."""
    own = readout_id(factor)
    if own in G:
        return [own]
    latents = [n for n, r in G.nodes(data="role") if r == "latent"]
    if not latents:
        raise ValueError(f"no target for factor {factor!r}: the graph has neither {own!r} nor latent nodes")
    return latents
