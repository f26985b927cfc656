"""Circuits by interchange patching (issue #16): hand-wired networks whose circuits are known exactly."""

from collections import OrderedDict

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from causalvae.causal.circuits import (Curve, behaviour_rule, circuit_graph, circuit_table, random_circuits,
                                       random_rule, search, size_grid)
from causalvae.data.pairs import FactorPairs
from causalvae.interventions.circuit_discovery import find_circuit
from causalvae.interventions.circuit_patching import PairRunner, latent_behaviour, readout_behaviour

EPS32 = float(np.finfo(np.float32).eps)
WIDTH = 8  # units per hidden site: 2 route units and 6 active distractors
ACT_SCALE = 25.0  # the largest activation of the hand-wired networks (biases up to 10 on top of their inputs)
#: float32 rounding of activations of ACT_SCALE, relative to behaviours of order 0.1, with a margin of 64
TOL = 64 * EPS32 * ACT_SCALE / 0.1


def _block(n_in: int, n_out: int, weight: torch.Tensor, bias: torch.Tensor) -> nn.Sequential:
    block = nn.Sequential(OrderedDict(layer=nn.Linear(n_in, n_out), act=nn.ReLU()))
    with torch.no_grad():
        block.layer.weight.copy_(weight)
        block.layer.bias.copy_(bias)
    return block


def _distractors(weight: torch.Tensor, bias: torch.Tensor, first_input: int) -> None:
    """Units 2..7: active (bias 1..6) and driven by inputs that no factor pair changes."""
    for u in range(2, WIDTH):
        weight[u, first_input + u % 2] = 0.5 + 0.1 * u
        bias[u] = float(u - 1)


class Routes(nn.Module):
    """Factor a = input 0 reaches ``mu`` through route A (h1[0] -> h2[0], bias 10: high resting activation)
    and route B (h1[1] -> h2[1], bias 0.1); inputs 2 and 3 drive the distractors; input 1 (factor b)
    reaches nothing."""

    def __init__(self, share_b: float) -> None:
        super().__init__()
        w1, b1 = torch.zeros(WIDTH, 4), torch.zeros(WIDTH)
        w1[0, 0] = w1[1, 0] = 1.0
        b1[0], b1[1] = 10.0, 0.1
        _distractors(w1, b1, 2)
        w2, b2 = torch.eye(WIDTH), torch.ones(WIDTH)
        b2[0], b2[1] = 10.0, 0.1
        self.h1, self.h2 = _block(4, WIDTH, w1, b1), _block(WIDTH, WIDTH, w2, b2)
        self.mu = nn.Linear(WIDTH, 1)
        with torch.no_grad():
            self.mu.weight.copy_(torch.tensor([[1 - share_b, share_b, 0.5, -0.3, 0.2, 0.4, -0.1, 0.3]]))
            self.mu.bias.zero_()

    def forward(self, x):
        return self.mu(self.h2(self.h1(x)))


class PlantedDecoder(nn.Module):
    """Observations (a, n1, n2, n3) -> mu = (a, n1) -> d1 -> d2 -> output (4); factor a reaches output 0
    through d1[0] -> d2[0] (40 %) and d1[1] -> d2[1] (60 %); the distractors feed every output."""

    def __init__(self) -> None:
        super().__init__()
        self.mu = nn.Linear(4, 2)
        w1, b1 = torch.zeros(WIDTH, 2), torch.full((WIDTH,), 0.5)
        w1[0, 0] = w1[1, 0] = 1.0
        _distractors(w1, b1, 0)
        w1[2:, 0] = 0.0
        w1[2:, 1] = 0.7
        w2, b2 = torch.eye(WIDTH), torch.full((WIDTH,), 0.2)
        self.d1, self.d2 = _block(2, WIDTH, w1, b1), _block(WIDTH, WIDTH, w2, b2)
        self.out = nn.Linear(WIDTH, 4)
        with torch.no_grad():
            self.mu.weight.copy_(torch.eye(2, 4))
            self.mu.bias.zero_()
            w_out = torch.zeros(4, WIDTH)
            w_out[0, :4] = torch.tensor([0.4, 0.6, 0.3, -0.2])
            w_out[1:, 4:] = 0.25
            self.out.weight.copy_(w_out)
            self.out.bias.zero_()

    def forward(self, x):
        return self.out(self.d2(self.d1(self.mu(x))))


def pairs(factor: str = "a", *, n: int = 32, seed: int = 0) -> FactorPairs:
    """Pairs of observations (a, b, n1, n2) differing only in ``factor`` (uniform values in [0, 1])."""
    names = ("a", "b", "n1", "n2")
    rng = np.random.default_rng(seed)
    v = rng.uniform(0, 1, (n, 4)).astype(np.float32)
    vp = v.copy()
    vp[:, names.index(factor)] = rng.uniform(0, 1, n)
    return FactorPairs(factor, names, v, vp, v, vp, np.arange(n), "factors", seed)


