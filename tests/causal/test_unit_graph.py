"""The unit graph's edge test on hand-wired networks with adversarial known answers.

Complete nulls repeated 200 times (error rate), float32 round-off and read-out leakage (no edge),
a planted decoder with unequal resting activations (exactly the planted edges), and a silent unit.
"""

from collections import OrderedDict

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from causalvae.causal import block_density, causal_unit_graph, classify_units
from causalvae.causal.stats import benjamini_hochberg
from causalvae.data.dataset import FactorDataset
from causalvae.effects import EffectMatrix
from causalvae.interventions import Readout, ablation_effects, factor_effects, patching_effects

REPLICATES = 4
ALPHA = 0.05


def _mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(lin=nn.Linear(4, 6), act=nn.Tanh(), out=nn.Linear(6, 3)))


def _null_matrix(net: nn.Module, rng: np.random.Generator) -> EffectMatrix:
    """Interchange patching of every hidden unit from an *independent* source batch, signed mean over
    each of 4 batches: E[Y(x; u <- u(x')) - Y(x)] = 0 exactly for x, x' i.i.d., whatever the weights."""
    reps = []
    for _ in range(REPLICATES):
        x, x_src = (torch.as_tensor(rng.normal(size=(16, 4)), dtype=torch.float32) for _ in range(2))
        reps.append(patching_effects(net, x, x_src, sites=["act"], targets=["out"], statistic="mean"))
    return EffectMatrix.average(reps)


def test_complete_null_controls_the_family_wise_and_per_edge_error_over_200_repetitions():
    net, rng = _mlp(0), np.random.default_rng(0)
    stages = {"act": "encoder", "out": "encoder"}
    runs = 200
    any_false, per_edge, normal_any = np.zeros(runs, bool), [], np.zeros(runs, bool)
    for r in range(runs):
        m = _null_matrix(net, rng)
        G = causal_unit_graph([m], stages=stages, spread={t: 1.0 for t in m.targets}, min_effect=0.0, alpha=ALPHA)
        any_false[r] = G.number_of_edges() > 0
        per_edge.append(G.number_of_edges() / m.values.size)
        # the rule this replaces: a normal z-test on 4 batch means ignores the t(3) tails
        from scipy import stats
        z_p = 2 * stats.norm.sf(np.abs(m.values) / m.stderr)
        normal_any[r] = (benjamini_hochberg(z_p.ravel()) <= ALPHA).any()
    mc = 3 * np.sqrt(ALPHA * (1 - ALPHA) / runs)
    assert any_false.mean() <= ALPHA + mc, any_false.mean()
    assert np.mean(per_edge) <= ALPHA + mc
    assert normal_any.mean() > ALPHA + mc  # the setting is hard enough to expose an invalid test


def test_complete_null_with_holm_is_family_wise_valid():
    net, rng = _mlp(1), np.random.default_rng(1)
    false = [causal_unit_graph([m := _null_matrix(net, rng)], stages={"act": "encoder", "out": "encoder"},
                               spread={t: 1.0 for t in m.targets}, min_effect=0.0, error="fwer").number_of_edges() > 0
             for _ in range(200)]
    assert np.mean(false) <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / 200)


class RoundOff(nn.Module):
    """t = (h0 w1 + h0 w2) - h0 (w1 + w2) + h1: unit h0 reaches t only through float32 round-off."""

    def __init__(self) -> None:
        super().__init__()
        self.h = nn.Linear(2, 2)
        self.split = nn.Linear(1, 2, bias=False)
        self.joint = nn.Linear(1, 1, bias=False)
        self.t = nn.Identity()
        with torch.no_grad():
            self.h.weight.copy_(torch.eye(2)); self.h.bias.zero_()
            self.split.weight.copy_(torch.tensor([[0.1], [0.7]]))
            self.joint.weight.copy_(torch.tensor([[0.8]]))

    def forward(self, x):
        h = self.h(x)
        return self.t(self.split(h[:, :1]).sum(1, keepdim=True) - self.joint(h[:, :1]) + h[:, 1:])


