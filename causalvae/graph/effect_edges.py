"""Put measured effects (an :class:`~causalvae.effects.EffectMatrix`) onto the edges of a graph.  Torch-free."""

from __future__ import annotations

import networkx as nx

from causalvae.effects import EffectMatrix
from causalvae.graph.schema import validate
from causalvae.units import is_factor


def attach_effects(G: nx.DiGraph, effects: EffectMatrix, *, add_missing: bool = False,
                   min_weight: float = 0.0) -> nx.DiGraph:
    """A copy of ``G`` whose edges ``source -> target`` carry the effects measured in ``effects``.

    Parameters
    ----------
    G : a unit (or circuit / aligned) graph whose node ids are the matrix's unit or factor ids.
    effects : effects of rows (sources) on columns (targets).
    add_missing : also add edges for pairs that have no edge in ``G`` (effects of units further
        apart, factor -> unit effects); factor ids missing from ``G`` are added as ``role="factor"``
        nodes.  Otherwise only existing edges receive effects.
    min_weight : pairs with ``|effect| < min_weight`` are not added as new edges (existing edges
        always receive their effect).

    Returns
    -------
    The copy, with ``effect``, ``weight`` (= ``|effect|``), ``intervention``, ``statistic``,
    ``n_samples`` and, when the matrix has them, ``stderr`` / ``ci_low`` / ``ci_high`` on each
    edge that received an effect (an ``EffectMatrix`` holds only finite numbers).  Unit ids
    absent from ``G`` raise ``KeyError`` when they would be needed.

    Examples
    --------
    >>> import numpy as np
    >>> from causalvae.graph.schema import new_graph
    >>> G = new_graph("unit")
    >>> for i, site in enumerate(["enc[0]", "mu[0]"]):
    ...     G.add_node(site, site=site[:-3], index=0, layer=i, role="hidden", active=True)
    >>> G.add_edge("enc[0]", "mu[0]")
    >>> m = EffectMatrix(np.array([[-0.5]]), ["enc[0]"], ["mu[0]"], intervention="zero-ablation",
    ...                  statistic="mean", n_samples=4)
    >>> attach_effects(G, m).edges["enc[0]", "mu[0]"]["weight"]
    0.5
    """
    if not isinstance(effects, EffectMatrix):
        raise TypeError(f"effects must be an EffectMatrix, got {type(effects).__name__}")
    if min_weight < 0:
        raise ValueError(f"min_weight must be >= 0, got {min_weight}")
    out = G.copy()
    for i, source in enumerate(effects.sources):
        for j, target in enumerate(effects.targets):
            value = float(effects.values[i, j])
            if not out.has_edge(source, target):
                if not add_missing or abs(value) < min_weight:
                    continue
                for node in (source, target):
                    _ensure_node(out, node)
            out.add_edge(source, target, **_edge_attrs(effects, i, j, value))
    return validate(out)


def _edge_attrs(effects: EffectMatrix, i: int, j: int, value: float) -> dict[str, object]:
    attrs: dict[str, object] = {"effect": value, "weight": abs(value), "intervention": effects.intervention,
                                "statistic": effects.statistic, "n_samples": effects.n_samples}
    for name in ("stderr", "ci_low", "ci_high"):
        array = getattr(effects, name)
        if array is not None:
            attrs[name] = float(array[i, j])
    return attrs


def _ensure_node(G: nx.DiGraph, node: str) -> None:
    if node in G:
        return
    if not is_factor(node):
        raise KeyError(f"effect endpoint {node!r} is not a node of the graph and not a factor id "
                       f"('factor.<name>'); build the unit graph with its site first")
    G.add_node(node, site=node, index=-1, layer=-1, role="factor", active=True)