@pytest.fixture(scope="module")
def conv_model():
    from causalvae.models import make_vae

    return make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=4, seed=0).eval()


@pytest.fixture(scope="module")
def sprite_pairs():
    from causalvae.data import factor_pairs, load

    return factor_pairs(load("causal-sprites", n=200, seed=0), "posX", n=12, seed=0)


def precision_recall(found: set, truth: set) -> tuple[float, float]:
    hit = len(found & truth)
    return hit / len(found), hit / len(truth)


ENCODER = dict(sites=["h1", "h2"], behaviour=latent_behaviour([0], site="mu"))


def test_route_carrying_91_percent_is_the_circuit_although_the_other_rests_higher():
    model = Routes(share_b=0.91)
    r = find_circuit(model, pairs(), **ENCODER)
    assert r.found and r.status == "found"
    assert precision_recall(set(r.units), {"h1[1]", "h2[1]"}) == (1.0, 1.0)
    truth = {("factor.a", "h1[1]"), ("h1[1]", "h2[1]"), ("h2[1]", "mu[0]")}
    assert precision_recall(set(r.graph.edges), truth) == (1.0, 1.0)
    assert [r.graph.edges[e]["intervention"] for e in sorted(truth)] == ["factor-pair", "attribution", "patch"]
    runner = PairRunner(model, pairs(), **ENCODER)  # on this linear path attribution equals the measured edge
    measured = runner.patched("h1", [1], read="h2", read_units=[1])[0, 0]
    assert r.graph.edges["h1[1]", "h2[1]"]["effect"] == pytest.approx(measured, abs=TOL) and measured > 0
    assert r.faithfulness >= 0.8 and r.faithfulness == pytest.approx(0.91, abs=TOL)
    assert r.m_empty == 0.0 and r.random_mean < 0.5 and r.graph.graph["status"] == "found"
    # the trap of resting-activation (zero-ablation) rankings: route A's |w| E|a| is the larger one
    h2 = model.h2(model.h1(torch.as_tensor(pairs().x))).detach()
    resting = (model.mu.weight[0].abs() * h2.abs().mean(0)).detach()
    assert resting[0] > 2 * resting[1]
    # every distractor is active, yet carries nothing
    assert bool((h2[:, 2:] > 0).all()) and np.allclose(r.scores.set_index("unit").loc[["h2[4]", "h1[5]"], "score"], 0)
    # the network is linear on the data: the attribution screen equals the exact scores
    np.testing.assert_allclose(r.scores["screen"], r.scores["score"], atol=TOL)


def test_two_routes_of_half_the_effect_each_are_both_kept():
    r = find_circuit(Routes(share_b=0.5), pairs(), **ENCODER)
    assert r.found and set(r.units) == {"h1[0]", "h1[1]", "h2[0]", "h2[1]"}
    assert r.faithfulness == pytest.approx(1.0, abs=TOL)
    smaller = r.curve.faithfulness[r.curve.sizes < 4]  # fewer units keep at most one whole route
    assert smaller.max() == pytest.approx(0.5, abs=TOL)


def test_planted_decoder_circuit_is_exactly_the_planted_units():
    r = find_circuit(PlantedDecoder(), pairs(), sites=["d1", "d2"], sources=["mu[0]"],
                     behaviour=readout_behaviour(lambda images: images[:, 0]))
    assert r.found and r.part == "decoder"
    assert set(r.units) == {"d1[0]", "d1[1]", "d2[0]", "d2[1]"}
    truth = {("mu[0]", "d1[0]"), ("mu[0]", "d1[1]"), ("d1[0]", "d2[0]"), ("d1[1]", "d2[1]"),
             ("d2[0]", "readout.a"), ("d2[1]", "readout.a")}
    assert set(r.graph.edges) == truth
    assert r.graph.edges["d2[1]", "readout.a"]["effect"] == pytest.approx(0.6 * r.m_all, abs=TOL)
    assert r.faithfulness == pytest.approx(1.0, abs=TOL)


def test_absent_factor_and_weak_readout_give_no_circuit_with_the_reason():
    r = find_circuit(Routes(share_b=0.91), pairs("b"), **ENCODER)
    assert not r.found and r.units == () and "below the minimal effect" in r.status
    assert set(r.graph.nodes) == {"factor.b", "mu[0]"} and r.graph.number_of_edges() == 0
    weak = find_circuit(PlantedDecoder(), pairs(), sites=["d1", "d2"], behaviour=readout_behaviour(
        lambda images: images[:, 0]), readout_score=0.002, min_readout_score=0.1)
    assert weak.status == "not found (read-out too weak: held-out score 0.002 < 0.1)"


