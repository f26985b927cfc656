"""Interchange graphs and their null on hand-wired networks with known answers.

The chain ``a -> b -> c`` of ``test_abstraction`` is computed from its exogenous noises by mechanism
modules ``decoder.scm.{a,b,c}``, as an SCM-layer VAE does; here the latent is *narrow*: the three noises
and one nuisance latent ``n`` that the renderer adds to c's rendering with weight ``w`` (a free latent
the decoder renders from).  The factors are aligned at their mechanism sites, so their noises still live
in the latent, outside every aligned latent block: an unclamped random latent swap moves the factors.
"""

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from causalvae.causal.abstraction import HighLevelModel
from causalvae.interventions.alignment_search import ReadoutSpec, interchange_graphs, remainder_swaps
from causalvae.interventions.interchange import LATENT, Block, Interchanger, coordinate_block, random_blocks
from tests.causal.test_abstraction import MECHANISMS, NAMES, READOUT, SCM, SPEC, TEST, M, Fn, Net, _factors, _set

DAG = HighLevelModel(NAMES, SCM).dag
RENDER = torch.as_tensor(M, dtype=torch.float32)


def narrow_chain(w=0.0, direct_ac=0.0):
    """Latent (u_a, u_b, u_c, n); c = 2 tanh(b) + direct_ac * a + 0.5 u_c; c's rendering gets + w n."""
    def abduct(x):
        a, b, c = _factors(x).unbind(1)
        u_c = (c - 2 * torch.tanh(b) - direct_ac * a) / 0.5
        return torch.stack([a, (b - 1.5 * a) / 0.5, u_c, torch.sin(3 * a) + torch.cos(2 * b)], 1)

    scm = nn.Sequential()
    scm.add_module("a", Fn(lambda h: h))
    scm.add_module("b", Fn(lambda h: _set(h, 1, 1.5 * h[:, 0] + 0.5 * h[:, 1])))
    scm.add_module("c", Fn(lambda h: _set(h, 2, 2 * torch.tanh(h[:, 1]) + direct_ac * h[:, 0] + 0.5 * h[:, 2])))
    decoder = nn.Sequential()
    decoder.add_module("scm", scm)
    decoder.add_module("render", Fn(lambda h: (h[:, :3] + w * h[:, 3:4] * torch.tensor([0.0, 0.0, 1.0])) @ RENDER))
    return Net(Fn(abduct), decoder)


def mechanism_blocks():
    """Every factor at its mechanism site (the root a too: its mechanism is the identity)."""
    return {k: coordinate_block(MECHANISMS[j], [j], dim=4) for j, k in enumerate(NAMES)}


def graphs_of(net, blocks=None, **kw):
    ic = Interchanger(net, TEST[0] @ M, TEST[1] @ M, sites=list(MECHANISMS), readout=READOUT)
    return interchange_graphs(ic, blocks or mechanism_blocks(), readouts=SPEC, n_null=30, **kw), ic


def test_noises_of_factors_aligned_at_mechanism_sites_do_not_enter_the_null():
    graphs, ic = graphs_of(narrow_chain())
    assert graphs.threshold < 1e-5  # nothing unaligned moves a read-out: round-off of float32 read-outs
    assert set(graphs.direct.edges) == set(DAG.edges)                                # b clamped: no a -> c
    assert set(graphs.total.edges) == set(nx.transitive_closure_dag(DAG).edges)
    # Why the clamp matters: unclamped random latent swaps move a's noise, i.e. a itself, and with it b and
    # c; the threshold they give reaches the size of the real edges (on Pendulum's SCM-layer VAE it was
    # above them), so the DAG's edges would hang on the draw of the null.
    unclamped = [ic.run(r) for r in random_blocks(LATENT, 1, dim=4, n=30, seed=0)]
    scale = np.sqrt(SPEC.variance)
    maxima = [(np.abs(s - ic.base_readout).mean(0) / scale).max() for s in unclamped]
    assert np.quantile(maxima, 0.95) > 0.8 * min(graphs.direct_effects.loc[k, j] for k, j in DAG.edges)


def test_the_threshold_is_what_the_unaligned_remainder_moves():
    """Read-out c is linear in the nuisance, and the null clamps every factor: the threshold scales with w."""
    small, _ = graphs_of(narrow_chain(w=0.25))
    large, _ = graphs_of(narrow_chain(w=0.5))
    assert small.threshold > 0.05
    assert large.threshold == pytest.approx(2 * small.threshold, rel=1e-4)
    # the true direct effects are untouched by the nuisance (it is never swapped in them) ...
    np.testing.assert_allclose(large.direct_effects.to_numpy(), small.direct_effects.to_numpy(), rtol=1e-5, atol=1e-6)
    # ... and only an edge stronger than what the remainder does is claimed
    for g in (small, large):
        expected = {(k, j) for k, j in DAG.edges if g.direct_effects.loc[k, j] > g.threshold}
        assert set(g.direct.edges) == expected
    assert set(small.direct.edges) == set(DAG.edges)


