"""Every dataset's generator DAG, and the files of ``graphs/`` written from them.

``python -m causalvae.data.reference_graphs`` regenerates ``graphs/*.dot`` and ``graphs/*.graphml``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import networkx as nx

from causalvae.data import causal_sprites, dsprites, mpi3d, pendulum, shapes3d, smallnorb, synthetic
from causalvae.data.factor_dags import GRAPHS_DIR
from causalvae.graph.dot import write_dot
from causalvae.graph.export import write_graphml


def generator_dags() -> dict[str, Callable[[], nx.DiGraph]]:
    """Dataset name -> function building that dataset's factor DAG from its generator."""
    return {dsprites.NAME: dsprites.factor_dag, causal_sprites.NAME: causal_sprites.factor_dag,
            shapes3d.NAME: shapes3d.factor_dag, mpi3d.NAME: mpi3d.factor_dag, smallnorb.NAME: smallnorb.factor_dag,
            pendulum.NAME: pendulum.factor_dag,
            **{name: partial(synthetic.factor_dag, name) for name in synthetic.SCMS}}


def write_reference_graphs(directory: str | os.PathLike | None = None) -> list[Path]:
    """(Re)write ``<name>.dot`` and ``<name>.graphml`` for every dataset; returns the paths."""
    out = Path(directory or GRAPHS_DIR)
    written = []
    for name, build in sorted(generator_dags().items()):
        G = build()
        written += [write_graphml(G, out / f"{name}.graphml"), write_dot(G, out / f"{name}.dot")]
    return written


if __name__ == "__main__":
    write_reference_graphs()
