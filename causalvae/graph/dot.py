"""Deterministic Graphviz DOT text for schema graphs: styled by role / stage, edges weighted by effect.

The text is written by hand (not through pygraphviz) so the same graph always gives the same
bytes: nodes and edges are sorted by id (numbers in ids compared as numbers), numbers are formatted with fixed precision.  Schema
attributes travel in each element's ``tooltip`` (hover text in SVG); DOT is for viewing, GraphML
and JSON are the lossless formats.  Torch-free.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from causalvae.graph.export import prepared
from causalvae.io import atomic_path, write_text

STAGE_COLORS = {"input": "#e0e0e0", "encoder": "#a6cee3", "latent": "#fdbf6f", "decoder": "#b2df8a",
                "output": "#cab2d6", "other": "#f5f5f5"}
ROLE_COLORS = {"factor": "#fb9a99", "input": "#e0e0e0", "hidden": "#a6cee3", "latent": "#fdbf6f",
               "output": "#cab2d6", "readout": "#ffff99"}
OP_SHAPES = {"placeholder": "invhouse", "output": "house", "call_module": "box", "call_function": "ellipse",
             "call_method": "ellipse", "get_attr": "note"}
ROLE_SHAPES = {"factor": "diamond", "latent": "ellipse", "readout": "hexagon"}
POSITIVE, NEGATIVE, NEUTRAL = "#1f78b4", "#e31a1c", "#7f7f7f"
MIN_PENWIDTH, MAX_PENWIDTH = 0.5, 5.0
RENDER_FORMATS = ("svg", "png", "pdf")


def to_dot(G: nx.DiGraph) -> str:
    """The DOT text of a schema graph (validated first).

    Examples
    --------
    >>> from causalvae.graph.schema import new_graph
    >>> G = new_graph("factor")
    >>> G.add_node("factor.shape", role="factor")
    >>> print(to_dot(G).splitlines()[0])
    digraph "factor" {
    """
    G = prepared(G)
    kind = str(G.graph["kind"])
    owner = G.graph.get("model") or G.graph.get("dataset")
    title = f"{kind} graph" + (f" of {owner}" if owner else "") \
        + (f" ({G.graph['level']} level)" if G.graph.get("level") else "")
    max_weight = max((abs(float(d["weight"])) for _, _, d in G.edges(data=True) if "weight" in d), default=0.0)
    lines = [f"digraph {_quote(kind)} {{",
             f"  graph [rankdir=TB, fontname=Helvetica, labelloc=t, label={_quote(title)}];",
             "  node [fontname=Helvetica, fontsize=10, style=filled, shape=box];",
             f"  edge [color={_quote(NEUTRAL)}, arrowsize=0.6];"]
    for node in sorted(G.nodes, key=_natural):
        lines.append(f"  {_quote(node)} [{_attr_list(_node_style(node, G.nodes[node]))}];")
    for u, v in sorted(G.edges, key=lambda e: (_natural(e[0]), _natural(e[1]))):
        style = _edge_style(G.edges[u, v], max_weight)
        lines.append(f"  {_quote(u)} -> {_quote(v)}" + (f" [{_attr_list(style)}];" if style else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(G: nx.DiGraph, path: str | os.PathLike) -> Path:
    """Write :func:`to_dot` of ``G`` to ``path`` atomically."""
    return write_text(path, to_dot(G))


def _natural(text: str) -> tuple:
    """Sort key putting ``conv[2]`` before ``conv[10]``: text and integers alternate, so tuples compare."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", text)))


def _node_style(node: str, data: dict) -> dict[str, str]:
    role, stage = data.get("role"), data.get("stage")
    if role is not None:
        fill = STAGE_COLORS.get(stage, ROLE_COLORS["hidden"]) if role == "hidden" else ROLE_COLORS[role]
        shape = ROLE_SHAPES.get(role, "box")
        label = [node] + ([f"{data['n_units']} units"] if data.get("index") == -1 and "n_units" in data else [])
    else:
        fill, shape = STAGE_COLORS.get(stage, STAGE_COLORS["other"]), OP_SHAPES.get(data.get("op"), "box")
        label = [node] + [str(data[k]) for k in ("module_type", "tensor_shape") if data.get(k)]
    style = "filled,dashed" if data.get("active") is False else "filled"
    return {"label": _lines(label), "shape": shape, "style": style, "fillcolor": fill, "tooltip": _tooltip(data)}


def _edge_style(data: dict, max_weight: float) -> dict[str, str]:
    style: dict[str, str] = {}
    if "effect" in data:
        effect, weight = float(data["effect"]), float(data["weight"])
        scale = weight / max_weight if max_weight > 0 else 0.0
        style["penwidth"] = _number(MIN_PENWIDTH + (MAX_PENWIDTH - MIN_PENWIDTH) * scale)
        style["color"] = POSITIVE if effect > 0 else NEGATIVE if effect < 0 else NEUTRAL
    elif data.get("pattern") == "channelwise":
        style["style"] = "dashed"
    if data:
        style["tooltip"] = _tooltip(data)
    return style


def _tooltip(data: dict) -> str:
    return _lines(f"{k}={_number(v) if isinstance(v, float) else v}" for k, v in sorted(data.items()))


def _number(value: float) -> str:
    return format(float(value), ".4g")


def _lines(parts: Iterable[object]) -> str:
    """Join already-plain lines with DOT's ``\\n`` escape (each line escaped for a quoted string)."""
    return "\\n".join(_escape(str(p)) for p in parts)


def _escape(text: str) -> str:
    """Escape text for a Graphviz escString (labels, tooltips)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _attr_list(attrs: dict[str, str]) -> str:
    return ", ".join(f"{key}={_quote_escaped(value)}" for key, value in attrs.items())


def _quote(text: str) -> str:
    """A quoted DOT ID: only ``"`` is an escape there (``\\`` stays two characters in an ID)."""
    return _quote_escaped(str(text).replace('"', '\\"'))


def _quote_escaped(text: str) -> str:
    return f'"{text}"'


def render(G: nx.DiGraph, path: str | os.PathLike, *, format: str | None = None, prog: str = "dot") -> Path:
    """Render ``G`` to an image with Graphviz (through pygraphviz), written atomically.

    ``format`` is one of :data:`RENDER_FORMATS`; by default the file suffix, or ``"svg"`` without one.
    Graphviz warnings are re-raised by pygraphviz as ``RuntimeWarning``.
    """
    fmt = format or Path(path).suffix.lstrip(".").lower() or "svg"
    if fmt not in RENDER_FORMATS:
        raise ValueError(f"render format must be one of {RENDER_FORMATS}, got {fmt!r} (path {str(path)!r})")
    import pygraphviz

    agraph = pygraphviz.AGraph(string=to_dot(G))
    with atomic_path(path) as tmp:
        agraph.draw(str(tmp), format=fmt, prog=prog)
    return Path(path)
