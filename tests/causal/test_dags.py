import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalvae.causal.dags import (apply_meek_rules, check_dag, compare_dags, cpdag, d_separated,
                                   edge_precision_recall, local_markov_statements, orient_by_order, shd)


def chain_fork_collider():
    return nx.DiGraph([("a", "b"), ("b", "c"), ("b", "d"), ("c", "e"), ("d", "e")])


def test_shd_counts_missing_extra_reversed_and_undirected():
    truth = chain_fork_collider()
    est = truth.copy()
    est.remove_edge("a", "b")              # missing
    est.add_edge("a", "e")                 # extra
    est.remove_edge("c", "e"); est.add_edge("e", "c")  # reversed
    est.add_edge("c", "b")                 # b - c undirected vs b -> c
    assert shd(est, truth) == 4
    assert shd(truth, truth) == 0
    cmp = compare_dags(est, truth)
    assert (cmp["n_missing"], cmp["n_extra"], cmp["n_misoriented"]) == (1, 1, 2)
    # 5 estimated pairs (a-e, b-c, b-d, c-e, d-e): correct with orientation b->d, d->e
    assert cmp["precision"] == pytest.approx(2 / 5) and cmp["recall"] == pytest.approx(2 / 5)
    assert cmp["skeleton_precision"] == pytest.approx(4 / 5) and cmp["skeleton_recall"] == pytest.approx(4 / 5)


def test_precision_recall_empty_graphs_are_perfect():
    g = nx.DiGraph(); g.add_nodes_from("xy")
    assert edge_precision_recall(g, g) == (1.0, 1.0)


def test_mismatched_nodes_rejected():
    with pytest.raises(ValueError, match="same nodes.*only in the first: \\['z'\\]"):
        shd(nx.DiGraph([("x", "z")]), nx.DiGraph([("x", "y")]))


def test_cycle_rejected_with_cycle_named():
    with pytest.raises(ValueError, match="cycle"):
        check_dag(nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a")]))
    with pytest.raises(ValueError, match="cycle"):
        cpdag(nx.DiGraph([("a", "b"), ("b", "a")]))


def test_cpdag_keeps_only_compelled_orientations():
    G = cpdag(chain_fork_collider())
    directed = {(u, v) for u, v in G.edges() if not G.has_edge(v, u)}
    undirected = {frozenset((u, v)) for u, v in G.edges() if G.has_edge(v, u)}
    assert directed == {("c", "e"), ("d", "e")}
    assert undirected == {frozenset("ab"), frozenset("bc"), frozenset("bd")}
    # collider upstream: a -> c <- b, c -> d is compelled by Meek R1
    G2 = cpdag(nx.DiGraph([("a", "c"), ("b", "c"), ("c", "d")]))
    assert not G2.has_edge("d", "c") and G2.has_edge("c", "d")


def test_meek_rule_2_and_orientation_by_tiers():
    pdag = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c"), ("c", "a")])  # a->b->c, a - c
    assert not apply_meek_rules(pdag).has_edge("c", "a")
    G = orient_by_order(cpdag(chain_fork_collider()), [["a"], ["b"], ["c", "d"], ["e"]])
    assert shd(G, chain_fork_collider()) == 0
    with pytest.raises(ValueError, match="not in the graph"):
        orient_by_order(G, [["zzz"]])


def test_d_separation_chain_fork_collider():
    G = chain_fork_collider()
    assert d_separated(G, "a", "c", {"b"})
    assert not d_separated(G, "a", "c")
    assert d_separated(G, "c", "d", {"b"})
    assert not d_separated(G, "c", "d", {"b", "e"})  # conditioning on the collider opens the path
    with pytest.raises(KeyError, match="unknown node"):
        d_separated(G, "a", "q")
    stmts = local_markov_statements(G)
    assert ("c", "d", ("b",)) in stmts and all(d_separated(G, x, y, z) for x, y, z in stmts)


@st.composite
def random_dag(draw):
    n = draw(st.integers(2, 7))
    nodes = [f"v{i}" for i in range(n)]
    G = nx.DiGraph(); G.add_nodes_from(nodes)
    for i in range(n):
        for j in range(i + 1, n):
            if draw(st.booleans()):
                G.add_edge(nodes[i], nodes[j])
    return G


@settings(max_examples=40, deadline=None)
@given(random_dag(), random_dag())
def test_shd_is_a_metric_on_equal_node_sets(a, b):
    if set(a) != set(b):
        b = nx.relabel_nodes(b, dict(zip(sorted(b), sorted(a)))) if len(a) == len(b) else a.copy()
    assert shd(a, b) == shd(b, a) >= 0
    assert (shd(a, b) == 0) == (set(a.edges) == set(b.edges))
    # the CPDAG keeps the skeleton and only orients edges as the DAG does
    c = cpdag(a)
    assert compare_dags(c, a)["skeleton_recall"] == compare_dags(c, a)["skeleton_precision"] == 1.0
    assert all(a.has_edge(u, v) for u, v in c.edges() if not c.has_edge(v, u))


@settings(max_examples=60, deadline=None)
@given(random_dag())
def test_markov_equivalent_dags_share_their_cpdag(a):
    # reversing a covered edge (pa(v) = pa(u) + {u}) gives a Markov-equivalent DAG (Chickering 1995)
    covered = [(u, v) for u, v in a.edges() if set(a.predecessors(v)) == set(a.predecessors(u)) | {u}]
    for u, v in covered:
        b = a.copy()
        b.remove_edge(u, v); b.add_edge(v, u)
        assert shd(cpdag(a), cpdag(b)) == 0
    # a non-covered reversal that creates or destroys a v-structure changes the class
    for u, v in a.edges():
        if (u, v) not in covered:
            b = a.copy()
            b.remove_edge(u, v); b.add_edge(v, u)
            if nx.is_directed_acyclic_graph(b):
                assert shd(cpdag(a), cpdag(b)) > 0
