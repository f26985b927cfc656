import warnings
import networkx as nx
import numpy as np
import pytest

import planted
from causalvae.causal.alignment import align
from causalvae.causal.circuits import circuit, circuit_summary, circuits
from causalvae.causal.dags import edge_precision_recall
from causalvae.causal.effect_graph import causal_unit_graph, entry_graph
from causalvae.causal.motifs import count_motifs, motifs
from causalvae.causal.stats import sign_flip_max_null
from causalvae.causal.unit_classes import class_fractions, classify_units
from causalvae.effects import EffectMatrix
from causalvae.graph.schema import SchemaError, validate


@pytest.fixture(scope="module")
def G():
    return causal_unit_graph(planted.matrices(), rule="fdr", alpha=0.05)


def test_unit_graph_keeps_exactly_the_planted_effects(G):
    responses, edges, readout = planted.matrices()
    expected = {(s, t) for m in (responses, edges) for (i, s) in enumerate(m.sources)
                for (j, t) in enumerate(m.targets) if m.values[i, j] != 0}
    expected |= {(f"latent.mu[{k}]", f"readout.{f}") for k, f in enumerate(planted.FACTORS)}
    assert set(G.edges) == expected
    assert G.nodes["encoder.h[0]"]["layer"] == 1 and G.nodes["latent.mu[0]"]["layer"] == 2
    assert G.nodes["readout.a"]["role"] == "readout" and G.nodes["latent.mu[1]"]["role"] == "latent"
    assert G.nodes["encoder.h[5]"]["active"] is False and G.graph["threshold_rule"] == "fdr"
    assert G.edges["encoder.h[1]", "latent.mu[1]"]["effect"] == pytest.approx(0.3)
    H = entry_graph(G)  # factors enter at the first unit layer only
    assert ("factor.a", "encoder.h[0]") in H.edges and ("factor.a", "latent.mu[0]") not in H.edges
    assert H.number_of_edges() == G.number_of_edges() - 5  # a->mu0, a->mu1, b->mu1, a->mu2, c->mu2


def test_max_null_rule_recovers_planted_edges_from_noisy_per_input_changes():
    rng = np.random.default_rng(0)
    deltas = planted.W_ENC[None] + rng.normal(0, 0.3, size=(200, *planted.W_ENC.shape))
    m = EffectMatrix(deltas.mean(axis=0), planted.ENC, planted.LAT, intervention="zero-ablation",
                     statistic="mean", n_samples=200)
    G = causal_unit_graph([m], rule="max-null", null_maxima=[sign_flip_max_null(deltas, seed=1)])
    assert set(G.edges) == {(planted.ENC[i], planted.LAT[j]) for i, j in zip(*np.nonzero(planted.W_ENC))}
    assert 0.02 < G.edges["encoder.h[1]", "latent.mu[1]"]["threshold"] < 0.3


def test_unit_classes_match_the_planted_units():
    responses, _, _ = planted.matrices()
    df = classify_units(responses).set_index("unit")
    for unit, (cls, factor) in planted.CLASSES.items():
        assert (df.loc[unit, "class"], df.loc[unit, "factor"]) == (cls, factor), unit
    assert df.loc["encoder.h[4]", "factors"] == "a,c"
    frac = class_fractions(classify_units(responses))
    assert frac.loc["encoder.h", "monosemantic"] == pytest.approx(4 / 6) and frac.loc["latent.mu", "n"] == 3
    # thresholds are parameters: with mono = 0.5 the polysemantic unit becomes monosemantic for a
    assert classify_units(responses, mono=0.5).set_index("unit").loc["encoder.h[4]", "class"] == "monosemantic"


def test_alignment_assigns_units_and_recovers_the_factor_dag(G):
    responses, _, _ = planted.matrices()
    reference = nx.DiGraph([("a", "b")]); reference.add_node("c")
    result = align(G, responses, reference=reference)
    assigned = result.assignments.set_index("unit")
    for unit, (cls, factor) in planted.CLASSES.items():
        if cls == "monosemantic":
            assert assigned.loc[unit, "factor"] == factor
    assert set(result.induced.edges) == {("a", "b")}
    assert result.comparison["shd"] == 0 and result.comparison["precision"] == 1.0
    validate(result.graph)
    assert result.graph.edges["factor.a", "factor.b"]["status"] == "match"
    wrong = nx.DiGraph([("b", "c")]); wrong.add_node("a")
    other = align(G, responses, reference=wrong)
    assert other.comparison["shd"] == 2
    assert other.graph.edges["factor.b", "factor.c"]["status"] == "missing"