def test_a_direct_edge_beside_the_mediated_route_is_found_and_its_absence_is_not_invented():
    """Unequal routes: a -> c directly (weight 0.6) beside a -> b -> c; the direct graph holds a -> c only when
    the mechanism has it."""
    with_edge, _ = graphs_of(narrow_chain(w=0.1, direct_ac=0.6))
    without, _ = graphs_of(narrow_chain(w=0.1))
    assert set(with_edge.direct.edges) == {*DAG.edges, ("a", "c")}
    assert set(without.direct.edges) == set(DAG.edges)
    assert without.direct_effects.loc["a", "c"] < 1e-5 < 0.1 < with_edge.direct_effects.loc["a", "c"]


def test_a_block_shared_with_the_effect_is_not_clamped_in_its_direct_run():
    """Two factors aligned with one block (a degenerate alignment): clamping b's block would clamp c too, so
    the direct run of a -> c leaves it free and measures the total effect."""
    blocks = {**mechanism_blocks(), "c": coordinate_block(MECHANISMS[1], [1], dim=4)}
    graphs, _ = graphs_of(narrow_chain(), blocks)
    assert graphs.direct_effects.loc["a", "c"] == pytest.approx(graphs.total_effects.loc["a", "c"], rel=1e-6)
    assert graphs.direct_effects.loc["a", "c"] > 0.5


def test_a_block_without_a_usable_read_out_is_not_clamped_and_the_graph_is_over_the_verified_factors():
    """b's read-out unusable: its block is unverified, so b is not part of the alignment.  The direct run of
    a -> c leaves it free, so the direct graph is the DAG's projection on the verified factors (a -> c),
    and no edge leaves or enters b.  The null clamps a and c, so b's noise moves no usable read-out."""
    spec = ReadoutSpec(NAMES, SPEC.tolerance, SPEC.variance, np.array([True, False, True]))
    ic = Interchanger(narrow_chain(), TEST[0] @ M, TEST[1] @ M, sites=list(MECHANISMS), readout=READOUT)
    graphs = interchange_graphs(ic, mechanism_blocks(), readouts=spec, n_null=30)
    assert graphs.direct_effects.loc["a", "c"] == pytest.approx(graphs.total_effects.loc["a", "c"], rel=1e-6)
    assert graphs.threshold < 1e-5
    assert set(graphs.direct.edges) == set(graphs.total.edges) == {("a", "c")}


def test_complete_nulls_never_get_an_edge():
    """200 renderers of independent factors (no mechanism) with a nuisance latent of random weight rendered
    into a random factor, round-off-sized cross-talk (1e-7 v_k into every other factor's rendering), random
    factor scales, random block sites and random pairs: the total and direct graphs stay empty."""
    rng = np.random.default_rng(2026)
    edges = 0
    for rep in range(200):
        sd = rng.uniform(0.2, 3.0, 3)
        w, into = rng.uniform(0, 2) * (rep % 4 != 0), int(rng.integers(3))
        nuisance = torch.zeros(3)
        nuisance[into] = w
        cross = torch.full((3, 3), 1e-7) + torch.eye(3) * (1 - 1e-7)

        def abduct(x, sd=torch.as_tensor(sd, dtype=torch.float32)):
            v = _factors(x)
            return torch.cat([v / sd, torch.tanh(v[:, :1] * v[:, 1:2])], 1)

        scm = nn.Sequential()
        for j, name in enumerate(NAMES):
            scm.add_module(name, Fn(lambda h, j=j, s=float(sd[j]): _set(h, j, s * h[:, j])))
        decoder = nn.Sequential()
        decoder.add_module("scm", scm)
        decoder.add_module("render", Fn(lambda h, n=nuisance, c=cross: (h[:, :3] @ c + h[:, 3:4] * n) @ RENDER))
        v = rng.standard_normal((2, 64, 3)) * sd
        spec = ReadoutSpec(NAMES, 0.05 * sd, sd ** 2, np.ones(3, dtype=bool))
        ic = Interchanger(Net(Fn(abduct), decoder), v[0] @ M, v[1] @ M, sites=list(MECHANISMS), readout=READOUT)
        blocks = {k: coordinate_block(MECHANISMS[j] if rng.random() < 0.5 else LATENT, [j], dim=4)
                  for j, k in enumerate(NAMES)}
        g = interchange_graphs(ic, blocks, readouts=spec, n_null=12, seed=rep)
        edges += g.total.number_of_edges() + g.direct.number_of_edges()
        assert np.allclose(np.diag(g.total_effects.to_numpy()), np.abs(v[1] - v[0]).mean(0) / sd, rtol=1e-4)
    assert edges == 0


