"""Causal abstraction on hand-wired networks with known answers (weights set by hand).

A tiny SCM ``a -> b -> c`` (``b = 1.5 a + 0.5 u_b``, ``c = 2 tanh(b) + 0.5 u_c``) is rendered
linearly to 12 dimensions; the read-out is the exact inverse of that renderer.  Latents are 16-wide:
the 13 coordinates beyond the factors are unused (like a VAE's inactive latents).
"""

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from causalvae.causal.abstraction import (EMPTY, FULL, HighLevelModel, Hypothesis, best_hypothesis,
                                          checkable_edges, distinguishable, iia_table, pair_scores)
from causalvae.causal.factor_graphs import graph_scores, interchange_graph
from causalvae.data.scm import Additive, Linear, StructuralCausalModel
from causalvae.interventions.alignment_search import ReadoutSpec, interchange_graphs, search_alignments
from causalvae.interventions.interchange import LATENT, Interchanger, coordinate_block, train_das
from causalvae.interventions.targets import Readout

NAMES = ("a", "b", "c")
WIDTH, OBS = 16, 12
MECHANISMS = ("decoder.scm.a", "decoder.scm.b", "decoder.scm.c")


def chain_scm():
    return StructuralCausalModel({"a": Additive(), "b": Additive(("a",), Linear((1.5,)), 0.5),
                                  "c": Additive(("b",), lambda pa: 2.0 * np.tanh(pa[:, 0]), 0.5)})


