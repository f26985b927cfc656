"""Causal abstraction of a VQ-VAE's codes on hand-wired networks with known answers.

The SCM ``a -> b -> c`` of ``test_abstraction`` is rendered linearly; the latent is 5 positions of
2-wide codebook vectors ``e_j = (g_j, (1 + g_j) / 2)`` on a grid ``g`` of step 0.005 (the last two
positions always hold code 0, like unused positions).  The decoder reads a position's value as
``(q_0 + 2 q_1 - 1) / 2``: exactly ``g_j`` for a codebook vector, the mean of two grid values when
only one coordinate is swapped.  So an alignment is right only if it swaps whole positions (codes).
"""

import numpy as np
import pytest
import torch
from torch import nn

from causalvae.causal.abstraction import EMPTY, FULL, HighLevelModel
from causalvae.interventions.alignment_search import ReadoutSpec, interchange_graphs, search_alignments
from causalvae.interventions.interchange import Interchanger, coordinate_block
from causalvae.interventions.targets import Readout
from tests.causal.test_abstraction import MECHANISMS, M, NAMES, SCM, TEST, TRAIN, VARIANCE, Fn, _set

GRID = np.round(np.arange(-8.0, 8.0 + 1e-9, 0.005), 6)
CODEBOOK = torch.as_tensor(np.stack([GRID, (1.0 + GRID) / 2], axis=1), dtype=torch.float64)
POSITIONS, WIDTH = 5, 2
SPEC = ReadoutSpec(NAMES, 0.05 * np.sqrt(VARIANCE), VARIANCE, np.ones(3, dtype=bool))
READOUT = Readout(lambda x: x @ torch.as_tensor(M.T, dtype=x.dtype), NAMES)


class CodeNet(nn.Module):
    """``encode(x) -> (quantised N x 5 x 2, codes, pre)`` of three latent values; the decoder reads the
    values, runs the ``mechanisms`` (a module per factor, or none) and renders the factors."""

    def __init__(self, abduct, mechanisms=None):
        super().__init__()
        self.abduct = Fn(abduct)
        self.decoder = nn.Sequential()
        self.decoder.add_module("values", Fn(lambda z: (z[:, 0::2] + 2 * z[:, 1::2] - 1) / 2))
        if mechanisms is not None:
            self.decoder.add_module("scm", mechanisms)
        self.decoder.add_module("render", Fn(lambda v: v[:, :3] @ torch.as_tensor(M, dtype=v.dtype)))

    def encode(self, x):
        values = torch.cat([self.abduct(x.double()), torch.zeros(len(x), POSITIONS - 3, dtype=torch.float64)], 1)
        codes = (values[:, :, None] - CODEBOOK[:, 0]).abs().argmin(-1)
        pre = torch.stack([values, (1 + values) / 2], dim=2)
        return CODEBOOK[codes], codes, pre

    def decode(self, z):
        return self.decoder(z.flatten(1))


def _factors(x):
    return x @ torch.as_tensor(M.T, dtype=x.dtype)


def plain_codes():
    """Codes of the factors themselves; the decoder renders them (no mechanism)."""
    return CodeNet(_factors)


def chain_codes():
    """Codes of the exogenous noises (u_a, u_b, u_c); decoder.scm.{a,b,c} compute v = solve(u), one
    mechanism each (as ``test_abstraction.chain_net``)."""
    def abduct(x):
        a, b, c = _factors(x).unbind(1)
        return torch.stack([a, (b - 1.5 * a) / 0.5, (c - 2 * torch.tanh(b)) / 0.5], 1)

    scm = nn.Sequential()
    scm.add_module("a", Fn(lambda h: h))
    scm.add_module("b", Fn(lambda h: _set(h, 1, 1.5 * h[:, 0] + 0.5 * h[:, 1])))
    scm.add_module("c", Fn(lambda h: _set(h, 2, 2 * torch.tanh(h[:, 1]) + 0.5 * h[:, 2])))
    return CodeNet(abduct, scm)