def test_float32_round_off_never_becomes_an_edge():
    net, rng = RoundOff(), np.random.default_rng(2)
    reps = [ablation_effects(net, torch.as_tensor(rng.normal(size=(32, 2)) * [1e3, 1.0], dtype=torch.float32),
                             sites=["h"], targets=["t"], kind="mean") for _ in range(REPLICATES)]
    m = EffectMatrix.average(reps)
    assert 0 < m.value("h[0]", "t[0]") < 1e-3  # a real, round-off-sized change
    G = causal_unit_graph([m], stages={"h": "encoder", "t": "encoder"}, spread={"t[0]": 1.0})
    assert set(G.edges) == {("h[1]", "t[0]")}


class PlantedDecoder(nn.Module):
    """mu (2 latents) -> h (5 decoder units) -> out (2 pixels).

    h0 = relu(z0) (small resting activation), h1 = relu(2 z0 + 5) (large resting activation, the same
    signal), h2 = relu(z1), h3 = relu(0 z + 9) (constant: resting activation 9, carries nothing),
    h4 = relu(z0 - 100) (never fires).  out0 = h0 + 0.5 (h1 - 5) + h3, out1 = h2 + h3 + h4.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mu = nn.Identity()
        self.lin = nn.Linear(2, 5)
        self.h = nn.ReLU()
        self.out = nn.Linear(5, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[1.0, 0], [2, 0], [0, 1], [0, 0], [1, 0]]))
            self.lin.bias.copy_(torch.tensor([0.0, 5, 0, 9, -100]))
            self.out.weight.copy_(torch.tensor([[1.0, 0.5, 0, 1, 0], [0, 0, 1, 1, 1]]))
            self.out.bias.copy_(torch.tensor([-2.5, 0.0]))

    def forward(self, z):
        return self.out(self.h(self.lin(self.mu(z))))


READOUT = Readout(lambda out: out, ("a", "b"))
STAGES = {"mu": "latent", "h": "decoder"}


def _decoder_matrices(net: nn.Module, rng: np.random.Generator, readout: Readout = READOUT) -> list[EffectMatrix]:
    batches = [torch.as_tensor(np.abs(rng.normal(size=(32, 2))), dtype=torch.float32) for _ in range(REPLICATES)]
    latent_unit = EffectMatrix.average([ablation_effects(net, z, sites=["mu"], targets=["h"], kind="mean")
                                        for z in batches])
    unit_readout = EffectMatrix.average([ablation_effects(net, z, sites=["h"], targets=[], kind="mean",
                                                          readout=readout) for z in batches])
    return [latent_unit, unit_readout]


def test_planted_decoder_gives_exactly_the_planted_latent_unit_readout_edges():
    net = PlantedDecoder()
    matrices = _decoder_matrices(net, np.random.default_rng(3))
    spread = {**{f"h[{u}]": s for u, s in enumerate([0.6, 1.2, 0.6, 0.0, 0.0])}, "readout.a": 1.0, "readout.b": 1.0}
    G = causal_unit_graph(matrices, stages=STAGES, spread=spread)
    assert set(G.edges) == {("mu[0]", "h[0]"), ("mu[0]", "h[1]"), ("mu[1]", "h[2]"),
                            ("h[0]", "readout.a"), ("h[1]", "readout.a"), ("h[2]", "readout.b")}
    assert G.graph["n_untestable"] == 4  # h3 and h4 never vary: no edge can enter them
    assert G.nodes["h[1]"]["role"] == "hidden" and G.nodes["h[1]"]["stage"] == "decoder"
    for u, v, d in G.edges(data=True):
        assert d["ci_low"] > 0 and d["q_value"] <= ALPHA and d["effect_sd"] > 0.1
    density = block_density(G, matrices).set_index(["source_site", "target_site"])["density"]
    assert density[("mu", "h")] == pytest.approx(3 / 10) and density[("h", "readout")] == pytest.approx(3 / 10)


def test_a_read_out_that_leaks_by_1e_10_sd_gets_no_edge():
    net = PlantedDecoder()
    def leak(out):  # in float64, so that the 1e-10 leak survives
        o = out.double()
        return torch.stack([o[:, 0], o[:, 1] + 1e-10 * o[:, 0]], 1)

    leaky = Readout(leak, ("a", "b"))
    matrices = _decoder_matrices(net, np.random.default_rng(4), leaky)
    assert 0 < matrices[1].value("h[0]", "factor.b") < 1e-8
    spread = {**{f"h[{u}]": 1.0 for u in range(5)}, "readout.a": 1.0, "readout.b": 1.0}
    G = causal_unit_graph(matrices, stages=STAGES, spread=spread)
    assert not any(v == "readout.b" and u in ("h[0]", "h[1]") for u, v in G.edges)


def test_a_unit_that_never_fires_on_the_data_is_not_monosemantic():
    a, b = np.meshgrid(np.arange(4.0), np.arange(3.0), indexing="ij")
    factors = np.stack([a.ravel(), b.ravel()], 1)
    ds = FactorDataset("grid", factors.astype(np.float32), factors, ("a", "b"), ("discrete", "discrete"),
                       nx.empty_graph(["a", "b"], create_using=nx.DiGraph),
                       factor_values=(np.arange(4.0), np.arange(3.0)))
    net = nn.Sequential(OrderedDict(lin=nn.Linear(2, 3), act=nn.ReLU()))
    with torch.no_grad():  # unit 0 = a, unit 1 = b, unit 2 = relu(1e-4 (a - 2.9999)): fires on a = 3 by 1e-8
        net.lin.weight.copy_(torch.tensor([[1.0, 0], [0, 1], [1e-4, 0]]))
        net.lin.bias.copy_(torch.tensor([0.0, 0, -2.9999e-4]))
    replicates = [factor_effects(net, ds, sites=["act"], n_pairs=12, seed=s) for s in range(4)]
    assert all(r.meta["silent"] == ["act[2]"] for r in replicates)
    classes = classify_units(EffectMatrix.average(replicates)).set_index("unit")
    assert classes.loc["act[0]", "class"] == "monosemantic" and classes.loc["act[0]", "factor"] == "a"
    assert classes.loc["act[2]", "class"] == "silent" and classes.loc["act[2]", "factor"] == ""


def test_only_the_measured_blocks_of_an_edge_matrix_are_tested():
    net, rng = PlantedDecoder(), np.random.default_rng(5)
    m = EffectMatrix.average([ablation_effects(net, torch.as_tensor(np.abs(rng.normal(size=(32, 2))),
                                                                    dtype=torch.float32), sites=["mu"], targets=["h"],
                                               kind="mean") for _ in range(REPLICATES)])
    from causalvae.interventions import edge_effects
    chain = EffectMatrix.average([edge_effects(net, torch.as_tensor(np.abs(rng.normal(size=(32, 2))),
                                                                     dtype=torch.float32), sites=["mu", "h", "out"],
                                               kind="mean") for _ in range(REPLICATES)])
    spread = {**{f"h[{u}]": 1.0 for u in range(5)}, "out[0]": 1.0, "out[1]": 1.0}
    G = causal_unit_graph([chain], stages={**STAGES, "out": "output"}, spread=spread)
    assert G.graph["n_tested"] == 2 * 5 + 5 * 2  # mu -> h and h -> out, not mu -> out
    blocks = block_density(G, [chain]).set_index(["source_site", "target_site"])
    assert set(blocks.index) == {("mu", "h"), ("h", "out")}
    assert {(u, v) for u, v in G.edges if u.startswith("mu")} == {(u, v) for u, v in causal_unit_graph(
        [m], stages=STAGES, spread=spread).edges}
