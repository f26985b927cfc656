"""GraphML / node-link JSON round trips, XML validity, rendering, refusal of bad attributes, atomic writes."""

import json
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo import ResNetVAE

from causalvae.effects import EffectMatrix
from causalvae.graph import (SchemaError, attach_effects, extract, new_graph, read_graphml, read_graph_json, render,
                             unit_graph, write_dot, write_graphml, write_graph_json)

GRAPHML_NS = "{http://graphml.graphdrawing.org/xmlns}"


def _graphs():
    comp = extract(ResNetVAE(), torch.zeros(2, 1, 4, 4))
    units = unit_graph(comp, sites=["encoder.block.conv2", "latent.mu", "latent.logvar"])
    m = EffectMatrix(np.array([[0.5, -1.25], [0.0, 3.0]]), ["factor.scale", "encoder.block.conv2[0]"],
                     ["latent.mu[0]", "latent.mu[1]"], intervention="zero-ablation", statistic="mean",
                     n_samples=8, ci_low=np.array([[0.1, -2.0], [0.0, 2.0]]), ci_high=np.array([[0.9, -0.5],
                                                                                                  [0.0, 4.0]]))
    effects = attach_effects(units, m, add_missing=True)
    effects.nodes["latent.mu[1]"]["active"] = False
    return {"computational": comp, "unit": units, "unit_with_effects": effects}


GRAPHS = _graphs()


def _typed(data: dict) -> dict:
    return {k: (type(v).__name__, v) for k, v in data.items()}


def assert_same_graph(G, H):
    assert nx.utils.graphs_equal(G, H)
    assert _typed(G.graph) == _typed(H.graph)
    assert all(_typed(G.nodes[n]) == _typed(H.nodes[n]) for n in G)
    assert all(_typed(G.edges[e]) == _typed(H.edges[e]) for e in G.edges)
    assert list(G.nodes) == list(H.nodes)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graphml_round_trip_is_lossless(name, tmp_path):
    G = GRAPHS[name]
    assert write_graphml(G, tmp_path / "g.graphml") == tmp_path / "g.graphml"
    assert_same_graph(G, read_graphml(tmp_path / "g.graphml"))


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_json_round_trip_and_plain_networkx_loading(name, tmp_path):
    G = GRAPHS[name]
    write_graph_json(G, tmp_path / "g.json")
    assert_same_graph(G, read_graph_json(tmp_path / "g.json"))
    plain = nx.node_link_graph(json.loads((tmp_path / "g.json").read_text()))
    assert plain.is_directed() and nx.utils.graphs_equal(G, plain)


def test_graphml_is_valid_xml_with_declared_typed_keys(tmp_path):
    write_graphml(GRAPHS["unit_with_effects"], tmp_path / "g.graphml")
    root = ET.parse(tmp_path / "g.graphml").getroot()
    assert root.tag == GRAPHML_NS + "graphml"
    keys = {k.get("id"): k for k in root.iter(GRAPHML_NS + "key")}
    assert {k.get("attr.type") for k in keys.values()} <= {"boolean", "int", "long", "float", "double", "string"}
    names = {(k.get("for"), k.get("attr.name")) for k in keys.values()}
    assert {("node", "role"), ("node", "active"), ("edge", "effect"), ("edge", "ci_low"), ("graph", "kind")} <= names
    graph = root.find(GRAPHML_NS + "graph")
    assert graph.get("edgedefault") == "directed"
    for element, scope in [(graph, "graph")] + [(e, "node") for e in graph.iter(GRAPHML_NS + "node")] + \
            [(e, "edge") for e in graph.iter(GRAPHML_NS + "edge")]:
        for data in element.findall(GRAPHML_NS + "data"):
            assert keys[data.get("key")].get("for") == scope


scalars = st.one_of(st.integers(-2**62, 2**62), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8))
names = st.text("abcdefghij_", min_size=1, max_size=6).filter(lambda k: k not in ("id", "source", "target",
                                                                                   "shape", "role", "stage"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dictionaries(names, scalars, max_size=4), min_size=1, max_size=5),
       st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.dictionaries(names, scalars, max_size=3)),
                max_size=6), st.dictionaries(names, scalars, max_size=3))
