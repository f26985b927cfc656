"""Graphs: computational graphs (fx -> networkx), unit-level graphs, schema and export.

Everything here is torch-free except :func:`extract`, which is imported on first use, so
``import causalvae.graph`` does not import torch.

>>> import causalvae.graph as cg
>>> sorted(n for n in cg.__all__ if n.startswith("write"))
['write_dot', 'write_graphml', 'write_json']
"""

from __future__ import annotations

from typing import Any

from causalvae.graph.dot import to_dot, write_dot
from causalvae.graph.effect_edges import attach_effects
from causalvae.graph.export import read_graphml, read_json, render, write_graphml, write_json
from causalvae.graph.schema import SchemaError, new_graph, validate
from causalvae.graph.unit_graph import default_sites, unit_graph

__all__ = ["extract", "unit_graph", "default_sites", "attach_effects", "to_dot", "write_dot", "write_graphml",
           "read_graphml", "write_json", "read_json", "render", "new_graph", "validate", "SchemaError"]


def __getattr__(name: str) -> Any:
    if name == "extract":
        from causalvae.graph.extraction import extract

        return extract
    raise AttributeError(f"module 'causalvae.graph' has no attribute {name!r}")
