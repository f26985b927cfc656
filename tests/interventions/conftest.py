"""Hand-built networks with planted weights whose intervention effects are known in closed form."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn


class PlantedMLP(nn.Module):
    """x (3) -> fc1 -> ReLU (site "act") -> fc2 (3), plus a linear skip from x: not a chain."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 3)
        self.skip = nn.Linear(3, 3, bias=False)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.5, 0.0], [-1.0, -1.0, -1.0]]))
            self.fc1.bias.copy_(torch.tensor([0.1, 0.0, 0.2, -0.5]))  # unit 3 is dead on x >= 0
            self.fc2.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, 1.0, 1.0], [2.0, 0.0, -1.0, 0.0]]))
            self.fc2.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
            self.skip.weight.copy_(torch.eye(3) * 0.5)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) + self.skip(x)

    def numpy_parts(self, x):
        w1, b1 = self.fc1.weight.detach().double().numpy(), self.fc1.bias.detach().double().numpy()
        w2, b2 = self.fc2.weight.detach().double().numpy(), self.fc2.bias.detach().double().numpy()
        x = np.asarray(x, dtype=np.float64)
        pre = x @ w1.T + b1
        h = np.maximum(pre, 0)
        y = h @ w2.T + b2 + 0.5 * x
        return pre, h, w2, y


class PlantedConv(nn.Module):
    """1 -> 2 channels (1x1 conv + ReLU, site "block"), then a stride-2 transposed conv (2x2) to 1 channel."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(OrderedDict(layer=nn.Conv2d(1, 2, 1), act=nn.ReLU()))
        self.up = nn.ConvTranspose2d(2, 1, 2, stride=2, bias=False)
        with torch.no_grad():
            self.block.layer.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
            self.block.layer.bias.copy_(torch.tensor([0.0, 0.25]))
            self.up.weight.copy_(torch.tensor([[[1.0, -2.0], [0.5, 0.0]]], dtype=torch.float32)
                                 .reshape(1, 1, 2, 2).repeat(2, 1, 1, 1) * torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1))

    def forward(self, x):
        return self.up(self.block(x))


class LinearVAE(nn.Module):
    """encode: mu = A x (site ``latent.mu``); decode: D z; a VAE-like tuple output (recon, mu)."""

    def __init__(self, a, d):
        super().__init__()
        self.latent = nn.ModuleDict({"mu": nn.Linear(a.shape[1], a.shape[0], bias=False)})
        self.decoder = nn.Linear(d.shape[1], d.shape[0], bias=False)
        with torch.no_grad():
            self.latent["mu"].weight.copy_(torch.as_tensor(a, dtype=torch.float32))
            self.decoder.weight.copy_(torch.as_tensor(d, dtype=torch.float32))

    def forward(self, x):
        mu = self.latent["mu"](x)
        return self.decoder(mu), mu


@pytest.fixture
def planted_mlp():
    return PlantedMLP()


@pytest.fixture
def planted_conv():
    return PlantedConv()


@pytest.fixture
def linear_vae():
    a = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    d = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, -1.0], [1.0, 0.0]])
    return LinearVAE(a, d), a, d


@pytest.fixture
def linear_vae_spec():
    """LinearVAE's declaration: latent ``latent.mu``, reconstruction the first output."""
    from causalvae.interventions import ModelSpec

    return ModelSpec(latent_site="latent.mu", reconstruction=0)


@pytest.fixture
def positive_inputs():
    return torch.rand(12, 3, generator=torch.Generator().manual_seed(0)) + 0.1


@pytest.fixture
def conv_vae():
    from causalvae.models.variants import make_vae

    return make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=10, seed=0)


@pytest.fixture
def binary_images():
    return (torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(1)) > 0.7).float()