def test_alignment_bad_input(G):
    responses, edges, _ = planted.matrices()
    with pytest.raises(ValueError, match="do not match the response factors"):
        align(G, responses, reference=nx.DiGraph([("a", "b"), ("b", "shape")]))
    with pytest.raises(ValueError, match="cycle"):
        align(G, responses, reference=nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a")]))
    stray = EffectMatrix(np.ones((1, 1)), ["factor.a"], ["decoder.x[9]"], intervention="x", statistic="mean",
                         n_samples=1)
    with pytest.raises(KeyError, match="not nodes of the graph"):
        align(G, stray)
    with pytest.raises(ValueError, match="factor rows"):
        classify_units(edges)


def test_circuits_recover_planted_circuits_exactly_with_known_faithfulness(G):
    found = circuits(G, fraction=0.8, evaluate=planted.evaluate)
    for factor, edges in planted.CIRCUIT_EDGES.items():
        c = found[factor]
        est = nx.DiGraph(c.graph.edges); truth = nx.DiGraph(edges)
        nodes = set(est) | set(truth)
        est.add_nodes_from(nodes); truth.add_nodes_from(nodes)
        assert edge_precision_recall(est, truth) == (1.0, 1.0), factor
        validate(c.graph)
    assert found["a"].faithfulness == pytest.approx(1.0) and found["a"].carried == pytest.approx(1.0)
    assert found["c"].faithfulness == pytest.approx(1.0 / 1.2) and found["c"].carried == pytest.approx(1.0 / 1.2)
    assert found["c"].size == 3  # h3, mu2, readout.c
    summary = circuit_summary(found).set_index("factor")
    assert summary.loc["a", "n_edges"] == 5 and summary.loc["b", "size"] == 3
    # asking for everything pulls in the weak parallel path through the polysemantic unit
    assert "encoder.h[4]" in circuit(G, "c", fraction=1.0).units


def test_circuit_bad_input(G):
    with pytest.raises(KeyError, match="not in the graph"):
        circuit(G, "colour")
    with pytest.raises(ValueError, match="fraction"):
        circuit(G, "a", fraction=0)
    with pytest.raises(ValueError, match="same behaviour"):
        circuit(G, "a", evaluate=lambda keep: 1.0)


def test_motif_counts_match_the_planted_motifs(G):
    assert dict(count_motifs(G)) == planted.MOTIF_COUNTS


def test_motif_null_preserves_degrees_and_gives_z_scores(G):
    df = motifs(G, n_null=30, seed=0)
    obs = {(m, l): c for m, l, c in zip(df["motif"], df["layer"], df["count"]) if c}
    assert obs == planted.MOTIF_COUNTS
    assert df.equals(motifs(G, n_null=30, seed=0))
    from causalvae.causal.motifs import _rewired
    R = _rewired(G, np.random.default_rng(1), 10)
    assert dict(R.in_degree()) == dict(G.in_degree()) and dict(R.out_degree()) == dict(G.out_degree())
    assert set(R.edges) != set(G.edges)
    by = df.set_index(["motif", "layer"])
    # detector / convergent / divergent are fixed by the per-block degrees: no null spread, z undefined
    assert (by.loc["detector", "null_std"] == 0).all() and by.loc["detector", "z"].isna().all()
    # the path motifs vary under rewiring; the planted parallel paths are over-represented
    assert by.loc[("parallel", 0), "null_std"] > 0 and by.loc[("parallel", 0), "z"] > 1
    with pytest.raises(ValueError, match="kind 'unit'"):
        motifs(nx.DiGraph())


def test_unit_graph_bad_input():
    responses, edges, readout = planted.matrices()
    with pytest.raises(ValueError, match="needs stderr"):
        causal_unit_graph([EffectMatrix(np.ones((1, 1)), ["a[0]"], ["b[0]"], intervention="x", statistic="mean",
                                        n_samples=1)])
    with pytest.raises(ValueError, match="one null_maxima array per matrix"):
        causal_unit_graph([edges], rule="max-null")
    with pytest.raises(ValueError, match="rule must be one of"):
        causal_unit_graph([edges], rule="magic")
    back = EffectMatrix(np.ones((1, 1)), ["latent.mu[0]"], ["encoder.h[0]"], intervention="x", statistic="mean",
                        n_samples=1, stderr=np.full((1, 1), 0.01))
    with pytest.raises(ValueError, match="cycle"):
        causal_unit_graph([edges, back])
    with pytest.raises(SchemaError):
        G = causal_unit_graph([edges]); G.nodes["encoder.h[0]"]["role"] = "neuron"; validate(G)


def test_site_order_sets_layers_and_must_cover_every_site():
    responses, edges, readout = planted.matrices()
    G = causal_unit_graph([responses, edges, readout], site_order=["encoder.h", "decoder.unused", "latent.mu"])
    assert G.nodes["encoder.h[0]"]["layer"] == 1 and G.nodes["latent.mu[0]"]["layer"] == 2
    assert G.nodes["readout.a"]["layer"] == 3 and G.nodes["factor.a"]["layer"] == 0
    with pytest.raises(ValueError, match="site_order lacks the sites \\['latent.mu'\\]"):
        causal_unit_graph([responses, edges], site_order=["encoder.h"])


def test_fdr_rule_warns_for_absolute_statistics():
    m = EffectMatrix(np.ones((1, 1)), ["a[0]"], ["b[0]"], intervention="x", statistic="mean_abs", n_samples=4,
                     stderr=np.full((1, 1), 0.1))
    with pytest.warns(UserWarning, match="positive even without an effect"):
        causal_unit_graph([m])


def test_fdr_on_exact_interventions_tests_consistency_without_warning():
    """deterministic=True: no causal path means an exact 0 (p = 1); a consistent nonzero effect is kept."""
    values = np.array([[0.0, 0.5, 0.02]])
    stderr = np.array([[0.0, 0.05, 0.05]])  # third: mean |change| small and inconsistent across batches
    m = EffectMatrix(values, ["a[0]"], ["b[0]", "b[1]", "b[2]"], intervention="zero-ablation",
                     statistic="mean_abs", n_samples=16, stderr=stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G = causal_unit_graph([m], deterministic=True)
    assert set(G.edges) == {("a[0]", "b[1]")}
