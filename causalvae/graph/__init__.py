"""Graphs: computational graphs (fx -> networkx), unit-level graphs, schema and export.

Names are resolved on first use, so ``import causalvae.graph`` is instant and does not import
torch (only :func:`extract` needs it) or networkx.

>>> import causalvae.graph as cg
>>> sorted(n for n in cg.__all__ if n.startswith("write"))
['write_dot', 'write_graph_json', 'write_graphml']
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "extract": "extraction",
    "unit_graph": "unit_graphs", "default_sites": "unit_graphs",
    "attach_effects": "effect_edges",
    "to_dot": "dot", "write_dot": "dot",
    "write_graphml": "export", "read_graphml": "export", "write_graph_json": "export", "read_graph_json": "export",
    "render": "dot",
    "new_graph": "schema", "validate": "schema", "SchemaError": "schema",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'causalvae.graph' has no attribute {name!r}")
    return getattr(importlib.import_module(f"causalvae.graph.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
