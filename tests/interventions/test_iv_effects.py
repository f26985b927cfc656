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
    m = factor_effects(identity_net, grid_dataset, sites=["0"], n_pairs=6, seed=4)
    assert m.sources == ("factor.a", "factor.b") and m.targets == ("0[0]", "0[1]")
    pairs = [factor_pairs(grid_dataset, f, n=6, seed=4) for f in "ab"]
    # the observations are the factors: unit 0 = 3a, unit 1 = b; spread pooled over every x and x'
    seen = np.concatenate([np.concatenate([p.x, p.x_prime]) for p in pairs])
    spread = np.array([3 * seen[:, 0].std(), seen[:, 1].std()])
    delta_a = np.abs(pairs[0].delta).mean()
    np.testing.assert_allclose(m.values, [[3 * delta_a / spread[0], 0.0], [0.0, 1.0 / spread[1]]], rtol=1e-6)
    assert m.intervention == "factor-pair" and m.seed == 4 and m.n_samples == 6
    assert m.meta["standardised"] and m.meta["silent"] == []


def test_a_unit_silent_on_the_data_cannot_dominate_the_responses(grid_dataset):
    # unit 1 fires on one input in a thousand-fold smaller amount: its own std would blow its response up
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 0.0], [1e-6, 0.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.5e-6]))  # fires only where a = 2, by 5e-7
    m = factor_effects(net, grid_dataset, sites=["0"], n_pairs=6, seed=4)
    assert m.meta["silent"] == ["0[1]"]
    assert m.value("factor.a", "0[1]") < 1e-3 * m.value("factor.a", "0[0]")


def test_factor_effects_bad_factor(grid_dataset, identity_net):
    with pytest.raises(KeyError, match="unknown factor 'c'"):
        factor_effects(identity_net, grid_dataset, sites=["0"], factors=["c"], n_pairs=6)


def test_latent_output_profiles_closed_form(linear_vae, linear_vae_spec):
    model, a, d = linear_vae
    x = torch.rand(7, 4, generator=torch.Generator().manual_seed(8))
    mu = x.double().numpy() @ a.T
    prof = latent_output_profiles(model, x, spec=linear_vae_spec)
    expected = (mu ** 2).mean(0)[:, None] * (d.T ** 2)  # setting z_i to 0 moves output p by -D[p, i] mu_i
    np.testing.assert_allclose(prof, expected, rtol=1e-5)
