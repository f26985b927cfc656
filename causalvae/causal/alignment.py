"""Align a network's units with the semantic factors and its implemented factor graph with a factor DAG.

1. Units and latents are assigned to factors by :func:`classify_units` on the factor × unit
   responses: a monosemantic unit belongs to its top factor; dead, polysemantic and diffuse units
   stay unassigned (their candidate factors are listed).
2. The *induced* factor graph has ``k -> j`` (k ≠ j) when a kept effect edge of the causal unit
   graph runs from a unit assigned to ``k`` into a unit assigned to ``j`` or into the read-out of
   ``j``; its ``effect`` sums the signed unit-level effects and ``n_edges`` counts them.
3. The induced graph is compared with a reference DAG over the factor names (known, from the
   dataset, or learned) by SHD and edge precision/recall (:mod:`causalvae.causal.dags`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import pandas as pd

from causalvae.causal.dags import check_dag, compare_dags
from causalvae.causal.effect_graph import READOUT_PREFIX, check_labels
from causalvae.causal.unit_classes import classify_units
from causalvae.effects import EffectMatrix
from causalvae.graph.schema import new_graph, validate
from causalvae.units import factor_id, parse_factor


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align`.

    Attributes
    ----------
    assignments : one row per unit (see :func:`classify_units`) plus ``layer`` and ``role``.
    induced : factor graph (bare factor names) the network implements.
    graph : ``kind="aligned"`` graph over ``factor.<name>`` nodes for export; edges carry effects and a
        ``status`` (``match``, ``extra``, ``reversed``; reference-only edges are ``missing`` with effect 0).
    comparison : SHD and precision/recall against the reference, or None without one.
    """

    assignments: pd.DataFrame
    induced: nx.DiGraph
    graph: nx.DiGraph
    comparison: dict[str, Any] | None


def _factor_of(assignments: pd.DataFrame, G: nx.DiGraph) -> dict[str, str]:
    owner = {u: f for u, f, c in zip(assignments["unit"], assignments["factor"], assignments["class"])
             if c == "monosemantic"}
    owner.update({n: n[len(READOUT_PREFIX):] for n in G if n.startswith(READOUT_PREFIX)})
    return owner


def _induce(G: nx.DiGraph, owner: dict[str, str], factors: list[str]) -> nx.DiGraph:
    induced = nx.DiGraph()
    induced.add_nodes_from(factors)
    for u, v, data in G.edges(data=True):
        k, j = owner.get(u), owner.get(v)
        if k is None or j is None or k == j or G.nodes[u]["role"] == "factor":
            continue
        if j not in induced:
            raise ValueError(f"read-out {v!r} names factor {j!r}, not one of the response factors {factors}")
        if induced.has_edge(k, j):
            induced.edges[k, j]["effect"] += data["effect"]
            induced.edges[k, j]["n_edges"] += 1
        else:
            induced.add_edge(k, j, effect=data["effect"], n_edges=1)
    return induced


def _status(induced: nx.DiGraph, reference: nx.DiGraph | None, u: str, v: str) -> str:
    if reference is None:
        return "unreferenced"
    if reference.has_edge(u, v):
        return "match"
    return "reversed" if reference.has_edge(v, u) else "extra"


def _aligned_graph(induced: nx.DiGraph, reference: nx.DiGraph | None, assignments: pd.DataFrame) -> nx.DiGraph:
    A = new_graph("aligned")
    mono = assignments[assignments["class"] == "monosemantic"]
    for name in induced:
        A.add_node(factor_id(name), role="factor", n_units=int((mono["factor"] == name).sum()),
                   n_latents=int(((mono["factor"] == name) & (mono["role"] == "latent")).sum()))
    for u, v, d in induced.edges(data=True):
        A.add_edge(factor_id(u), factor_id(v), effect=float(d["effect"]), weight=abs(float(d["effect"])),
                   intervention="induced", statistic="sum", n_edges=d["n_edges"],
                   status=_status(induced, reference, u, v))
    for u, v in (reference.edges() if reference is not None else ()):
        if not induced.has_edge(u, v) and not induced.has_edge(v, u):
            A.add_edge(factor_id(u), factor_id(v), effect=0.0, weight=0.0, intervention="induced",
                       statistic="sum", n_edges=0, status="missing")
    return validate(A)


def align(graph: nx.DiGraph, responses: EffectMatrix, *, reference: nx.DiGraph | None = None,
          dead: float = 0.01, mono: float = 0.7, poly: float = 0.25) -> Alignment:
    """Assign units to factors, induce the implemented factor graph and compare it with ``reference``.

    Parameters
    ----------
    graph : the causal unit graph (:func:`causalvae.causal.causal_unit_graph`).
    responses : factor × unit responses (rows ``factor.<name>``) for the units to assign; its
        columns must be nodes of ``graph``.
    reference : DAG over bare factor names (e.g. ``dataset.factor_dag`` or :func:`learn_dag`).
    dead, mono, poly : unit-class thresholds (:func:`classify_units`).
    """
    if graph.graph.get("kind") != "unit":
        raise ValueError(f"graph must be a causal unit graph (kind 'unit'), got kind {graph.graph.get('kind')!r}")
    check_labels(graph, responses.targets, what="the response matrix")
    classes = classify_units(responses, dead=dead, mono=mono, poly=poly)
    classes["layer"] = [graph.nodes[u]["layer"] for u in classes["unit"]]
    classes["role"] = [graph.nodes[u]["role"] for u in classes["unit"]]
    factors = [parse_factor(s) for s in responses.sources]
    if reference is not None:
        check_dag(reference, name="reference factor DAG")
        if set(reference.nodes) != set(factors):
            raise ValueError(f"reference DAG factors {sorted(map(str, reference.nodes))} do not match the "
                             f"response factors {sorted(factors)}")
    induced = _induce(graph, _factor_of(classes, graph), factors)
    comparison = compare_dags(induced, reference) if reference is not None else None
    return Alignment(assignments=classes, induced=induced, graph=_aligned_graph(induced, reference, classes),
                     comparison=comparison)