SCM = chain_scm()
M = np.linalg.qr(np.random.default_rng(0).standard_normal((OBS, 3)))[0].T  # renderer: x = v @ M
VARIANCE = SCM.sample(20_000, seed=99).var(axis=0)
SPEC = ReadoutSpec(NAMES, 0.05 * np.sqrt(VARIANCE), VARIANCE, np.ones(3, dtype=bool))


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Net(nn.Module):
    """``encode(x) -> (mu, logvar)`` and ``decode(z)``, with sites ``latent.mu`` and ``decoder.*``."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent = nn.Module()
        self.latent.mu = nn.Identity()

    def encode(self, x):
        mu = self.latent.mu(self.encoder(x))
        return mu, torch.zeros_like(mu)

    def decode(self, z):
        return self.decoder(z)


def _pad(v):
    return torch.cat([v, torch.zeros(len(v), WIDTH - v.shape[1])], dim=1)


def _render(v):
    return v[:, :3] @ torch.as_tensor(M, dtype=torch.float32)


def _factors(x):
    return x @ torch.as_tensor(M.T, dtype=torch.float32)


def _set(h, j, value):
    h = h.clone()
    h[:, j] = value
    return h


def chain_net():
    """z = the noises (u_a, u_b, u_c); decoder.scm.{a,b,c} compute v = solve(u) one mechanism each."""
    def abduct(x):
        a, b, c = _factors(x).unbind(1)
        return _pad(torch.stack([a, (b - 1.5 * a) / 0.5, (c - 2 * torch.tanh(b)) / 0.5], 1))

    scm = nn.Sequential()
    scm.add_module("a", Fn(lambda h: h))  # a = u_a (a root with unit noise scale)
    scm.add_module("b", Fn(lambda h: _set(h, 1, 1.5 * h[:, 0] + 0.5 * h[:, 1])))
    scm.add_module("c", Fn(lambda h: _set(h, 2, 2 * torch.tanh(h[:, 1]) + 0.5 * h[:, 2])))
    decoder = nn.Sequential()
    decoder.add_module("scm", scm)
    decoder.add_module("render", Fn(_render))
    return Net(Fn(abduct), decoder)


def plain_net(rotation=None):
    """z = R v (v: the factors, R = I unless given); the decoder unmixes and renders v linearly."""
    r = torch.eye(WIDTH)
    if rotation is not None:
        r[:3, :3] = torch.as_tensor(rotation, dtype=torch.float32)
    decoder = nn.Sequential()
    decoder.add_module("unmix", Fn(lambda z: z @ r))
    decoder.add_module("render", Fn(_render))
    return Net(Fn(lambda x: _pad(_factors(x)) @ r.T), decoder)


def random_net(seed=0):
    torch.manual_seed(seed)
    decoder = nn.Sequential()
    decoder.add_module("fc1", nn.Sequential(nn.Linear(WIDTH, 32), nn.Tanh()))
    decoder.add_module("out", nn.Linear(32, OBS))
    return Net(nn.Sequential(nn.Linear(OBS, 32), nn.Tanh(), nn.Linear(32, WIDTH)), decoder)


READOUT = Readout(_factors, NAMES)
TRAIN = (SCM.sample(200, seed=1), SCM.sample(200, seed=2))
TEST = (SCM.sample(200, seed=3), SCM.sample(200, seed=4))


def interchangers(net, sites):
    return [Interchanger(net, b @ M, s @ M, sites=sites, readout=READOUT) for b, s in (TRAIN, TEST)]


def run_search(net, sites, **kw):
    train, test = interchangers(net, sites)
    result = search_alignments(train, test, HighLevelModel(NAMES, SCM), train_factors=TRAIN, test_factors=TEST,
                               readouts=SPEC, coordinate_sites=[LATENT, *sites], n_boot=200, **kw)
    return result, test


def strict(result, alignment, hypothesis, factor="all"):
    t = result.table
    row = t[(t.alignment == alignment) & (t.hypothesis == hypothesis) & (t.factor == factor)]
    return float(row["strict"].iloc[0])


# --- the high-level models ------------------------------------------------------------------------

def test_hypotheses_are_the_subgraphs_and_their_counterfactuals_propagate_only_along_them():
    hl = HighLevelModel(NAMES, SCM)
    hyps = {h.name: h for h in hl.hypotheses()}
    assert list(hyps) == [EMPTY, "drop:a->b", "drop:b->c", FULL]
    base, source = TRAIN
    np.testing.assert_allclose(hl.counterfactual(base, source, factor="a", hypothesis=hyps[FULL]),
                               SCM.counterfactual(base, {"a": source[:, 0]}), atol=1e-12)
    swapped = base.copy(); swapped[:, 0] = source[:, 0]
    np.testing.assert_array_equal(hl.counterfactual(base, source, factor="a", hypothesis=hyps[EMPTY]), swapped)
    only_ab = hl.counterfactual(base, source, factor="a", hypothesis=hyps["drop:b->c"])
    np.testing.assert_allclose(only_ab[:, 1], 1.5 * source[:, 0] + (base[:, 1] - 1.5 * base[:, 0]), atol=1e-12)
    np.testing.assert_array_equal(only_ab[:, 2], base[:, 2])  # c does not follow b without b -> c
    with pytest.raises(ValueError, match="no mechanism"):
        hl.counterfactual(base, source, factor="a", hypothesis=Hypothesis("reversed", frozenset({("b", "a")})))
    assert [h.name for h in HighLevelModel(NAMES).hypotheses()] == [EMPTY]


def test_iia_scores_and_g_star_rules():
    strict_, graded = pair_scores(np.array([[0.0, 1.0], [0.0, 3.0]]), np.array([[0.0, 1.04], [0.0, 1.0]]),
                                  tolerance=np.array([0.05, 0.05]), variance=np.array([1.0, 4.0]))
    assert strict_.tolist() == [1.0, 0.0] and graded[1] == pytest.approx(1 - 0.5 * 4 / 4)
    with pytest.raises(ValueError, match="no usable read-out"):
        pair_scores(np.zeros((1, 2)), np.zeros((1, 2)), tolerance=np.ones(2), variance=np.ones(2),
                    usable=np.zeros(2, bool))
    hyps = HighLevelModel(NAMES, SCM).hypotheses()
    pooled = pd_rows({EMPTY: 1.0, "drop:a->b": 0.5, "drop:b->c": 0.995, FULL: 0.2})
    assert best_hypothesis(pooled, hyps) == "drop:b->c"       # within the slack of the best, more edges
    assert best_hypothesis(pooled, hyps, chance=0.99) is None   # nothing beats the controls
    undecided = pd_rows({EMPTY: 0.9, "drop:a->b": 0.9, "drop:b->c": 0.9, FULL: 0.9}).assign(distinguishing=0.0)
    assert best_hypothesis(undecided, hyps) is None  # no pair tells them apart: the tie supports no edge
    assert best_hypothesis(undecided.assign(distinguishing=0.1), hyps) == FULL


def test_swaps_without_a_read_out_of_their_own_are_reported_but_not_pooled():
    """b's read-out unusable: nothing checks that b moved, so a block that moves nothing (the base's own
    read-outs) passes b's swaps under ∅; the pooled row, on which G* is chosen, leaves them out."""
    hl = HighLevelModel(NAMES, SCM)
    targets = hl.targets(*TEST)
    usable = np.array([True, False, True])
    no_op = {k: targets[EMPTY]["a"] * 0 + TEST[0] for k in NAMES}  # every swap leaves the base as it is
    kw = dict(tolerance=SPEC.tolerance, variance=SPEC.variance, usable=usable, n_boot=50)
    everything = iia_table({EMPTY: no_op}, targets, **kw).set_index("factor")
    verifiable = iia_table({EMPTY: no_op}, targets, pooled=["a", "c"], **kw).set_index("factor")
    assert everything.loc["b", "strict"] == verifiable.loc["b", "strict"] == 1.0  # the unchecked swap "passes"
    assert verifiable.loc["all", "strict"] == pytest.approx((verifiable.loc["a", "strict"]
                                                             + verifiable.loc["c", "strict"]) / 2)
    assert verifiable.loc["all", "strict"] < everything.loc["all", "strict"]
    with pytest.raises(ValueError, match="pooled"):
        iia_table({EMPTY: no_op}, targets, pooled=["d"], **kw)
    delta = pd_frame([[1.0, 0.0, 0.0], [0.0, 1.0, 0.9], [0.0, 0.0, 1.0]])
    assert interchange_graph(delta, threshold=0.1, usable=usable).number_of_edges() == 0  # b -> c: b unverified
    assert set(interchange_graph(delta, threshold=0.1).edges) == {("b", "c")}
    reference = nx.DiGraph([("b", "c")])
    reference.add_node("a")
    assert graph_scores(interchange_graph(delta, threshold=0.1, usable=usable), reference, delta,
                        usable)["roc_auc"] == 0.5  # the true edge scores 0 like every untestable pair


