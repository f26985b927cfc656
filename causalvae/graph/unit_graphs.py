"""Unit-level graphs: sites of a computational graph expanded into channels / neurons.

Structural edges join units of consecutive selected sites, following the computational graph
through unselected nodes (activations, reshapes, skip additions, merges).  They carry no effect
until :func:`attach_effects` puts measured effects on them.  Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from causalvae.graph.schema import SchemaError, new_graph, validate
from causalvae.units import unit_id, unit_ids

LEVELS = ("unit", "site")

#: Module types and function / method names that act on each channel separately (same unit count
#: in and out); a path made only of these keeps unit i connected to unit i.
CHANNELWISE_MODULES = frozenset({
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Softplus",
    "Hardtanh", "Hardswish", "Hardsigmoid", "PReLU", "Identity", "Dropout", "Dropout1d", "Dropout2d",
    "Dropout3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d"})
CHANNELWISE_FUNCTIONS = frozenset({
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu", "silu", "mish",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "softplus", "hardtanh", "dropout", "dropout2d", "add", "add_", "sub",
    "sub_", "mul", "mul_", "truediv", "div", "div_", "neg", "abs", "exp", "clone", "contiguous", "iadd", "isub",
    "imul", "batch_norm", "instance_norm"})


def unit_graph(comp: nx.DiGraph, *, sites: Iterable[str] | None = None, level: str = "unit") -> nx.DiGraph:
    """Expand the sites of a ``computational`` graph into a ``unit`` graph.

    Parameters
    ----------
    comp : a graph from :func:`causalvae.graph.extract`.
    sites : site names (the ``site`` attribute: module paths, or fx node names where no module
        exists) to include.  Default: :func:`default_sites`.
    level : ``"unit"`` — one node per channel (conv, dim 1 of ``N x C x H x W``) or neuron
        (linear, dim 1 of ``N x D``), id ``"<site>[<index>]"``; or ``"site"`` — one node per site.

    Returns
    -------
    A ``unit`` graph.  Nodes carry ``site``, ``index`` (``-1`` at site level), ``layer`` (rank of
    the site in topological order), ``role`` (``latent`` for the latent stage, ``input`` for
    placeholders, ``output`` for sites that reach the model output with no selected site after
    them, else ``hidden``), ``active`` (True until measured otherwise), ``stage``,
    ``module_type``, ``tensor_shape`` and ``n_units``.  Edges carry ``pattern``: ``"dense"`` (every
    unit to every unit) or ``"channelwise"`` (unit i to unit i, when only per-channel ops lie between
    two sites of equal width and the target site is per-channel too); unit-level edges of a site
    pair and site-level edges (with ``n_unit_edges``) follow it.

    Examples
    --------
    >>> from causalvae.graph.schema import new_graph
    >>> comp = new_graph("computational")
    >>> for i, (name, shape) in enumerate([("x", "2x3"), ("fc", "2x2"), ("relu", "2x2"), ("out", "2x1")]):
    ...     comp.add_node(name, op="call_module", target=name, module_type="Linear", stage="other",
    ...                   tensor_shape=shape, n_params=1, site=name, order=i)
    >>> comp.add_edges_from([("x", "fc"), ("fc", "relu"), ("relu", "out")])
    >>> sorted(unit_graph(comp, sites=["fc", "out"]).edges)
    [('fc[0]', 'out[0]'), ('fc[1]', 'out[0]')]
    """
    if not isinstance(comp, nx.DiGraph):
        raise TypeError(f"unit_graph expects a networkx DiGraph from extract(), got {type(comp).__name__}")
    if comp.graph.get("kind") != "computational":
        raise SchemaError(f"unit_graph expects a 'computational' graph, got kind {comp.graph.get('kind')!r}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    chosen = _select(comp, sites)
    site_edges = _site_edges(comp, chosen)
    layers = {node: rank for rank, node in enumerate(chosen)}
    G = new_graph("unit", level=level, model=str(comp.graph.get("model", "")),
                  source_method=str(comp.graph.get("method", "")))
    for node in chosen:
        data = comp.nodes[node]
        site, n_units = data["site"], _n_units(data, node)
        common = dict(site=site, layer=layers[node], role=_role(comp, node, chosen), active=True,
                      stage=data["stage"], module_type=data["module_type"], tensor_shape=data["tensor_shape"],
                      n_units=n_units)
        if level == "site":
            G.add_node(unit_id(site), index=-1, **common)
        else:
            G.add_nodes_from((uid, dict(index=i, **common)) for i, uid in enumerate(unit_ids(site, n_units)))
    for (a, b), pattern in site_edges.items():
        site_a, site_b = comp.nodes[a]["site"], comp.nodes[b]["site"]
        n_a, n_b = _n_units(comp.nodes[a], a), _n_units(comp.nodes[b], b)
        if level == "site":
            G.add_edge(site_a, site_b, pattern=pattern, n_unit_edges=n_a if pattern == "channelwise" else n_a * n_b)
        elif pattern == "channelwise":
            G.add_edges_from((unit_id(site_a, i), unit_id(site_b, i), {"pattern": pattern}) for i in range(n_a))
        else:
            G.add_edges_from((unit_id(site_a, i), unit_id(site_b, j), {"pattern": pattern})
                             for i in range(n_a) for j in range(n_b))
    return validate(G)


def default_sites(comp: nx.DiGraph) -> list[str]:
    """The model's declared sites (nodes with ``declared_site``, e.g. a causalvae VAE's ``site_names``)
    if it has any, else the module calls with parameters; only single-tensor outputs (at least 2-D), in order."""
    nodes = [n for n in sorted(comp.nodes, key=lambda n: comp.nodes[n].get("order", 0))
             if comp.nodes[n]["op"] == "call_module" and len(_dims(comp.nodes[n]["tensor_shape"])) >= 2]
    declared = [n for n in nodes if comp.nodes[n].get("declared_site")]
    return [comp.nodes[n]["site"] for n in declared or [n for n in nodes if comp.nodes[n]["n_params"] > 0]]


def _select(comp: nx.DiGraph, sites: Iterable[str] | None) -> list[str]:
    """Computational node ids of the selected sites, in topological order."""
    if isinstance(sites, str):
        raise TypeError(f"sites must be a list of site names, got the string {sites!r}")
    by_site = {data.get("site", node): node for node, data in comp.nodes(data=True)}
    wanted = default_sites(comp) if sites is None else list(sites)
    unknown = [s for s in wanted if s not in by_site and s not in comp]
    if unknown:
        raise ValueError(f"unknown site(s) {unknown}; expected sites of the graph such as {sorted(by_site)[:15]}")
    nodes = list(dict.fromkeys(by_site.get(s, s) for s in wanted))
    if not nodes:
        raise ValueError("no sites selected: the graph has no module call with parameters; pass sites=[...]")
    for node in nodes:
        _n_units(comp.nodes[node], node)
    return sorted(nodes, key=lambda n: comp.nodes[n].get("order", 0))


def _dims(tensor_shape: str) -> list[int]:
    parts = tensor_shape.split("x")
    return [int(p) for p in parts] if tensor_shape and all(p.isdigit() for p in parts) else []


def _n_units(data: dict, node: str) -> int:
    dims = _dims(str(data.get("tensor_shape", "")))
    if len(dims) < 2:
        raise ValueError(f"site {data.get('site', node)!r} has no unit axis: expected a tensor of shape "
                         f"batch x units[ x ...], got tensor_shape {data.get('tensor_shape')!r}")
    return dims[1]


def _is_channelwise(data: dict) -> bool:
    if data["op"] == "call_module":
        return data["module_type"] in CHANNELWISE_MODULES
    if data["op"] in ("call_function", "call_method"):
        return str(data["target"]).rsplit(".", 1)[-1] in CHANNELWISE_FUNCTIONS
    return False


def _site_edges(comp: nx.DiGraph, chosen: list[str]) -> dict[tuple[str, str], str]:
    """``{(upstream site node, site node): pattern}`` for nearest selected ancestors."""
    selected = set(chosen)
    edges: dict[tuple[str, str], str] = {}
    for target in chosen:
        target_data = comp.nodes[target]
        width = _n_units(target_data, target)
        # Depth-first search backwards; the flag says "only per-channel ops of this width so far".
        stack = [(p, _is_channelwise(target_data)) for p in comp.predecessors(target)]
        seen: set[tuple[str, bool]] = set()
        while stack:
            node, channelwise = stack.pop()
            if (node, channelwise) in seen:
                continue
            seen.add((node, channelwise))
            data = comp.nodes[node]
            if node in selected:
                pattern = "channelwise" if channelwise and _n_units(data, node) == width else "dense"
                if edges.get((node, target)) != "dense":
                    edges[(node, target)] = pattern
                continue
            keeps = channelwise and _is_channelwise(data) and _dims(data["tensor_shape"])[1:2] == [width]
            stack.extend((p, keeps) for p in comp.predecessors(node))
    return edges


def _role(comp: nx.DiGraph, node: str, chosen: list[str]) -> str:
    data = comp.nodes[node]
    if data["op"] == "placeholder":
        return "input"
    if data["stage"] == "latent":
        return "latent"
    descendants = nx.descendants(comp, node)
    reaches_output = any(comp.nodes[d]["op"] == "output" for d in descendants)
    return "output" if reaches_output and not descendants & set(chosen) else "hidden"
