"""The run's latent site comes from the model's declaration (ModelSpec / site table), never from a name."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from causalvae.models import make_vae
from causalvae.pipeline import latent_measures as lm


@dataclass(frozen=True)
class Row:
    name: str
    stage: str


class RenamedHead(nn.Module):
    """A VAE whose latent mean lives at ``head.mean``: no site is called ``latent.*``."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 3)
        self.head = nn.ModuleDict({"mean": nn.Linear(3, 2), "spread": nn.Linear(3, 2)})
        self.dec = nn.Linear(2, 4)
        self.sites = (Row("enc", "encoder"), Row("head.mean", "latent"), Row("head.spread", "latent"),
                      Row("dec", "decoder"))
        self.output_site = "dec"

    def forward(self, x):
        h = torch.relu(self.enc(x))
        return self.dec(self.head["mean"](h)), self.head["spread"](h)


def test_gaussian_and_vq_latent_sites_follow_the_declaration():
    vae = make_vae("vae", input_shape=(6,), latent_dim=2, hidden=(8,))
    assert lm.declared_latent_site(vae) == lm.latent_site(vae) == lm.encoder_latent_site(vae) == "latent.mu"
    vq = make_vae("vq-vae", input_shape=(6,), latent_dim=2, hidden=(8,), codebook_size=4, code_dim=3)
    assert lm.declared_latent_site(vq) == "latent.z"          # what the decoder reads
    assert (lm.latent_site(vq), lm.encoder_latent_site(vq)) == ("latent.code", "latent.pre")


def test_a_renamed_latent_head_is_found_and_an_undeclared_one_refused():
    assert lm.declared_latent_site(RenamedHead()) == "head.mean"
    with pytest.raises(ValueError, match="ModelSpec"):
        lm.declared_latent_site(nn.Sequential(nn.Linear(2, 2)))
