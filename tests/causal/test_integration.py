"""The causal layer against the shipped datasets and the graph exporters."""

import subprocess
import sys

import networkx as nx
import pytest

import planted
from causalvae.causal import causal_unit_graph, compare_dags, cpdag, learn_dag, orient_by_order, shd
from causalvae.causal.factor_graphs import aligned_graph


def test_importing_the_causal_layer_loads_no_heavy_library():
    code = "import sys, causalvae.causal; print(' '.join(m.split('.')[0] for m in sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert not {"torch", "dowhy", "pgmpy", "sklearn", "matplotlib"} & loaded


@pytest.mark.slow
def test_pc_recovers_the_shipped_linear_scm_from_20k_samples():
    from causalvae.data import load

    ds = load("scm-linear", n=20000, seed=0)
    G = learn_dag(ds.frame(), method="pc")
    assert shd(G, cpdag(ds.factor_dag)) == 0            # the Markov equivalence class, exactly
    tiers = [list(t) for t in nx.topological_generations(ds.factor_dag)]
    assert shd(orient_by_order(G, tiers), ds.factor_dag) == 0   # and the DAG given the causal order
    assert compare_dags(G, ds.factor_dag)["skeleton_recall"] == 1.0


def test_unit_and_aligned_graphs_export_with_effects_and_cis(tmp_path):
    from causalvae.graph import read_graphml, to_dot, write_graphml

    responses, edges, readout = planted.matrices()
    G = causal_unit_graph([responses, edges, readout], stages=planted.STAGES)
    ref = nx.DiGraph([("a", "b")]); ref.add_node("c")
    found = nx.DiGraph(); found.add_edge("c", "b", effect=-0.3)
    aligned = aligned_graph(found, ref)
    for name, graph in (("aligned", aligned), ("unit", G)):
        path = write_graphml(graph, tmp_path / f"{name}.graphml")
        back = read_graphml(path)
        assert set(back.edges) == set(graph.edges) and back.graph["kind"] == name
        dot = to_dot(graph)
        assert dot.startswith(f'digraph "{name}"') and "->" in dot
    back = read_graphml(tmp_path / "unit.graphml")
    e = back.edges["encoder.h[0]", "latent.mu[0]"]
    assert e["effect"] == pytest.approx(1.0) and e["stderr"] == pytest.approx(0.01) and "p_value" in e


def test_pc_recovers_the_causal_sprites_factor_dag_up_to_equivalence():
    from causalvae.data import load

    ds = load("causal-sprites", n=20000, seed=0)
    G = learn_dag(ds.frame(), method="pc")
    assert shd(G, cpdag(ds.factor_dag)) == 0
