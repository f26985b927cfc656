"""Reference factor DAGs: built by the generators, stored in ``graphs/`` as DOT and GraphML.

At run time a dataset's ``factor_dag`` is read from ``<repo>/graphs/<name>.graphml`` when that
file exists (a source checkout); otherwise (e.g. an installed wheel) the generator's own
definition is used.  :func:`write_reference_graphs` (re)writes the stored files; a test checks
they equal the generators'.

Graphs follow :mod:`causalvae.graph.schema`: kind ``"factor"``, node ids are factor names, nodes
carry ``role="factor"`` and ``factor_kind`` (discrete / continuous); graph attribute ``dataset``.
They are read and written by :mod:`causalvae.graph`'s one GraphML reader / writer and DOT writer
(the schema and export modules of ``graph`` are torch-free and sit below ``data`` in the layering).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import networkx as nx

from causalvae.graph.dot import write_dot
from causalvae.graph.export import read_graphml, write_graphml
from causalvae.graph.schema import new_graph, validate

#: Where the reference graphs live in a source checkout.
GRAPHS_DIR = Path(__file__).resolve().parents[2] / "graphs"


def factor_graph(name: str, factor_names: Iterable[str], factor_kinds: Iterable[str],
                 edges: Iterable[tuple[str, str]]) -> nx.DiGraph:
    """A schema-valid factor DAG over ``factor_names`` with the given directed ``edges``."""
    G = new_graph("factor", dataset=name)
    for factor, kind in zip(factor_names, factor_kinds, strict=True):
        G.add_node(factor, role="factor", factor_kind=kind)
    for u, v in edges:
        if u not in G or v not in G:
            raise ValueError(f"edge {u}->{v} of {name!r} names a factor outside {list(G.nodes)}")
        G.add_edge(u, v)
    if not nx.is_directed_acyclic_graph(G):
        raise ValueError(f"factor graph of {name!r} has a cycle: {nx.find_cycle(G)}")
    return validate(G)


def generator_dags() -> dict[str, Callable[[], nx.DiGraph]]:
    """Dataset name -> function building that dataset's factor DAG from its generator."""
    from causalvae.data import causal_sprites, dsprites, pendulum, synthetic
    from causalvae.data import mpi3d, shapes3d, smallnorb

    return {dsprites.NAME: dsprites.factor_dag, causal_sprites.NAME: causal_sprites.factor_dag,
            shapes3d.NAME: shapes3d.factor_dag, mpi3d.NAME: mpi3d.factor_dag, smallnorb.NAME: smallnorb.factor_dag,
            pendulum.NAME: pendulum.factor_dag,
            **{name: partial(synthetic.factor_dag, name) for name in synthetic.SCMS}}


def reference_dag(name: str, *, directory: str | os.PathLike | None = None) -> nx.DiGraph:
    """The stored factor DAG of dataset ``name`` (generator's definition if no file is stored)."""
    path = Path(directory or GRAPHS_DIR) / f"{name}.graphml"
    if not path.is_file():
        builders = generator_dags()
        if name not in builders:
            raise KeyError(f"no factor DAG for dataset {name!r}; expected one of {sorted(builders)}")
        return builders[name]()
    return read_graphml(path)


def write_reference_graphs(directory: str | os.PathLike | None = None) -> list[Path]:
    """(Re)write ``<name>.dot`` and ``<name>.graphml`` for every dataset; returns the paths."""
    out = Path(directory or GRAPHS_DIR)
    written = []
    for name, build in sorted(generator_dags().items()):
        G = build()
        written += [write_graphml(G, out / f"{name}.graphml"), write_dot(G, out / f"{name}.dot")]
    return written


if __name__ == "__main__":   # python -m causalvae.data.dags  -> regenerate graphs/*.dot and *.graphml
    write_reference_graphs()