@pytest.mark.parametrize("net, sites, expected",
                         [("plain", ["decoder.unmix"], EMPTY), ("chain", list(MECHANISMS), FULL)])
def test_g_star_claims_no_edge_that_no_verifiable_swap_tests(net, sites, expected):
    """b's read-out unusable: a -> b and b -> c can only be seen together, through c on a's swaps.  The
    single-edge deletions predict what ∅ predicts on every read-out left, so on a plain renderer they tie
    with ∅ at IIA 1, and the preference for more edges would claim an edge no swap tested."""
    spec = ReadoutSpec(NAMES, SPEC.tolerance, SPEC.variance, np.array([True, False, True]))
    network = plain_net() if net == "plain" else chain_net()
    train, test = interchangers(network, sites)
    result = search_alignments(train, test, HighLevelModel(NAMES, SCM), train_factors=TRAIN, test_factors=TEST,
                               readouts=spec, coordinate_sites=[LATENT, *sites], n_boot=100)
    assert result.g_star == {"coordinates": expected}
    pooled = result.table[(result.table.alignment == "coordinates") & (result.table.factor == "all")]
    assert set(pooled.hypothesis) == {EMPTY, "drop:a->b", "drop:b->c", FULL}  # every hypothesis is still reported
    if net == "plain":
        assert pooled.set_index("hypothesis").loc["drop:b->c", "strict"] == 1.0  # the tie the rule breaks


