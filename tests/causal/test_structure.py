import warnings
import networkx as nx
import numpy as np
import pytest

import planted
from causalvae.causal.dags import edge_precision_recall
from causalvae.causal.effect_graph import causal_unit_graph, entry_graph
from causalvae.causal.motifs import count_motifs, motifs
from causalvae.causal.unit_classes import class_fractions, classify_units
from causalvae.effects import EffectMatrix
from causalvae.graph.schema import SchemaError, validate


@pytest.fixture(scope="module")
def G():
    return causal_unit_graph(planted.matrices(), stages=planted.STAGES)


def test_unit_graph_keeps_exactly_the_planted_effects(G):
    responses, edges, readout = planted.matrices()
    expected = {(s, t) for m in (responses, edges) for (i, s) in enumerate(m.sources)
                for (j, t) in enumerate(m.targets) if m.values[i, j] != 0}
    expected |= {(f"latent.mu[{k}]", f"readout.{f}") for k, f in enumerate(planted.FACTORS)}
    assert set(G.edges) == expected
    assert G.nodes["encoder.h[0]"]["layer"] == 1 and G.nodes["latent.mu[0]"]["layer"] == 2
    assert G.nodes["readout.a"]["role"] == "readout" and G.nodes["latent.mu[1]"]["role"] == "latent"
    assert G.nodes["encoder.h[5]"]["active"] is False and G.graph["error"] == "fdr"
    assert G.edges["encoder.h[1]", "latent.mu[1]"]["effect"] == pytest.approx(0.3)
    H = entry_graph(G)  # factors enter at the first unit layer only
    assert ("factor.a", "encoder.h[0]") in H.edges and ("factor.a", "latent.mu[0]") not in H.edges
    assert H.number_of_edges() == G.number_of_edges() - 5  # a->mu0, a->mu1, b->mu1, a->mu2, c->mu2


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


def test_unit_classes_need_factor_rows():
    _, edges, _ = planted.matrices()
    with pytest.raises(ValueError, match="factor rows"):
        classify_units(edges)


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
    assert (by.loc["detector", "note"] == "fixed by the per-block degrees the null preserves").all()
    assert by.loc[("parallel", 0), "note"] == ""
    # the path motifs vary under rewiring; the planted parallel paths are over-represented
    assert by.loc[("parallel", 0), "null_std"] > 0 and by.loc[("parallel", 0), "z"] > 1
    with pytest.raises(ValueError, match="kind 'unit'"):
        motifs(nx.DiGraph())


def test_unit_graph_bad_input():
    responses, edges, readout = planted.matrices()
    with pytest.raises(ValueError, match=">= 2 independent replicates"):
        causal_unit_graph([EffectMatrix(np.ones((1, 1)), ["encoder.h[0]"], ["latent.mu[0]"], intervention="x",
                                        statistic="mean", n_samples=1)], stages=planted.STAGES)
    with pytest.raises(ValueError, match="error must be one of"):
        causal_unit_graph([edges], stages=planted.STAGES, error="magic")
    with pytest.raises(ValueError, match="alpha must be"):
        causal_unit_graph([edges], stages=planted.STAGES, alpha=float("nan"))
    with pytest.raises(KeyError, match="no stage declared for site 'encoder.h'"):
        causal_unit_graph([edges])
    unscaled = EffectMatrix(edges.values, edges.sources, edges.targets, intervention="x", statistic="mean",
                            n_samples=4, stderr=edges.stderr, meta={"replicates": 4})
    with pytest.raises(KeyError, match="not standardised and spread lacks"):
        causal_unit_graph([unscaled], stages=planted.STAGES)
    back = EffectMatrix(np.ones((1, 1)), ["latent.mu[0]"], ["encoder.h[0]"], intervention="x", statistic="mean",
                        n_samples=1, stderr=np.full((1, 1), 0.01), meta={"replicates": 4, "standardised": True})
    with pytest.raises(ValueError, match="cycle"):
        causal_unit_graph([edges, back], stages=planted.STAGES)
    with pytest.raises(SchemaError):
        G = causal_unit_graph([edges], stages=planted.STAGES); G.nodes["encoder.h[0]"]["role"] = "neuron"; validate(G)


def test_site_order_sets_layers_and_must_cover_every_site():
    responses, edges, readout = planted.matrices()
    G = causal_unit_graph([responses, edges, readout], stages=planted.STAGES,
                          site_order=["encoder.h", "decoder.unused", "latent.mu"])
    assert G.nodes["encoder.h[0]"]["layer"] == 1 and G.nodes["latent.mu[0]"]["layer"] == 2
    assert G.nodes["readout.a"]["layer"] == 3 and G.nodes["factor.a"]["layer"] == 0
    with pytest.raises(ValueError, match="site_order lacks the sites \\['latent.mu'\\]"):
        causal_unit_graph([responses, edges], stages=planted.STAGES, site_order=["encoder.h"])


def test_absolute_statistics_are_tested_one_sided_against_the_minimal_effect():
    """No causal path means an exact 0 (p = 1); a consistent effect above the floor is kept; an effect
    that is consistent but below min_effect × spread is not (the skeleton is not the effect graph)."""
    values = np.array([[0.0, 0.5, 0.05]])
    stderr = np.array([[0.0, 0.05, 0.0]])
    m = EffectMatrix(values, ["encoder.h[0]"], ["latent.mu[0]", "latent.mu[1]", "latent.mu[2]"],
                     intervention="mean-ablation", statistic="mean_abs", n_samples=16, stderr=stderr,
                     meta={"replicates": 4})
    spread = {"latent.mu[0]": 1.0, "latent.mu[1]": 1.0, "latent.mu[2]": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G = causal_unit_graph([m], stages=planted.STAGES, spread=spread)
    assert set(G.edges) == {("encoder.h[0]", "latent.mu[1]")}
    assert causal_unit_graph([m], stages=planted.STAGES, spread=spread, min_effect=0.0).number_of_edges() == 2