class Uniform(nn.Module):
    """Every hidden unit carries the same share of factor a: a circuit is no better than any same-size set."""

    def __init__(self) -> None:
        super().__init__()
        self.h = _block(4, WIDTH, torch.cat([torch.ones(WIDTH, 1), torch.zeros(WIDTH, 3)], 1), torch.ones(WIDTH))
        self.mu = nn.Linear(WIDTH, 1)
        with torch.no_grad():
            self.mu.weight.fill_(1.0 / WIDTH)

    def forward(self, x):
        return self.mu(self.h(x))


def test_evenly_spread_effect_is_indistinguishable_from_random_circuits():
    """The rule: a circuit counts only when no more than alpha of the same-size random circuits reach its f."""
    r = find_circuit(Uniform(), pairs(), sites=["h"], behaviour=latent_behaviour([0], site="mu"))
    assert not r.found and r.status.startswith("not found (indistinguishable from random circuits")
    assert r.size == 7 and np.allclose(r.random, r.faithfulness, atol=TOL)


def test_fixed_reference_gives_zero_empty_behaviour_on_a_conv_vae(conv_model, sprite_pairs):
    from causalvae.interventions import ablate_outside

    sites = [s.name for s in conv_model.sites if s.stage == "encoder"]
    runner = PairRunner(conv_model, sprite_pairs, sites=sites, behaviour=latent_behaviour([0, 1]),
                        reference=sprite_pairs.x[:8])
    every = frozenset(u for s in sites for u in runner.units_by_site[s])
    some = frozenset(list(every)[::3])
    m_empty, m_some, m_all = runner.measure([frozenset(), some, every])
    scale = float(np.abs(runner.effects).max())
    assert abs(m_empty) <= EPS32 * scale  # ablating every unit of the cut leaves nothing: m(∅) = 0
    assert m_all == pytest.approx(runner.effects.mean(), abs=8 * EPS32 * scale)  # f(all) = 1
    # the hook loop with the same reference agrees; means taken over x and x' separately do not vanish
    hook = [ablate_outside(conv_model, x, set(some), sites=sites, outcome="latent.mu", reference=sprite_pairs.x[:8])
            for x in (runner.x, runner.xp)]
    assert ((hook[1] - hook[0])[:, :2] @ runner.signs).mean() == pytest.approx(m_some, abs=8 * EPS32 * scale)
    split = [ablate_outside(conv_model, x, set(), sites=sites, outcome="latent.mu") for x in (runner.x, runner.xp)]
    assert abs(((split[1] - split[0])[:, :2] @ runner.signs).mean()) > 1e3 * EPS32 * scale


def test_random_network_decoder_carries_no_readout_change(conv_model, sprite_pairs):
    """A randomly initialised decoder changes the read-out by round-off only: below the minimal effect."""
    sites = [s.name for s in conv_model.sites if s.stage == "decoder" and s.name != conv_model.output_site]
    w = np.random.default_rng(0).normal(size=(64 * 64,))
    r = find_circuit(conv_model, sprite_pairs, sites=sites, sources=["latent.mu[0]"], behaviour=readout_behaviour(
        lambda images: images.reshape(len(images), -1) @ w, transform=torch.sigmoid))
    assert not r.found and "below the minimal effect" in r.reason


def test_search_keeps_faithfulness_above_one_and_prunes_backwards():
    carried = {"a": 0.6, "b": 0.5, "c": -0.3, "d": 0.2}

    def evaluate(sets):
        return np.array([sum(carried[u] for u in s) for s in sets])

    s = search(["a", "b", "c", "d"], evaluate=evaluate, target=0.8, prune=False)
    assert s.units == ("a", "b") and s.faithfulness == pytest.approx(1.1 / 1.0)  # > 1: "c" suppresses
    assert s.curve.sizes.tolist() == [0, 1, 2, 3, 4] and s.curve.faithfulness[-1] == pytest.approx(1.0)
    pruned = search(["d", "c", "a", "b"], evaluate=evaluate, target=0.8, prune=True)
    assert pruned.prefix_size == 4 and pruned.units == ("a", "b") and pruned.faithfulness == pytest.approx(1.1)
    with pytest.raises(ValueError, match="target faithfulness"):
        search(["a"], evaluate=evaluate, target=1.5)
    with pytest.raises(ValueError, match="undefined"):
        search(["a"], evaluate=lambda sets: np.zeros(len(sets)))