def search(net, sites=(), **kw):
    train, test = [Interchanger(net, b @ M, s @ M, sites=list(sites), readout=READOUT) for b, s in (TRAIN, TEST)]
    result = search_alignments(train, test, HighLevelModel(NAMES, SCM), train_factors=TRAIN, test_factors=TEST,
                               readouts=SPEC, coordinate_sites=[train.latent, *sites], n_boot=200, **kw)
    return result, test


def strict(result, alignment, hypothesis):
    t = result.table
    return float(t[(t.alignment == alignment) & (t.hypothesis == hypothesis) & (t.factor == "all")]["strict"].iloc[0])


def test_the_latent_units_of_codes_are_whole_positions():
    _, test = search(plain_codes())
    assert test.unit_width(test.latent) == WIDTH and test.dim(test.latent) == POSITIONS * WIDTH


def test_code_swaps_align_a_renderer_of_codes_with_the_empty_graph():
    result, test = search(plain_codes())
    assert result.g_star == {"coordinates": EMPTY}
    assert strict(result, "coordinates", EMPTY) == 1.0
    assert strict(result, "coordinates", FULL) < 0.8  # the DAG moves descendants the renderer leaves alone
    chosen = result.blocks["coordinates"][EMPTY]
    for k, name in enumerate(NAMES):  # factor k <-> position k, both of its coordinates
        assert chosen[name].site == test.latent
        assert np.flatnonzero(chosen[name].basis.sum(1)).tolist() == [WIDTH * k, WIDTH * k + 1]
    graphs = interchange_graphs(test, chosen, readouts=SPEC, n_null=24)
    assert graphs.total.number_of_edges() == graphs.direct.number_of_edges() == 0


def test_codes_of_the_noises_with_mechanisms_in_the_decoder_are_aligned_with_the_dag():
    result, test = search(chain_codes(), sites=MECHANISMS)
    assert result.g_star == {"coordinates": FULL}
    assert strict(result, "coordinates", FULL) == 1.0
    assert strict(result, "coordinates", "drop:b->c") < 0.8  # no site lets b follow a without c following b
    chosen = result.blocks["coordinates"][FULL]
    assert chosen["a"].site in (test.latent, MECHANISMS[0])  # the root: its noise code is its value
    assert [chosen[k].site for k in ("b", "c")] == list(MECHANISMS[1:])
    graphs = interchange_graphs(test, chosen, readouts=SPEC, n_null=24)
    direct = graphs.direct_effects  # standardised mean |Δ read-out|, rows swapped, columns read
    for k, j in (("a", "b"), ("b", "c")):
        assert direct.loc[k, j] > 0.3
    for k, j in (("a", "c"), ("b", "a"), ("c", "a"), ("c", "b")):
        assert direct.loc[k, j] < 1e-3
    # the null at a code site swaps whole random positions, here the noise codes of b and c: the
    # threshold is conservative (edges may be missed), never permissive
    assert set(graphs.direct.edges) <= {("a", "b"), ("b", "c")}


def test_the_random_control_swaps_whole_random_positions():
    result, _ = search(plain_codes())
    assert strict(result, "random", EMPTY) < 1.0
    # a single coordinate of a position is no code: its swap decodes the mean of two grid values
    _, test = search(plain_codes())
    half = test.run(coordinate_block(test.latent, [0], dim=test.dim(test.latent)))  # a's first coordinate only
    whole = test.run(coordinate_block(test.latent, [0], dim=test.dim(test.latent), width=WIDTH))
    a_source = TEST[1][:, 0]
    np.testing.assert_allclose(whole[:, 0], a_source, atol=0.0025 + 1e-9)  # the source's code: exact to the grid
    changed = np.abs(TEST[1][:, 0] - TEST[0][:, 0]) > 0.1
    assert np.all(np.abs(half[changed, 0] - a_source[changed]) > 0.04)


def test_das_is_refused_on_codes():
    train = Interchanger(plain_codes(), TRAIN[0] @ M, TRAIN[1] @ M, sites=[], readout=READOUT)
    with pytest.raises(ValueError, match="outside the codebook"):
        search_alignments(train, train, HighLevelModel(NAMES, SCM), train_factors=TRAIN, test_factors=TRAIN,
                          readouts=SPEC, coordinate_sites=[train.latent], das_site=train.latent, n_boot=10)
