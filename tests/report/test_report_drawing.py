"""Graphs drawn for the report: sanitised inline SVG, the aligned-over-true overlay, collapsed circuits."""

import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from causalvae.report.graph_drawing import EDGE_STATES, circuit_drawing, factor_overlay, inline_svg

from report_run_folder import circuit_graph

SVG = "http://www.w3.org/2000/svg"


def test_inline_svg_removes_scripts_handlers_foreign_objects_and_external_links():
    hostile = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20pt" '
               'height="10pt" onload="steal()"><script>alert(1)</script><foreignObject><p>x</p></foreignObject>'
               '<style>@import url(http://evil)</style><defs><marker id="m"/></defs>'
               '<g id="node1" onclick="x()"><title>a&#45;&gt;b</title>'
               '<a xlink:href="http://evil.example/" xlink:title="tip"><path marker-end="url(#m)" d="M0 0"/></a>'
               '<use xlink:href="#m"/></g></svg>').encode()
    out = inline_svg(hostile, prefix="p", label="demo")
    for gone in ("script", "alert", "foreignObject", "onload", "onclick", "evil", "@import"):
        assert gone not in out
    root = ET.fromstring(out)
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert ids == ["p-m", "p-node1"]  # prefixed, so two drawings on a page cannot clash
    assert 'marker-end="url(#p-m)"' in out and 'xlink:href="#p-m"' in out  # references follow the prefix
    assert root.find(f".//{{{SVG}}}title").text == "a->b" and 'xlink:title="tip"' in out  # tooltips kept
    assert root.get("width") is None and root.get("style") == "max-width: 20pt" and root.get("aria-label") == "demo"


def test_inline_svg_rejects_what_is_not_an_svg():
    with pytest.raises(ValueError, match="expected an <svg> root element"):
        inline_svg(b"<html><body/></html>", prefix="p", label="x")


def test_overlay_draws_every_edge_state_in_its_own_colour_in_one_layout():
    truth = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "d")])
    aligned = nx.DiGraph()
    for u, v, status in (("a", "b", "match"), ("c", "b", "reversed"), ("d", "c", "extra"), ("a", "d", "missing")):
        aligned.add_edge(f"factor.{u}", f"factor.{v}", effect=0.0 if status == "missing" else 0.4, status=status)
    svg, states = factor_overlay(aligned, truth)
    assert states == {"correct": [("a", "b")], "reversed": [("c", "b")], "extra": [("d", "c")],
                      "missing": [("a", "d")]}
    text = svg.decode()
    colours = [colour for colour, _, _ in EDGE_STATES.values()]
    assert len(set(colours)) == 4 and all(text.count(f'stroke="{c}"') >= 1 for c in colours)
    assert text.count("<g id=\"node") == 4 and text.count("<g id=\"edge") == 4  # one node per factor, one layout
    assert "extra: d → c (found, not in the true DAG); effect 0.4" in text
    assert 'stroke-dasharray' in text  # the missing edge is dashed


def test_a_small_circuit_is_drawn_unit_by_unit():
    G = circuit_graph("shape", "encoder", "found", 3)
    svg, collapsed = circuit_drawing(G)
    assert not collapsed
    assert all(f"<title>{unit}</title>" in svg.decode() for unit in ("encoder.conv1[2]", "encoder.conv2[0]"))


def test_a_large_circuit_is_collapsed_per_site_with_summed_edges_and_its_units_in_the_tooltip():
    G = circuit_graph("scale", "encoder", "found", 30)  # 62 nodes: factor, 30 + 30 units, latent
    svg, collapsed = circuit_drawing(G, max_unit_nodes=40)
    text = svg.decode()
    assert collapsed and text.count("<g id=\"node") == 4  # factor, two sites, latent
    assert "encoder.conv1" in text and "30 units" in text
    # 30 x 30 unit edges of weight 0.4 between the sites sum to 360
    assert "encoder.conv1 → encoder.conv2: 900 unit edges, Σ|effect| 360" in text
    assert "encoder.conv1[0], encoder.conv1[1]" in text and "(+6)" in text  # 24 units named, then a count