def test_g_star_is_none_when_every_hypothesis_of_an_alignment_class_was_untested():
    spec = ReadoutSpec(NAMES, SPEC.tolerance, SPEC.variance, np.array([True, False, True]))
    train, test = interchangers(plain_net(), [])
    result = search_alignments(train, test, HighLevelModel(NAMES, SCM), train_factors=TRAIN, test_factors=TEST,
                               readouts=spec, coordinate_sites=[LATENT], das_site=LATENT,
                               das_hypotheses=["drop:a->b"], das_steps=2, n_boot=20)  # it ties with ∅
    assert result.g_star == {"coordinates": EMPTY, "das": None}
    with pytest.raises(ValueError, match="same order"):
        search_alignments(train, test, HighLevelModel(NAMES, SCM), train_factors=TRAIN, test_factors=TEST,
                          readouts=ReadoutSpec(NAMES[::-1], SPEC.tolerance, SPEC.variance, spec.usable),
                          coordinate_sites=[LATENT])


def test_hypotheses_are_over_the_edges_a_used_read_out_can_see():
    """c's read-out unusable and c a sink: b -> c changes nothing any read-out sees, so the family is ∅ and
    {a -> b}, and the chain is aligned with {a -> b}, not with an unchecked DAG."""
    spec = ReadoutSpec(NAMES, SPEC.tolerance, SPEC.variance, np.array([True, True, False]))
    train, test = interchangers(chain_net(), list(MECHANISMS))
    hl = HighLevelModel(NAMES, SCM)
    result = search_alignments(train, test, hl, train_factors=TRAIN, test_factors=TEST, readouts=spec,
                               coordinate_sites=[LATENT, *MECHANISMS], n_boot=100)
    assert [(h.name, set(h.edges)) for h in result.hypotheses] == [(EMPTY, set()), (FULL, {("a", "b")})]
    assert result.g_star == {"coordinates": FULL}
    assert sorted(hl.dag.edges) == [("a", "b"), ("b", "c")]  # the caller's model is left as it was
    with pytest.raises(ValueError, match="not in the DAG"):
        hl.restricted([("c", "a")])


def test_equivalent_hypotheses_of_equal_size_are_not_claimed():
    """a -> b -> c and a -> d with b unread: dropping a -> b and dropping b -> c predict the same read-outs
    (c stays), so neither deletion may stand for the pair; the family keeps ∅, the DAG and drop a -> d."""
    scm = StructuralCausalModel({"a": Additive(), "b": Additive(("a",), Linear((2.0,)), 1.0),
                                 "c": Additive(("b",), Linear((1.0,)), 1.0),
                                 "d": Additive(("a",), Linear((1.0,)), 1.0)})
    hl, v = HighLevelModel(("a", "b", "c", "d"), scm), scm.sample(200, seed=0)
    usable, tolerance, pooled = np.array([True, False, True, True]), np.full(4, 0.1), ["a", "c", "d"]
    edges = checkable_edges(hl, v[:100], v[100:], pooled=pooled, tolerance=tolerance, usable=usable)
    assert edges == [("a", "b"), ("a", "d"), ("b", "c")]  # a -> b and b -> c are seen through c
    family = hl.restricted(edges).hypotheses()
    kept = distinguishable(family, hl.restricted(edges).targets(v[:100], v[100:]), pooled=pooled,
                           tolerance=tolerance, usable=usable)
    assert [h.name for h in kept] == [EMPTY, "drop:a->d", FULL]


def pd_frame(rows):
    import pandas as pd

    return pd.DataFrame(rows, index=list(NAMES), columns=list(NAMES))


def pd_rows(strict_by_h):
    import pandas as pd

    return pd.DataFrame([{"hypothesis": h, "factor": "all", "strict": s, "graded": s} for h, s in strict_by_h.items()])


# --- must-show: the positive control, the negative control, random init, DAS --------------------------

