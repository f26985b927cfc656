import networkx as nx
import pytest

from causalvae.graph.schema import SCHEMA_VERSION, SchemaError, new_graph, validate


def unit_graph():
    G = new_graph("unit")
    for i in range(2):
        G.add_node(f"encoder.conv1[{i}]", site="encoder.conv1", index=i, layer=1, role="hidden", active=True)
    G.add_node("latent.mu[0]", site="latent.mu", index=0, layer=2, role="latent", active=True)
    G.add_edge("encoder.conv1[0]", "latent.mu[0]", effect=-0.5, weight=0.5, intervention="zero-ablation",
               statistic="mean")
    return G


def test_valid_graph_passes():
    G = unit_graph()
    assert validate(G) is G
    assert G.graph == {"kind": "unit", "schema_version": SCHEMA_VERSION}


@pytest.mark.parametrize("mutate, message", [
    (lambda G: G.graph.update(kind="weird"), r"\[.kind.\] must be one of"),
    (lambda G: G.graph.update(schema_version=0), "schema_version"),
    (lambda G: G.add_node(3, site="x", index=0, layer=0, role="hidden", active=True), "node ids must be strings"),
    (lambda G: G.nodes["latent.mu[0]"].pop("role"), "missing required attribute"),
    (lambda G: G.nodes["latent.mu[0]"].update(role="boss"), "role must be one of"),
    (lambda G: G.nodes["latent.mu[0]"].update(tensor_shape=(1, 2)), "'tensor_shape' must be a scalar"),
    (lambda G: G.nodes["latent.mu[0]"].update(shape="box"), "reserved by Graphviz"),
    (lambda G: G.edges["encoder.conv1[0]", "latent.mu[0]"].update(weight=0.4), r"weight must equal \|effect\|"),
    (lambda G: G.graph.update(extra=[1]), "must be a scalar"),
])
def test_violations_are_named(mutate, message):
    G = unit_graph()
    mutate(G)
    with pytest.raises(SchemaError, match=message):
        validate(G)


def test_effect_edges_required_on_aligned_graphs():
    G = new_graph("aligned")
    G.add_node("factor.a", role="factor")
    G.add_node("latent.mu[0]", role="latent")
    G.add_edge("factor.a", "latent.mu[0]", effect=1.0)
    with pytest.raises(SchemaError, match="missing required attribute"):
        validate(G)


def test_new_graph_rejects_unknown_kind():
    with pytest.raises(SchemaError):
        new_graph("bogus")
    assert isinstance(new_graph("factor"), nx.DiGraph)