def test_remainder_swaps_need_room_in_the_latent():
    ic = Interchanger(narrow_chain(w=1.0), TEST[0] @ M, TEST[1] @ M, sites=[], readout=READOUT)
    everything = {k: coordinate_block(LATENT, [i], dim=4) for i, k in enumerate((*NAMES, "nuisance"))}
    assert remainder_swaps(ic, everything, n=10) == []
    assert len(remainder_swaps(ic, {"a": everything["a"]}, n=10)) == 10
    graphs = interchange_graphs(ic, {k: everything[k] for k in NAMES}, readouts=SPEC, n_null=6)
    assert graphs.threshold > 0.1  # the nuisance is the whole remainder, and it moves c


def test_a_block_chosen_for_several_factors_is_avoided_once():
    """Coordinate selection can give several factors one block: the null's random swaps then have the other
    3 directions of the 4-wide latent, not 4 - (number of factors) of them."""
    ic = Interchanger(narrow_chain(w=1.0), TEST[0] @ M, TEST[1] @ M, sites=[], readout=READOUT)
    shared = {k: coordinate_block(LATENT, [1], dim=4) for k in (*NAMES, "nuisance")}
    swaps = remainder_swaps(ic, shared, n=8)
    assert len(swaps) == 8  # counted once per factor, the block left no room at all
    assert max(np.abs(s - ic.base_readout).max() for s in swaps) > 0.01


def test_graphs_refuse_an_empty_null():
    ic = Interchanger(narrow_chain(), TEST[0] @ M, TEST[1] @ M, sites=list(MECHANISMS), readout=READOUT)
    with pytest.raises(ValueError, match="n_null"):
        interchange_graphs(ic, mechanism_blocks(), readouts=SPEC, n_null=0)


def test_complete_nulls_with_an_impure_block_get_no_edge_and_need_the_null_for_it(monkeypatch):
    """200 renderers of independent factors whose nuisance latent n is rendered into c; a's block leans
    5-15 degrees into n (a mis-aligned block), so swapping it moves c by more than ``min_effect``.  The
    remainder (the one latent direction orthogonal to the blocks, mostly n) moves c by more, so no edge is
    claimed; with the null switched off the same cases do claim a -> c."""
    import causalvae.interventions.alignment_search as search

    rng = np.random.default_rng(7)
    cases = []
    for _ in range(200):
        theta, sd_a, w = np.radians(rng.uniform(5, 15)), rng.uniform(1, 3), rng.uniform(0.5, 2)
        sd = torch.tensor([sd_a, 1.0, 1.0])

        def abduct(x, sd=sd):
            v = _factors(x)
            return torch.cat([v / sd, torch.cos(3 * v[:, :1]) + torch.sin(2 * v[:, 1:2] * v[:, 2:3])], 1)

        decoder = nn.Sequential()
        decoder.add_module("render", Fn(lambda h, sd=sd, w=w: (h[:, :3] * sd + w * h[:, 3:4] * torch.tensor(
            [0.0, 0.0, 1.0])) @ RENDER))
        v = rng.standard_normal((2, 256, 3)) * sd.numpy()
        spec = ReadoutSpec(NAMES, 0.05 * sd.numpy(), sd.numpy() ** 2, np.ones(3, dtype=bool))
        ic = Interchanger(Net(Fn(abduct), decoder), v[0] @ M, v[1] @ M, sites=[], readout=READOUT)
        lean = np.zeros((4, 1))
        lean[0, 0], lean[3, 0] = np.cos(theta), np.sin(theta)
        blocks = {"a": Block(LATENT, lean), "b": coordinate_block(LATENT, [1], dim=4),
                  "c": coordinate_block(LATENT, [2], dim=4)}
        cases.append((ic, blocks, spec))
    edges = [interchange_graphs(ic, b, readouts=s, n_null=6).direct.number_of_edges() for ic, b, s in cases]
    assert sum(edges) == 0
    monkeypatch.setattr(search, "remainder_swaps", lambda *a, **k: [])
    without_null = [interchange_graphs(ic, b, readouts=s, n_null=6).direct for ic, b, s in cases]
    assert sum(("a", "c") in g.edges for g in without_null) > 100
