"""GraphML, node-link JSON and rendered images of schema graphs; every write validates first and is atomic.

Torch-free; pygraphviz is imported only by :func:`render`.
"""

from __future__ import annotations

import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from numbers import Integral, Real
from pathlib import Path

import networkx as nx

from causalvae import io
from causalvae.graph.schema import validate

_GRAPHML_DEFAULTS = ("node_default", "edge_default")  # dicts networkx adds when reading GraphML
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")
_JSON_RESERVED = {"node": ("id",), "edge": ("source", "target")}


def prepared(G: nx.DiGraph) -> nx.DiGraph:
    """Validate ``G`` against the schema and return a copy with plain Python scalars (no numpy types).

    Raises :class:`~causalvae.graph.schema.SchemaError` naming the element and attribute at fault,
    e.g. a non-scalar value.
    """
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise TypeError(f"expected a networkx DiGraph, got {type(G).__name__}")
    validate(G)
    H = nx.DiGraph()
    H.graph.update(_plain(G.graph))
    H.add_nodes_from((node, _plain(data)) for node, data in G.nodes(data=True))
    H.add_edges_from((u, v, _plain(data)) for u, v, data in G.edges(data=True))
    return H


def write_graphml(G: nx.DiGraph, path: str | os.PathLike) -> Path:
    """Write ``G`` as GraphML (typed keys for every attribute; :func:`read_graphml` restores it exactly).

    Strings holding control characters (which XML cannot carry, or normalises away) are refused.
    """
    H = prepared(G)
    texts = [(f"node {n!r}", "id", n) for n in H.nodes]
    texts += [(where, key, value) for where, data in _elements(H) for key, value in data.items()]
    for where, key, value in texts:
        if isinstance(value, str) and _XML_UNSAFE.search(value):
            raise ValueError(f"{where}: {key!r} holds a control character, which GraphML cannot store "
                             f"losslessly: {value!r}")
    with io.atomic_path(path) as tmp:
        nx.write_graphml(H, tmp)
    return Path(path)


def read_graphml(path: str | os.PathLike) -> nx.DiGraph:
    """Read a GraphML file written by :func:`write_graphml` and validate it."""
    try:
        G = nx.read_graphml(path, node_type=str)
    except (OSError, ET.ParseError, nx.NetworkXError) as error:
        raise ValueError(f"could not read GraphML from {str(path)!r}: {error}") from error
    if not G.is_directed() or G.is_multigraph():
        raise ValueError(f"{str(path)!r}: expected a directed simple graph, got {type(G).__name__}")
    for key in _GRAPHML_DEFAULTS:
        G.graph.pop(key, None)
    return validate(G)


def write_graph_json(G: nx.DiGraph, path: str | os.PathLike) -> Path:
    """Write ``G`` as node-link JSON (``networkx.node_link_graph`` loads it); non-finite floats are refused."""
    H = prepared(G)
    for where, data in _elements(H):
        reserved = _JSON_RESERVED.get(where.split(" ", 1)[0], ())
        for key, value in data.items():
            if key in reserved:
                raise ValueError(f"{where}: attribute {key!r} collides with node-link JSON's own {reserved} fields")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{where}: attribute {key!r} is {value}, which JSON cannot represent")
    return io.write_json(path, nx.node_link_data(H, edges="edges"))


def read_graph_json(path: str | os.PathLike) -> nx.DiGraph:
    """Read a node-link JSON file written by :func:`write_graph_json` and validate it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        G = nx.node_link_graph(data, directed=True, multigraph=False, edges="edges")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"could not read node-link JSON from {str(path)!r}: {error}") from error
    return validate(G)


def _plain(data: dict) -> dict:
    """Numpy scalars -> Python scalars (str and bool kept as they are)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, (str, bool)):
            out[key] = value
        elif isinstance(value, Integral):
            out[key] = int(value)
        elif isinstance(value, Real):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def _elements(G: nx.DiGraph) -> Iterator[tuple[str, dict]]:
    """``(description, attribute dict)`` of the graph, every node and every edge."""
    yield "graph", G.graph
    yield from ((f"node {n!r}", d) for n, d in G.nodes(data=True))
    yield from ((f"edge {u!r}->{v!r}", d) for u, v, d in G.edges(data=True))