def test_curve_areas_grid_random_sets_and_rules():
    c = Curve(np.array([0, 5, 10]), np.array([0.0, 1.2, 1.0]), 10)
    assert c.cpr == pytest.approx(0.5 * (0 + 1.2) / 2 + 0.5 * (1.2 + 1.0) / 2)  # trapezoid over k / n
    assert c.cmd == pytest.approx(0.5 * (1 + 0.2) / 2 + 0.5 * (0.2 + 0) / 2)
    assert size_grid(1).tolist() == [0, 1] and size_grid(1000, points=4).tolist() == [0, 1, 10, 100, 1000]
    sets = random_circuits({"h": ["h[0]", "h[1]", "h[2]"], "g": ["g[0]", "g[1]"]}, ["h[0]", "h[2]", "g[1]"], n=25)
    assert all(sum(u.startswith("h") for u in s) == 2 and len(s) == 3 for s in sets) and len(set(sets)) > 1
    with pytest.raises(ValueError, match="not units of the sites"):
        random_circuits({"h": ["h[0]"]}, ["x[0]"])
    assert random_rule(0.9, np.zeros(20)) == "" and random_rule(0.9, np.r_[np.zeros(19), 0.95]) != ""
    reason, p = behaviour_rule(np.array([0.5, 0.6, 0.55, 0.45]), spread=1.0)
    assert reason == "" and p < 0.05
    assert "does not vary" in behaviour_rule(np.ones(4), spread=0.0)[0]
    with pytest.raises(ValueError, match="together"):
        behaviour_rule(np.ones(4), spread=1.0, readout_score=0.5)


def test_circuit_graph_table_and_exports(tmp_path):
    from causalvae.graph import read_graphml, to_dot, write_graphml

    model = Routes(share_b=0.5)
    found = [find_circuit(model, pairs(), **ENCODER), find_circuit(model, pairs("b"), **ENCODER)]
    table = circuit_table(found).set_index("factor")
    assert table.loc["a", "status"] == "found" and table.loc["b", "status"] == "not found"
    assert table.loc["a", "size"] == 4 and np.isnan(table.loc["a", "overlap"])  # no other found circuit
    back = read_graphml(write_graphml(found[0].graph, tmp_path / "circuit.graphml"))
    assert back.graph["kind"] == "circuit" and set(back.edges) == set(found[0].graph.edges)
    assert back.nodes["h2[1]"]["layer"] == 2 and back.nodes["factor.a"]["role"] == "factor"
    assert to_dot(found[0].graph).startswith('digraph "circuit"')
    with pytest.raises(ValueError, match="outside the circuit layers"):
        circuit_graph([["factor.a"]], {("factor.a", "h[0]"): (1.0, "patch")})
    with pytest.raises(ValueError, match="max_in_edges"):
        circuit_graph([["factor.a"]], {}, max_in_edges=0)
    assert isinstance(circuit_graph([["factor.a"], ["h[0]"]], {}), nx.DiGraph)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="does not feed the behaviour"):
        PairRunner(Routes(0.5), pairs(), sites=["mu"], behaviour=latent_behaviour([0], site="h2"))
    with pytest.raises(ValueError, match="latents must be"):
        latent_behaviour([])
    with pytest.raises(ValueError, match="read-out must map"):
        find_circuit(PlantedDecoder(), pairs(), sites=["d1"], behaviour=readout_behaviour(lambda images: images))
    with pytest.raises(TypeError, match="callable"):
        readout_behaviour("posX")


@pytest.mark.parametrize("module", ["causalvae.causal.circuits", "causalvae.interventions.circuit_patching",
                                    "causalvae.interventions.circuit_discovery", "causalvae.pipeline.circuit_stages"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


class Parallel(nn.Module):
    """Two sites computed side by side from the input: ``q`` does not depend on ``p`` (as an SCM
    mechanism run earlier in a learned order does not depend on a later one)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.p, self.q, self.mu = nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 1)

    def forward(self, x):
        return self.mu(torch.cat([self.p(x), self.q(x)], dim=1))


def test_a_read_site_that_does_not_depend_on_the_patched_site_gets_zero_effects_not_a_crash():
    runner = PairRunner(Parallel(), pairs(), sites=["p", "q"], behaviour=latent_behaviour([0], site="mu"))
    assert np.array_equal(runner.attributed("p", [0, 1], read="q", read_units=[0, 1]), np.zeros((2, 2)))
    assert np.array_equal(runner.patched("p", [0, 1], read="q", read_units=[0, 1]), np.zeros((2, 2)))
    assert np.abs(runner.patched("p", [0, 1])).max() > 0  # while p does move the behaviour
