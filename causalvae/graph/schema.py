"""The networkx graph schema shared by every graph causalvae writes (GraphML-safe).

Every graph carries ``G.graph["kind"]`` (one of :data:`KINDS`) and
``G.graph["schema_version"]``.  Node ids are strings; every attribute value is a
scalar (str, int, float, bool).  See ``graphs/README.md`` for the full table.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import networkx as nx

SCHEMA_VERSION = 1
KINDS = ("computational", "unit", "factor", "aligned", "circuit")
STAGES = ("input", "encoder", "latent", "decoder", "output", "other")
ROLES = ("factor", "input", "hidden", "latent", "output", "readout")
FORBIDDEN_ATTRS = ("shape",)  # collides with Graphviz's node shape; use tensor_shape

#: Attributes every node (edge) of a graph of the given kind must carry.
REQUIRED_NODE_ATTRS: dict[str, tuple[str, ...]] = {
    "computational": ("op", "target", "module_type", "stage", "tensor_shape", "n_params"),
    "unit": ("site", "index", "layer", "role", "active"),
    "factor": ("role",),
    "aligned": ("role",),
    "circuit": ("site", "index", "layer", "role", "active"),
}
EFFECT_EDGE_ATTRS = ("effect", "weight", "intervention", "statistic")
REQUIRED_EDGE_ATTRS: dict[str, tuple[str, ...]] = {
    "computational": (),
    "unit": (),  # structural edges carry no effect until measured
    "factor": (),
    "aligned": EFFECT_EDGE_ATTRS,
    "circuit": EFFECT_EDGE_ATTRS,
}
_ENUMS = {"stage": STAGES, "role": ROLES}


class SchemaError(ValueError):
    """A graph does not follow the causalvae graph schema."""


def new_graph(kind: str, **attrs: object) -> nx.DiGraph:
    """An empty DiGraph of ``kind`` with the schema version set."""
    if kind not in KINDS:
        raise SchemaError(f"graph kind must be one of {KINDS}, got {kind!r}")
    return nx.DiGraph(kind=kind, schema_version=SCHEMA_VERSION, **attrs)


def is_scalar(value: object) -> bool:
    return isinstance(value, (str, bool, Integral, Real)) and not isinstance(value, complex)


def validate(G: nx.Graph) -> nx.Graph:
    """Check ``G`` against the schema; return it unchanged or raise :class:`SchemaError`."""
    kind = G.graph.get("kind")
    if kind not in KINDS:
        raise SchemaError(f"G.graph['kind'] must be one of {KINDS}, got {kind!r}")
    if G.graph.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(f"G.graph['schema_version'] must be {SCHEMA_VERSION}, got {G.graph.get('schema_version')!r}")
    _check_attrs("graph", "G", G.graph)
    for node, data in G.nodes(data=True):
        if not isinstance(node, str):
            raise SchemaError(f"node ids must be strings, got {node!r} ({type(node).__name__})")
        _check_attrs("node", node, data, REQUIRED_NODE_ATTRS[kind])
    for u, v, data in G.edges(data=True):
        _check_attrs("edge", f"{u}->{v}", data, REQUIRED_EDGE_ATTRS[kind])
        if "effect" in data and "weight" in data and not math.isclose(data["weight"], abs(data["effect"]),
                                                                     rel_tol=1e-9, abs_tol=1e-12):
            raise SchemaError(f"edge {u}->{v}: weight must equal |effect|, got weight={data['weight']} "
                              f"effect={data['effect']}")
    return G


def _check_attrs(what: str, name: object, data: dict, required: tuple[str, ...] = ()) -> None:
    missing = [a for a in required if a not in data]
    if missing:
        raise SchemaError(f"{what} {name!r} is missing required attribute(s) {missing}")
    for key, value in data.items():
        if key in FORBIDDEN_ATTRS:
            raise SchemaError(f"{what} {name!r}: attribute {key!r} is reserved by Graphviz; use 'tensor_shape'")
        if not is_scalar(value):
            raise SchemaError(f"{what} {name!r}: attribute {key!r} must be a scalar (str, int, float, bool), "
                              f"got {type(value).__name__}")
        if key in _ENUMS and value not in _ENUMS[key]:
            raise SchemaError(f"{what} {name!r}: {key} must be one of {_ENUMS[key]}, got {value!r}")
