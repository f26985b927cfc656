"""Stored reference DAGs (graphs/*.dot, graphs/*.graphml) equal the generators' and follow the schema."""

import networkx as nx
import pytest

from causalvae.data import load, names
from causalvae.data import factor_dags, reference_graphs
from causalvae.graph.schema import SchemaError, validate


def _same(a: nx.DiGraph, b: nx.DiGraph) -> bool:
    return (a.graph == b.graph and dict(a.nodes(data=True)) == dict(b.nodes(data=True))
            and {(u, v): d for u, v, d in a.edges(data=True)} == {(u, v): d for u, v, d in b.edges(data=True)})


@pytest.mark.parametrize("name", names())
def test_stored_graphml_equals_generator(name):
    stored = factor_dags.read_graphml(factor_dags.GRAPHS_DIR / f"{name}.graphml")
    generated = reference_graphs.generator_dags()[name]()
    assert _same(stored, generated), f"graphs/{name}.graphml is stale: run causalvae.data.reference_graphs.write_reference_graphs()"
    assert stored.graph["kind"] == "factor" and all(d["role"] == "factor" for _, d in stored.nodes(data=True))
    validate(stored)


@pytest.mark.parametrize("name", names())
def test_stored_dot_equals_generator(name):
    import pygraphviz

    from causalvae.graph.dot import to_dot

    path = factor_dags.GRAPHS_DIR / f"{name}.dot"
    assert path.read_text() == to_dot(reference_graphs.generator_dags()[name]())
    parsed = pygraphviz.AGraph(str(path))                     # and graphviz reads it back
    generated = reference_graphs.generator_dags()[name]()
    assert parsed.is_directed() and set(parsed.nodes()) == set(generated.nodes)
    assert set(parsed.edges()) == set(generated.edges)
    assert {n: parsed.get_node(n).attr["tooltip"].split("\\n")[0] for n in parsed.nodes()} == \
        {n: f"factor_kind={k}" for n, k in generated.nodes(data="factor_kind")}


def test_datasets_use_the_stored_graph(tmp_path, monkeypatch):
    ds = load("scm-linear", n=5)
    assert _same(ds.factor_dag, factor_dags.read_graphml(factor_dags.GRAPHS_DIR / "scm-linear.graphml"))
    # a stored file is what is loaded: edit it, and the dataset follows
    reference_graphs.write_reference_graphs(tmp_path)
    G = factor_dags.read_graphml(tmp_path / "scm-linear.graphml")
    G.graph["note"] = "edited"
    nx.write_graphml(G, tmp_path / "scm-linear.graphml")
    monkeypatch.setattr(factor_dags, "GRAPHS_DIR", tmp_path)
    assert load("scm-linear", n=5).factor_dag.graph["note"] == "edited"
    # no stored file (e.g. a wheel install): the generator's definition is used
    (tmp_path / "scm-linear.graphml").unlink()
    assert _same(load("scm-linear", n=5).factor_dag, reference_graphs.generator_dags()["scm-linear"]())


def test_write_reference_graphs_writes_both_formats(tmp_path):
    written = reference_graphs.write_reference_graphs(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{n}.{ext}" for n in names() for ext in ("dot", "graphml"))
    assert (tmp_path / "dsprites.dot").read_text() == (factor_dags.GRAPHS_DIR / "dsprites.dot").read_text()


def test_invalid_graphs_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="outside"):
        factor_dags.factor_graph("x", ["a"], ["continuous"], edges=[("a", "b")])
    with pytest.raises(ValueError, match="cycle"):
        factor_dags.factor_graph("x", ["a", "b"], ["continuous"] * 2, edges=[("a", "b"), ("b", "a")])
    cpdag = factor_dags.factor_graph("x", ["a", "b"], ["continuous"] * 2, edges=[("a", "b"), ("b", "a")],
                                     acyclic=False)                     # a learned CPDAG's undirected edge
    assert sorted(cpdag.edges) == [("a", "b"), ("b", "a")]
    bad = nx.DiGraph(kind="factor", schema_version=1)
    bad.add_node("a")                                                   # no role
    nx.write_graphml(bad, tmp_path / "bad.graphml")
    with pytest.raises(SchemaError, match="missing required attribute"):
        factor_dags.read_graphml(tmp_path / "bad.graphml")
    (tmp_path / "broken.graphml").write_text("<graphml><graph")
    with pytest.raises(ValueError, match="could not read GraphML"):
        factor_dags.read_graphml(tmp_path / "broken.graphml")
    assert factor_dags.reference_dag("nope", build=nx.DiGraph, directory=tmp_path).number_of_nodes() == 0
