"""DOT output: byte-stable golden files, insertion-order independence, styling, and a clean `dot` render.

Regenerate the golden files after an intended change with
``CAUSALVAE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/graph/test_graph_dot.py``.
"""

import os
import random
import subprocess
from pathlib import Path

import networkx as nx
import pytest

from causalvae.graph import new_graph, to_dot, write_dot
from causalvae.graph.dot import MAX_PENWIDTH, MIN_PENWIDTH, NEGATIVE, POSITIVE

GOLDEN = Path(__file__).parent / "golden"


def computational_graph() -> nx.DiGraph:
    """A hand-written computational graph (no torch, so the golden file does not depend on fx naming)."""
    G = new_graph("computational", model="Tiny", method="fx")
    rows = [("x", "placeholder", "x", "", "input", "2x1x4x4", 0),
            ("encoder_conv", "call_module", "encoder.conv", "Conv2d", "encoder", "2x3x2x2", 30),
            ("relu", "call_function", "torch.relu", "", "encoder", "2x3x2x2", 0),
            ("latent_mu", "call_module", "latent.mu", "Linear", "latent", "2x2", 26),
            ("output", "output", "output", "", "output", "2x2", 0)]
    for order, (name, op, target, module_type, stage, shape, n_params) in enumerate(rows):
        G.add_node(name, op=op, target=target, module_type=module_type, stage=stage, tensor_shape=shape,
                   n_params=n_params, order=order)
    nx.add_path(G, [r[0] for r in rows])
    return G


def unit_graph_with_effects() -> nx.DiGraph:
    G = new_graph("unit", model="Tiny", level="unit")
    G.add_node("factor.scale", site="factor.scale", index=-1, layer=-1, role="factor", active=True)
    for i in range(2):
        G.add_node(f"encoder.conv[{i}]", site="encoder.conv", index=i, layer=0, role="hidden", active=i == 0,
                   stage="encoder")
        G.add_node(f"latent.mu[{i}]", site="latent.mu", index=i, layer=1, role="latent", active=True, stage="latent")
    G.add_node('odd "name" \\ here', site="odd", index=-1, layer=2, role="readout", active=True, n_units=4)
    effects = {("factor.scale", "encoder.conv[0]"): 2.0, ("encoder.conv[0]", "latent.mu[0]"): -1.0,
               ("encoder.conv[1]", "latent.mu[1]"): 0.0, ("latent.mu[0]", 'odd "name" \\ here'): 0.123456789}
    for (u, v), effect in effects.items():
        G.add_edge(u, v, effect=effect, weight=abs(effect), intervention="zero-ablation", statistic="mean")
    G.add_edge("encoder.conv[0]", "latent.mu[1]", pattern="channelwise")
    return G


CASES = {"computational.dot": computational_graph, "unit_effects.dot": unit_graph_with_effects}


@pytest.mark.parametrize("name", sorted(CASES))
def test_dot_text_matches_the_golden_file(name, tmp_path):
    written = write_dot(CASES[name](), tmp_path / name).read_bytes()
    if os.environ.get("CAUSALVAE_UPDATE_GOLDEN"):
        (GOLDEN / name).write_bytes(written)
    assert written == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_dot_text_does_not_depend_on_insertion_order(name):
    G = CASES[name]()
    rng = random.Random(7)
    for _ in range(5):
        nodes, edges = list(G.nodes(data=True)), list(G.edges(data=True))
        rng.shuffle(nodes)
        rng.shuffle(edges)
        H = nx.DiGraph(**G.graph)
        H.add_nodes_from(nodes)
        H.add_edges_from(edges)
        assert to_dot(H) == to_dot(G)


def test_unit_ids_are_listed_in_numeric_order():
    G = new_graph("unit")
    for i in (10, 2, 1):
        G.add_node(f"conv[{i}]", site="conv", index=i, layer=0, role="hidden", active=True)
    assert [line.split(" [")[0].strip() for line in to_dot(G).splitlines()[4:7]] == \
        ['"conv[1]"', '"conv[2]"', '"conv[10]"']


def test_edges_are_styled_by_effect_size_and_sign():
    text = to_dot(unit_graph_with_effects())
    lines = {line.split(" [", 1)[0].strip(): line for line in text.splitlines() if " -> " in line}
    strongest = lines['"factor.scale" -> "encoder.conv[0]"']
    assert f'penwidth="{MAX_PENWIDTH:g}"' in strongest and f'color="{POSITIVE}"' in strongest
    half = lines['"encoder.conv[0]" -> "latent.mu[0]"']
    assert f'penwidth="{(MIN_PENWIDTH + MAX_PENWIDTH) / 2:g}"' in half and f'color="{NEGATIVE}"' in half
    assert f'penwidth="{MIN_PENWIDTH:g}"' in lines['"encoder.conv[1]" -> "latent.mu[1]"']
    assert 'style="dashed"' in lines['"encoder.conv[0]" -> "latent.mu[1]"']
    assert '"encoder.conv[1]" [label="encoder.conv[1]", shape="box", style="filled,dashed"' in text
    assert '"factor.scale" [label="factor.scale", shape="diamond"' in text


@pytest.mark.graphviz
@pytest.mark.parametrize("name", sorted(CASES))
def test_graphviz_renders_the_dot_file_without_warnings(name, tmp_path):
    path = write_dot(CASES[name](), tmp_path / name)
    done = subprocess.run(["dot", "-Tsvg", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert "<svg" in done.stdout and "latent" in done.stdout


def test_awkward_node_ids_survive_quoting():
    import pygraphviz

    parsed = pygraphviz.AGraph(string=to_dot(unit_graph_with_effects()))
    assert sorted(parsed.nodes()) == sorted(unit_graph_with_effects().nodes)
