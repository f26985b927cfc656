"""Graphs drawn for the report as inline SVG (Graphviz ``dot``), so their tooltips survive.

- :func:`inline_svg` turns an SVG file into markup safe to place in the page: scripts, event
  handlers, foreign objects and external links are removed, ids get a prefix so several drawings
  can share a page, and the drawing scales to its container.
- :func:`factor_overlay` draws the aligned factor graph and the true DAG in one layout, each edge
  coloured by its state (:data:`EDGE_STATES`).
- :func:`circuit_drawing` draws a circuit unit by unit when small, else collapsed per site (one node
  per site holding the number of circuit units, edges summed), with tooltips naming the units.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable

import networkx as nx

from causalvae.units import is_factor, parse_factor

SVG_NS, XLINK_NS = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
#: Elements removed from an inlined SVG with everything inside them.
UNSAFE_ELEMENTS = {"script", "foreignObject", "iframe", "object", "embed", "style"}
#: Edge state -> (colour, Graphviz style, meaning); the legend lists them in this order.
EDGE_STATES = {
    "correct": ("#1f7a3f", "solid", "found, and in the true DAG with this direction"),
    "reversed": ("#7b3fb0", "solid", "found, but the true DAG has the opposite direction"),
    "extra": ("#d9730d", "solid", "found, not in the true DAG"),
    "missing": ("#8a8f98", "dashed", "in the true DAG, not found"),
}
#: Circuits with more nodes than this are drawn collapsed per site.
MAX_UNIT_NODES = 40
#: Units named in a collapsed node's tooltip.
TOOLTIP_UNITS = 24
ROLE_COLOURS = {"factor": "#cfe3f7", "latent": "#f7e3b5", "readout": "#d6efd9", "hidden": "#ffffff"}

ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


def inline_svg(data: bytes, *, prefix: str, label: str) -> str:
    """Sanitised markup of an SVG drawing for inlining, ids prefixed with ``prefix``.

    >>> svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10pt" height="5pt" viewBox="0 0 10 5" onload="x()">'\\
    ...       b'<script>alert(1)</script><g id="n1"><title>a</title></g></svg>'
    >>> inline_svg(svg, prefix="p", label="demo")
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 5" class="drawing" role="img" aria-label="demo" style="max-width: 10pt"><g id="p-n1"><title>a</title></g></svg>'
    """
    root = ET.fromstring(data)
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ValueError(f"expected an <svg> root element, got {root.tag!r}")
    _strip(root, prefix)
    width = root.attrib.pop("width", None)
    root.attrib.pop("height", None)
    root.set("class", "drawing")
    root.set("role", "img")
    root.set("aria-label", label)
    if width and re.fullmatch(r"[\d.]+(pt|px)?", width):
        root.set("style", f"max-width: {width}")
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _strip(element: ET.Element, prefix: str) -> None:
    for child in list(element):
        if _local(child.tag) in UNSAFE_ELEMENTS or not isinstance(child.tag, str):
            element.remove(child)
        else:
            _strip(child, prefix)
    for name in list(element.attrib):
        value = element.attrib[name]
        if _local(name).lower().startswith("on"):
            del element.attrib[name]
        elif _local(name) == "href" and not value.startswith("#"):
            del element.attrib[name]
        elif name == "id":
            element.set("id", f"{prefix}-{value}")
        elif _local(name) == "href":
            element.set(name, f"#{prefix}-{value[1:]}")
        elif "url(#" in value:
            element.set(name, value.replace("url(#", f"url(#{prefix}-"))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def factor_overlay(aligned: nx.DiGraph, truth: nx.DiGraph) -> tuple[bytes, dict[str, list[tuple[str, str]]]]:
    """SVG of the aligned factor graph over the true DAG in one layout, and the edges per state.

    Edges of ``aligned`` marked ``status="missing"`` are the reference edges it lacks (not found).
    """
    from causalvae.report.metric_rows import compare_edges

    classes = compare_edges(aligned, truth)
    states = {"correct": list(classes.correct), "reversed": list(classes.reversed),
              "extra": list(classes.extra), "missing": list(classes.missing)}
    effects = {(_name(u), _name(v)): float(d.get("effect", float("nan"))) for u, v, d in aligned.edges(data=True)}
    A = _agraph(rankdir="TB")
    for node in dict.fromkeys([*map(_name, truth.nodes), *map(_name, aligned.nodes)]):
        A.add_node(node, shape="ellipse", style="filled", fillcolor=ROLE_COLOURS["factor"], tooltip=f"factor {node}")
    for state, edges in states.items():
        colour, style, meaning = EDGE_STATES[state]
        for u, v in edges:
            effect = effects.get((u, v))
            tip = f"{state}: {u} → {v} ({meaning})" + (f"; effect {effect:.3g}" if effect is not None
                                                       and state != "missing" else "")
            A.add_edge(u, v, color=colour, style=style, penwidth=2.4, tooltip=tip, label=state[0].upper(),
                       fontcolor=colour, fontsize=10)
    return A.draw(format="svg", prog="dot"), states


def circuit_drawing(G: nx.DiGraph, *, max_unit_nodes: int = MAX_UNIT_NODES) -> tuple[bytes, bool]:
    """SVG of a circuit graph, and whether it was collapsed per site (more than ``max_unit_nodes`` nodes)."""
    collapse = G.number_of_nodes() > max_unit_nodes
    H = _collapsed(G) if collapse else G
    A = _agraph(rankdir="LR")
    weights = [float(w) for _, _, w in H.edges(data="weight", default=0.0)]
    top = max(weights, default=0.0) or 1.0
    for node, data in H.nodes(data=True):
        role = data.get("role", "hidden")
        label = data.get("label", _name(node))
        A.add_node(node, label=label, shape="box" if role == "hidden" else "ellipse", style="filled,rounded",
                   fillcolor=ROLE_COLOURS.get(role, "#ffffff"), tooltip=data.get("tooltip", f"{role} {node}"))
    for rank in _ranks(H):
        A.add_subgraph(rank, rank="same")
    for u, v, data in H.edges(data=True):
        weight = float(data.get("weight", 0.0))
        A.add_edge(u, v, penwidth=f"{0.6 + 4.4 * weight / top:.2f}", color="#2f5d8acc",
                   tooltip=data.get("tooltip", f"{_name(u)} → {_name(v)}: effect {float(data.get('effect', 0)):.3g}"))
    return A.draw(format="svg", prog="dot"), collapse


def _collapsed(G: nx.DiGraph) -> nx.DiGraph:
    """One node per site (factor, read-out and latent endpoints stay themselves), edges summed."""
    def group(node: str) -> str:
        data = G.nodes[node]
        return node if data.get("role") in ("factor", "readout") else str(data.get("site", node))

    members: dict[str, list[str]] = defaultdict(list)
    for node in G.nodes:
        members[group(node)].append(node)
    H = nx.DiGraph()
    for site, units in members.items():
        data = G.nodes[units[0]]
        role = data.get("role", "hidden")
        shown = ", ".join(units[:TOOLTIP_UNITS]) + (f" … (+{len(units) - TOOLTIP_UNITS})" if len(units) > TOOLTIP_UNITS
                                                    else "")
        label = _name(site) if role in ("factor", "readout") else f"{site}\n{len(units)} unit{'s' * (len(units) > 1)}"
        H.add_node(site, role=role, layer=min(int(G.nodes[u].get("layer", 0)) for u in units), label=label,
                   tooltip=f"{site}: {shown}")
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for u, v, w in G.edges(data="weight", default=0.0):
        if group(u) != group(v):
            sums[group(u), group(v)].append(float(w))
    for (a, b), values in sums.items():
        H.add_edge(a, b, weight=sum(values), effect=sum(values),
                   tooltip=f"{a} → {b}: {len(values)} unit edges, Σ|effect| {sum(values):.3g}")
    return H


def _ranks(G: nx.DiGraph) -> Iterable[list[str]]:
    by_layer: dict[int, list[str]] = defaultdict(list)
    for node, layer in G.nodes(data="layer", default=0):
        by_layer[int(layer)].append(node)
    return [nodes for _, nodes in sorted(by_layer.items()) if len(nodes) > 1]


def _agraph(**graph_attrs):
    import pygraphviz

    A = pygraphviz.AGraph(directed=True, strict=False)
    A.graph_attr.update(bgcolor="transparent", fontname="Helvetica", nodesep="0.35", ranksep="0.6", **graph_attrs)
    A.node_attr.update(fontname="Helvetica", fontsize="12", margin="0.08,0.04")
    A.edge_attr.update(fontname="Helvetica", arrowsize="0.7")
    return A


def _name(node: str) -> str:
    return parse_factor(node) if is_factor(node) else str(node)
