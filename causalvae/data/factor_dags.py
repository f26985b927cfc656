"""Reference factor DAGs: built by the generators, stored in ``graphs/`` as DOT and GraphML.

At run time a dataset's ``factor_dag`` is read from ``<repo>/graphs/<name>.graphml`` when that
file exists (a source checkout); otherwise (e.g. an installed wheel) the generator's own
definition is used.  :mod:`causalvae.data.reference_graphs` (re)writes the stored files; a test
checks they equal the generators'.  This module imports no generator, so every generator can use it.

Graphs follow :mod:`causalvae.graph.schema`: kind ``"factor"``, node ids are factor names, nodes
carry ``role="factor"`` and ``factor_kind`` (discrete / continuous); graph attribute ``dataset``.
They are read and written by :mod:`causalvae.graph`'s one GraphML reader / writer and DOT writer
(the schema and export modules of ``graph`` are torch-free and sit below ``data`` in the layering).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import networkx as nx

from causalvae.graph.export import read_graphml
from causalvae.graph.schema import new_graph, validate

#: Where the reference graphs live in a source checkout.
GRAPHS_DIR = Path(__file__).resolve().parents[2] / "graphs"


def factor_graph(name: str, factor_names: Iterable[str], factor_kinds: Iterable[str],
                 edges: Iterable[tuple[str, str]], *, acyclic: bool = True) -> nx.DiGraph:
    """A schema-valid factor graph over ``factor_names`` with the given directed ``edges``.

    ``acyclic=False`` admits a learned CPDAG, whose undirected edge ``u - v`` is the two arcs ``u -> v``
    and ``v -> u``; otherwise a cycle is refused.

    >>> G = factor_graph("toy", ["a", "b"], ["discrete", "continuous"], [("a", "b")])
    >>> dict(G.nodes["b"]), list(G.edges)
    ({'role': 'factor', 'factor_kind': 'continuous'}, [('a', 'b')])
    """
    G = new_graph("factor", dataset=name)
    for factor, kind in zip(factor_names, factor_kinds, strict=True):
        G.add_node(factor, role="factor", factor_kind=kind)
    for u, v in edges:
        if u not in G or v not in G:
            raise ValueError(f"edge {u}->{v} of {name!r} names a factor outside {list(G.nodes)}")
        G.add_edge(u, v)
    if acyclic and not nx.is_directed_acyclic_graph(G):
        raise ValueError(f"factor graph of {name!r} has a cycle: {nx.find_cycle(G)}")
    return validate(G)


def reference_dag(name: str, *, build: Callable[[], nx.DiGraph],
                  directory: str | os.PathLike | None = None) -> nx.DiGraph:
    """The stored factor DAG of dataset ``name``; ``build()`` (its generator's definition) when no file is
    stored (e.g. an installed wheel)."""
    path = Path(directory or GRAPHS_DIR) / f"{name}.graphml"
    return read_graphml(path) if path.is_file() else build()