def test_any_scalar_attributes_round_trip(tmp_path_factory, nodes, edges, graph_attrs):
    G = new_graph("factor", **graph_attrs)
    for i, data in enumerate(nodes):
        G.add_node(f"n{i} \"q\" <&>", role="factor", **data)
    ids = list(G.nodes)
    for a, b, data in edges:
        G.add_edge(ids[a % len(ids)], ids[b % len(ids)], **data)
    folder = tmp_path_factory.mktemp("rt")
    write_graphml(G, folder / "g.graphml")
    write_graph_json(G, folder / "g.json")
    assert_same_graph(G, read_graphml(folder / "g.graphml"))
    assert_same_graph(G, read_graph_json(folder / "g.json"))


def test_numpy_scalars_are_written_as_plain_values(tmp_path):
    G = new_graph("factor")
    G.add_node("factor.a", role="factor", count=np.int64(3), level=np.float32(0.5))
    write_graph_json(G, tmp_path / "g.json")
    data = read_graph_json(tmp_path / "g.json").nodes["factor.a"]
    assert data == {"role": "factor", "count": 3, "level": 0.5} and type(data["count"]) is int


WRITERS = [write_graphml, write_graph_json, write_dot, lambda G, p: render(G, p, format="svg")]


@pytest.mark.parametrize("writer", WRITERS, ids=["graphml", "json", "dot", "render"])
def test_non_scalar_attributes_are_refused_and_nothing_is_written(writer, tmp_path):
    G = GRAPHS["unit"].copy()
    G.nodes["latent.mu[0]"]["tensor_shape"] = (2, 3)
    target = tmp_path / "out.file"
    target.write_text("previous")
    with pytest.raises(SchemaError, match="node 'latent.mu\\[0\\]': attribute 'tensor_shape' must be a scalar"):
        writer(G, target)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.file"]  # no temporary file left behind


@pytest.mark.parametrize("mutate, writer, message", [
    (lambda G: G.add_node("factor.x\x01", role="factor"), write_graphml, "control character"),
    (lambda G: G.graph.update(note="a\rb"), write_graphml, "'note' holds a control character"),
    (lambda G: G.add_node("factor.y", role="factor", id="dup"), write_graph_json, "'id' collides"),
    (lambda G: G.add_edge("factor.a", "factor.a", source="s"), write_graph_json, "'source' collides"),
    (lambda G: G.add_node("factor.z", role="factor", level=float("nan")), write_graph_json, "'level' is nan"),
])
def test_values_a_format_cannot_hold_are_refused(mutate, writer, message, tmp_path):
    G = new_graph("factor")
    G.add_node("factor.a", role="factor")
    mutate(G)
    with pytest.raises(ValueError, match=message):
        writer(G, tmp_path / "g")


def test_reading_bad_files_raises_clear_errors(tmp_path):
    (tmp_path / "bad.graphml").write_text("not xml")
    with pytest.raises(ValueError, match="could not read GraphML from .*bad.graphml"):
        read_graphml(tmp_path / "bad.graphml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="could not read node-link JSON from .*bad.json"):
        read_graph_json(tmp_path / "bad.json")
    nx.write_graphml(nx.Graph([("a", "b")]), tmp_path / "undirected.graphml")
    with pytest.raises(ValueError, match="expected a directed simple graph"):
        read_graphml(tmp_path / "undirected.graphml")
    nx.write_graphml(nx.DiGraph([("a", "b")]), tmp_path / "no_schema.graphml")
    with pytest.raises(SchemaError, match="kind"):
        read_graphml(tmp_path / "no_schema.graphml")


def test_render_writes_svg_and_png(tmp_path):
    G = GRAPHS["unit_with_effects"]
    svg = render(G, tmp_path / "g.svg")
    assert b"<svg" in svg.read_bytes()[:400] and b"latent.mu[0]" in svg.read_bytes()
    png = render(G, tmp_path / "g.bin", format="png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in render(G, tmp_path / "no_suffix").read_bytes()[:400]
    with pytest.raises(ValueError, match="render format must be one of .* got 'gif'"):
        render(G, tmp_path / "g.gif")
