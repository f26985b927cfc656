"""factor_effects and latent output profiles: known answers on hand-built datasets and models."""

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from causalvae.data import factor_pairs
from causalvae.data.dataset import FactorDataset
from causalvae.interventions import factor_effects, latent_output_profiles


@pytest.fixture
def grid_dataset():
    a, b = np.meshgrid([0.0, 1.0, 2.0], [0.0, 1.0], indexing="ij")
    factors = np.stack([a.ravel(), b.ravel()], axis=1)
    dag = nx.DiGraph()
    dag.add_nodes_from(["a", "b"])
    return FactorDataset("grid", factors.astype(np.float32), factors, ("a", "b"), ("discrete", "discrete"), dag,
                         factor_values=(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0])))


@pytest.fixture
def identity_net():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2) * torch.tensor([[3.0], [1.0]]))
        net[0].bias.zero_()
    return net


def test_factor_effects_closed_form(grid_dataset, identity_net):
    m = factor_effects(identity_net, grid_dataset, sites=["0"], n_pairs=6, seed=4, eps=0.0)
    assert m.sources == ("factor.a", "factor.b") and m.targets == ("0[0]", "0[1]")
    delta_a = np.abs(factor_pairs(grid_dataset, "a", n=6, seed=4).delta).mean()
    # unit 0 = 3a: its change 3|da| over its std 3 * std(a); unit 1 = b never moves with a
    np.testing.assert_allclose(m.values, [[delta_a / np.std([0, 1, 2]), 0.0], [0.0, 1.0 / 0.5]], atol=1e-6)
    assert m.intervention == "factor-pair" and m.seed == 4 and m.n_samples == 6


def test_factor_effects_bad_factor(grid_dataset, identity_net):
    with pytest.raises(KeyError, match="unknown factor 'c'"):
        factor_effects(identity_net, grid_dataset, sites=["0"], factors=["c"], n_pairs=6)


def test_latent_output_profiles_closed_form(linear_vae):
    model, a, d = linear_vae
    x = torch.rand(7, 4, generator=torch.Generator().manual_seed(8))
    mu = x.double().numpy() @ a.T
    prof = latent_output_profiles(model, x)
    expected = (mu ** 2).mean(0)[:, None] * (d.T ** 2)  # setting z_i to 0 moves output p by -D[p, i] mu_i
    np.testing.assert_allclose(prof, expected, rtol=1e-5)