def test_a_decoder_computing_the_mechanisms_is_aligned_with_the_true_dag():
    result, test = run_search(chain_net(), list(MECHANISMS))
    assert result.g_star == {"coordinates": FULL}
    for k in (*NAMES, "all"):
        assert strict(result, "coordinates", FULL, k) == 1.0
    assert strict(result, "coordinates", "drop:b->c") < 0.8  # no site lets b follow a without c following b
    chosen = result.blocks["coordinates"][FULL]
    assert chosen["b"].site == "decoder.scm.b" and chosen["c"].site == "decoder.scm.c"
    graphs = interchange_graphs(test, chosen, readouts=SPEC, n_null=60)
    dag = HighLevelModel(NAMES, SCM).dag
    assert set(graphs.total.edges) == set(nx.transitive_closure_dag(dag).edges)   # a -> c through b
    assert set(graphs.direct.edges) == set(dag.edges)                            # b clamped: no a -> c
    scores = graph_scores(graphs.direct, dag, graphs.direct_effects)
    assert scores["shd"] == 0 and scores["f1"] == 1.0 and scores["roc_auc"] == 1.0


def test_a_plain_renderer_is_aligned_with_the_empty_graph():
    result, test = run_search(plain_net(), ["decoder.unmix"])
    assert result.g_star == {"coordinates": EMPTY}
    assert strict(result, "coordinates", EMPTY) == 1.0
    t = result.table.set_index(["alignment", "hypothesis", "factor"])
    for k in ("a", "b"):  # descendants should move under the DAG; a renderer leaves them at the base
        assert t.loc[("coordinates", FULL, k), "strict_distinguishing"] < 0.1
        assert t.loc[("coordinates", FULL, k), "strict"] < 0.7
    assert t.loc[("coordinates", FULL, "c"), "strict"] == 1.0   # a leaf: every hypothesis agrees
    assert 0.3 < t.loc[("coordinates", FULL, "all"), "distinguishing"] < 1
    graphs = interchange_graphs(test, result.blocks["coordinates"][EMPTY], readouts=SPEC, n_null=60)
    assert graphs.total.number_of_edges() == graphs.direct.number_of_edges() == 0


def test_a_randomly_initialised_network_stays_at_chance_under_every_hypothesis():
    """Chance = the strict IIA of the controls on the same network and pairs: predicting "nothing changes"
    (the base's own output) and swapping a random subspace of the same size."""
    result, _ = run_search(random_net(), ["decoder.fc1"], das_site=LATENT, das_hypotheses=[EMPTY, FULL],
                           das_steps=60, das_lr=0.05)
    t = result.table[result.table.factor == "all"]
    chance = t[t.alignment.isin(["random", "no-swap"])]["strict"].max()
    assert chance < 0.05
    assert (t[t.alignment.isin(["coordinates", "das"])]["strict"] <= chance + 0.05).all()
    assert result.g_star == {"coordinates": None, "das": None}


def test_das_recovers_a_rotated_subspace_where_coordinates_fail():
    rotation = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))[0]
    net = plain_net(rotation)
    train, test = interchangers(net, [])
    hl = HighLevelModel(NAMES, SCM)
    goal = hl.targets(*TRAIN)[EMPTY]
    das = train_das(train, site=LATENT, sizes=dict.fromkeys(NAMES, 1), targets=goal, variance=VARIANCE,
                    steps=300, lr=0.05, seed=0)
    targets = hl.targets(*TEST)
    coords = {k: coordinate_block(LATENT, [i], dim=WIDTH) for i, k in enumerate(NAMES)}
    table = iia_table({EMPTY: {k: test.run(das[k]) for k in NAMES}}, targets, n_boot=200, **SPEC.kwargs())
    assert table.set_index("factor").loc["all", "strict"] >= 0.95
    table = iia_table({EMPTY: {k: test.run(coords[k]) for k in NAMES}}, targets, n_boot=200, **SPEC.kwargs())
    assert table.set_index("factor").loc["all", "strict"] < 0.1
    for j, k in enumerate(NAMES):  # z = R v, so v_k = R[:, k] . z: factor k lives along column k of R
        assert abs(das[k].basis[:3, 0] @ rotation[:, j]) > 0.99


