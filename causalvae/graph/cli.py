"""``causalvae graph``: the graphs of a checkpoint in every format (imports torch only when run).

Wiring into the main command::

    p = sub.add_parser("graph", help="export the computational and unit graphs of a checkpoint")
    add_graph_arguments(p)
    p.set_defaults(handler=_lazy("causalvae.graph.cli", "graph_command"))
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

LEVELS = ("site", "unit")  # as causalvae.graph.unit_graphs.LEVELS; repeated so argument parsing stays cheap
IMAGE_FORMATS = ("svg", "png")
DEFAULT_MAX_RENDER_EDGES = 5000


def add_graph_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``graph`` options to ``parser`` (cheap: no torch import)."""
    parser.add_argument("--checkpoint", required=True, help="checkpoint written by `causalvae train`")
    parser.add_argument("--out", default="runs/graph", help="folder for the graph files")
    parser.add_argument("--level", choices=LEVELS, default="site",
                        help="unit graph granularity: one node per site, or per channel / neuron")
    parser.add_argument("--sites", nargs="+", default=None, metavar="SITE",
                        help="sites of the unit graph (default: every layer with parameters)")
    parser.add_argument("--no-render", action="store_true", help="skip the SVG / PNG renders")
    parser.add_argument("--max-render-edges", type=int, default=DEFAULT_MAX_RENDER_EDGES,
                        help="graphs with more edges are exported but not rendered")
    return parser


def graph_command(args: argparse.Namespace) -> int:
    """Handler of ``causalvae graph``: write the files and list them."""
    paths = write_checkpoint_graphs(args.checkpoint, args.out, level=args.level, sites=args.sites,
                                    render_images=not args.no_render, max_render_edges=args.max_render_edges)
    for path in paths.values():
        print(path)
    return 0


def write_checkpoint_graphs(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, *, level: str = "site",
                            sites: Sequence[str] | None = None, render_images: bool = True,
                            max_render_edges: int = DEFAULT_MAX_RENDER_EDGES) -> dict[str, Path]:
    """Extract the computational graph of a checkpoint's model and its unit graph, and write both.

    The model is loaded with :func:`causalvae.models.load_model` (eval mode, no pickled code) and
    traced on one all-zero input of its configured shape.  Files are named
    ``computational.<ext>`` and ``unit_<level>.<ext>``; see :func:`write_graphs`.
    """
    import torch

    from causalvae.graph.extraction import extract
    from causalvae.graph.unit_graphs import unit_graph
    from causalvae.models import load_model

    model = load_model(checkpoint)
    comp = extract(model, torch.zeros(1, *model.config.input_shape))
    graphs = {"computational": comp, f"unit_{level}": unit_graph(comp, sites=sites, level=level)}
    return write_graphs(graphs, out_dir, render_images=render_images, max_render_edges=max_render_edges)


def write_graphs(graphs: Mapping[str, "nx.DiGraph"], out_dir: str | os.PathLike, *, render_images: bool = True,
                 max_render_edges: int = DEFAULT_MAX_RENDER_EDGES) -> dict[str, Path]:
    """Write each graph as ``<name>.dot``, ``.graphml``, ``.json`` and (rendered) ``.svg`` / ``.png``.

    Graphs with more than ``max_render_edges`` edges are not rendered (Graphviz layout time grows
    quickly), with a warning.  Returns ``{"<name>.<ext>": path}`` for every file written.
    """
    from causalvae.graph.dot import write_dot
    from causalvae.graph.dot import render
    from causalvae.graph.export import write_graph_json, write_graphml

    out = Path(out_dir)
    written: dict[str, Path] = {}
    for name, G in graphs.items():
        written[f"{name}.dot"] = write_dot(G, out / f"{name}.dot")
        written[f"{name}.graphml"] = write_graphml(G, out / f"{name}.graphml")
        written[f"{name}.json"] = write_graph_json(G, out / f"{name}.json")
        if not render_images:
            continue
        if G.number_of_edges() > max_render_edges:
            warnings.warn(f"graph {name!r} has {G.number_of_edges()} edges (> max_render_edges="
                          f"{max_render_edges}); not rendered. Select fewer sites or use level='site'.",
                          RuntimeWarning, stacklevel=2)
            continue
        for fmt in IMAGE_FORMATS:
            written[f"{name}.{fmt}"] = render(G, out / f"{name}.{fmt}", format=fmt)
    return written