# --- the code's geometry decides the hypothesis an orthogonal interchange supports ------------------

LINEAR_CHAIN = StructuralCausalModel({"a": Additive(), "b": Additive(("a",), Linear((1.5,)), 0.5),
                                      "c": Additive(("b",), Linear((0.8,)), 0.5)})


def whitened_net(rotation):
    """A linear renderer of a decorrelated code: z = R L⁻¹ (v - mean) with Σ_v = L Lᵀ (Cholesky in the
    order a, b, c, so L⁻¹ (v - mean) are the standardised noises), decoded by the exact inverse."""
    v = LINEAR_CHAIN.sample(50_000, seed=98)
    mean = torch.as_tensor(v.mean(0), dtype=torch.float32)
    encode = torch.as_tensor(rotation @ np.linalg.inv(np.linalg.cholesky(np.cov(v.T))), dtype=torch.float32)
    decode = torch.linalg.inv(encode)
    decoder = nn.Sequential()
    decoder.add_module("render", Fn(lambda z: _render(z[:, :3] @ decode.T + mean)))
    return Net(Fn(lambda x: _pad((_factors(x) - mean) @ encode.T)), decoder)


def test_a_plain_linear_renderer_of_a_decorrelated_code_implements_the_dag_under_orthogonal_swaps():
    """No module computes a mechanism here, yet swapping the root a's subspace moves b and c as the SCM
    says: in a decorrelated code, the orthogonal complement of a's direction holds what is uncorrelated
    with a (b's and c's noises), not b and c.  A VAE's KL to N(0, I) pushes its code towards
    decorrelation, so G* = DAG on a plain VAE's causes is an answer about its code, not an error of the
    method.  The same renderer of the undecorrelated code (``plain_net``) is aligned with ∅
    (test_a_plain_renderer_is_aligned_with_the_empty_graph, test_das_recovers_a_rotated_subspace...)."""
    rotation = np.linalg.qr(np.random.default_rng(5).standard_normal((3, 3)))[0]
    variance = LINEAR_CHAIN.sample(20_000, seed=99).var(axis=0)
    spec = ReadoutSpec(NAMES, 0.05 * np.sqrt(variance), variance, np.ones(3, dtype=bool))
    pairs = [(LINEAR_CHAIN.sample(200, seed=s), LINEAR_CHAIN.sample(200, seed=s + 1)) for s in (11, 13)]
    train, test = [Interchanger(whitened_net(rotation), b @ M, s @ M, sites=[], readout=READOUT) for b, s in pairs]
    hl = HighLevelModel(NAMES, LINEAR_CHAIN)
    trained, held_out = hl.targets(*pairs[0]), hl.targets(*pairs[1])
    predicted = {}
    for h in (EMPTY, FULL):  # DAS for the cause a, trained for each hypothesis in turn
        das = train_das(train, site=LATENT, sizes={"a": 1}, targets={"a": trained[h]["a"]}, variance=variance,
                        steps=300, lr=0.05, seed=0)
        predicted[h] = {"a": test.run(das["a"])}
        if h == FULL:  # it found a's noise direction: z = R u, so u_a lives along column 0 of R
            assert abs(das["a"].basis[:3, 0] @ rotation[:, 0]) > 0.99
    table = iia_table(predicted, {h: {"a": held_out[h]["a"]} for h in (EMPTY, FULL)}, n_boot=200,
                      **spec.kwargs()).set_index(["hypothesis", "factor"])
    assert table.loc[(FULL, "a"), "strict"] >= 0.95
    assert table.loc[(EMPTY, "a"), "strict_distinguishing"] < 0.2  # no rotation keeps b fixed while a moves
    assert table.loc[(EMPTY, "a"), "distinguishing"] > 0.8
