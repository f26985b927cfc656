"""VQ-VAE (van den Oord et al. 2017): a vector-quantised latent head and the model that uses it.

The encoder's features go through ``latent.pre``, a linear layer read as ``latent_dim``
positions of ``code_dim`` features (``z_e``, N x L x D).  Each position is replaced by its
nearest codebook vector: ``latent.code`` holds the indices (N x L, int64) and ``latent.z`` the
quantised vectors (N x L x D) that the decoder reads (flattened).  A unit of every latent site
is a *position*.  The decoder sees only ``codebook[code]``: an intervention on ``latent.code``
(a code swap) changes what the decoder uses, a small one on ``latent.pre`` may change nothing.

Training passes gradients straight through the quantiser (``z = z_e + sg(e - z_e)``).  The
codebook is either a parameter trained by the codebook loss (``ema=0``) or a buffer kept at the
exponential moving average of the encoder outputs assigned to each code (``ema=1``), with
rarely used ("dead") codes restarted at encoder outputs of the current batch.

>>> from causalvae.models import make_vae
>>> model = make_vae("vq-vae", input_shape=(6,), latent_dim=2, hidden=(8,), codebook_size=4, code_dim=3)
>>> out = model.eval()(torch.zeros(5, 6))
>>> tuple(out.pre.shape), tuple(out.codes.shape), torch.equal(out.z, model.latent.codebook[out.codes])
((5, 2, 3), (5, 2), True)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from causalvae.models.architectures import SiteInfo
from causalvae.models.losses import LossInputs
from causalvae.models.vae import VAE, VAEConfig

#: Hyper-parameters of the vq-vae row of the variant table (floats, as every hyper-parameter).
VQ_DEFAULTS = {"beta": 0.25, "codebook_size": 128.0, "code_dim": 16.0, "ema": 1.0, "decay": 0.99,
               "dead_threshold": 1.0}


def _integer(hyper: Mapping[str, float], name: str, minimum: int) -> int:
    value = float(hyper[name])
    if not value.is_integer() or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value:g}")
    return int(value)


def nearest_code(pre: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook vector of every position: ``argmin_k ||z_e - e_k||^2``.

    Distances are summed squared differences (no ``|a|^2 - 2ab + |b|^2`` cancellation); among
    equally near codes the lowest index wins (``torch.argmin`` returns the first minimum).

    >>> nearest_code(torch.tensor([[[1.0, 0.0], [0.9, 0.0]]]), torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    tensor([[0, 0]])
    """
    return (pre.detach().unsqueeze(-2) - codebook.detach()).pow(2).sum(-1).argmin(-1)


class NearestCode(nn.Module):
    """The quantiser as a module, so that its output (the code indices) is the site ``latent.code``."""

    def forward(self, pre: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        return nearest_code(pre, codebook)


class VQHead(nn.Module):
    """Vector-quantised latent head: sites ``latent.pre``, ``latent.code``, ``latent.z``.

    Hyper-parameters (``config.hyper``): ``codebook_size`` K, ``code_dim`` D, ``ema`` (0: the
    codebook is a parameter trained by the codebook loss; 1: a buffer updated by
    :meth:`ema_update`), ``decay`` and ``dead_threshold`` of the EMA update.  The codebook starts
    uniform on ``[-1/K, 1/K]``.  The EMA statistics start at 0, so every code is dead at the first
    update: used ones move to the exact mean of their assigned outputs, the others restart at
    encoder outputs of that batch (a data-dependent initialisation).

    >>> config = VAEConfig("vq-vae", (4,), 2, "mlp", "gaussian", hidden=(8,), hyper=VQ_DEFAULTS)
    >>> head = VQHead(8, config)
    >>> tuple(head.codebook.shape), VQHead.decoder_features(config), [s.name for s in head.site_infos()]
    ((128, 16), 32, ['latent.pre', 'latent.code', 'latent.z'])
    """

    def __init__(self, in_features: int, config: VAEConfig) -> None:
        super().__init__()
        hyper = config.hyper
        self.config = config
        n_codes, code_dim = _integer(hyper, "codebook_size", 2), _integer(hyper, "code_dim", 1)
        if float(hyper["ema"]) not in (0.0, 1.0):
            raise ValueError(f"ema must be 0 (codebook loss) or 1 (EMA updates), got {float(hyper['ema']):g}")
        self.ema = float(hyper["ema"]) == 1.0
        self.decay, self.dead_threshold = float(hyper["decay"]), float(hyper["dead_threshold"])
        if not 0.0 <= self.decay < 1.0 or self.dead_threshold <= 0.0:
            raise ValueError(f"decay must lie in [0, 1) and dead_threshold be > 0, got decay={self.decay:g}, "
                             f"dead_threshold={self.dead_threshold:g}")
        self.pre = nn.Sequential(OrderedDict(linear=nn.Linear(in_features, config.latent_dim * code_dim),
                                             positions=nn.Unflatten(1, (config.latent_dim, code_dim))))
        self.code = NearestCode()
        self.z = nn.Identity()
        codebook = torch.empty(n_codes, code_dim).uniform_(-1.0 / n_codes, 1.0 / n_codes)
        if self.ema:
            self.register_buffer("codebook", codebook)
            self.register_buffer("ema_count", torch.zeros(n_codes))
            self.register_buffer("ema_sum", torch.zeros(n_codes, code_dim))
        else:
            self.codebook = nn.Parameter(codebook)

    @staticmethod
    def decoder_features(config: VAEConfig) -> int:
        """Width of the decoder's input: ``latent_dim * code_dim`` (the flattened quantised vectors)."""
        return config.latent_dim * _integer(config.hyper, "code_dim", 1)

    def site_infos(self) -> list[SiteInfo]:
        """``latent.pre``, ``latent.code``, ``latent.z``: one unit per position."""
        return [SiteInfo(f"latent.{name}", "latent", "position", self.config.latent_dim, False)
                for name in ("pre", "code", "z")]

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """The codebook vectors of ``codes`` (N x L -> N x L x D)."""
        return F.embedding(codes, self.codebook)

    @torch.no_grad()
    def ema_update(self, pre: torch.Tensor, codes: torch.Tensor, *, generator: torch.Generator | None = None
                   ) -> None:
        """One EMA step of the codebook towards the mean encoder output assigned to each code.

        With ``c_k`` the number of positions assigned to code k in the batch and ``s_k`` the sum of
        their encoder outputs: ``n_k <- decay n_k + (1 - decay) c_k``,
        ``m_k <- decay m_k + (1 - decay) s_k``, ``e_k <- m_k / n_k``.  A code whose ``n_k`` falls
        below ``dead_threshold`` is restarted at an encoder output of the batch drawn with
        ``generator`` (``n_k = 1``, ``m_k = e_k`` = that output).
        """
        if not self.ema:
            raise ValueError("ema_update needs a head built with ema=1; this codebook is a trained parameter")
        flat = pre.detach().reshape(-1, self.codebook.shape[1]).to(self.codebook.dtype)
        assigned = F.one_hot(codes.reshape(-1), self.codebook.shape[0]).to(flat.dtype)  # (M, K)
        self.ema_count.mul_(self.decay).add_(assigned.sum(0), alpha=1.0 - self.decay)
        self.ema_sum.mul_(self.decay).add_(assigned.T @ flat, alpha=1.0 - self.decay)
        dead = torch.nonzero(self.ema_count < self.dead_threshold).flatten()
        if len(dead):
            pick = torch.randint(len(flat), (len(dead),), generator=generator, device=flat.device)
            self.ema_sum[dead] = flat[pick]
            self.ema_count[dead] = 1.0
        self.codebook.copy_(self.ema_sum / self.ema_count[:, None])


class VQEncoding(NamedTuple):
    """What :meth:`VQVAE.encode` returns (the decoder's deterministic input first)."""

    quantised: torch.Tensor
    codes: torch.Tensor
    pre: torch.Tensor


class VQOutput(NamedTuple):
    """What :meth:`VQVAE.forward` returns."""

    logits: torch.Tensor
    pre: torch.Tensor
    codes: torch.Tensor
    z: torch.Tensor


class VQVAE(VAE):
    """A VAE whose latent is vector-quantised (:class:`VQHead`); build with ``make_vae("vq-vae", ...)``.

    ``forward`` decodes the quantised vectors exactly in eval mode (the analysis mode) and their
    straight-through form ``z_e + sg(e - z_e)`` in training mode.  There is no posterior, so
    :meth:`encode` returns :class:`VQEncoding` ``(quantised, codes, pre)`` instead of ``(mu, logvar)``.
    """

    def __init__(self, config: VAEConfig, *, head: type[nn.Module] = VQHead,
                 discriminator: nn.Module | None = None) -> None:
        super().__init__(config, head=head, discriminator=discriminator)

    def encode(self, x: torch.Tensor) -> VQEncoding:
        """Quantised vectors, code indices and pre-quantisation encoder outputs of ``x``."""
        pre = self.latent.pre(self.encoder(x))
        codes = self.latent.code(pre, self.latent.codebook)
        return VQEncoding(self.latent.lookup(codes), codes, pre)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output of quantised vectors ``z`` (N x L x D)."""
        return self.decoder(z.flatten(1))

    def forward(self, x: torch.Tensor) -> VQOutput:
        quantised, codes, pre = self.encode(x)
        z = self.latent.z(pre + (quantised - pre).detach() if self.training else quantised)
        return VQOutput(self.decode(z), pre, codes, z)

    def loss_inputs(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> LossInputs:
        """One training pass (straight-through decoder input); in training mode an EMA codebook is
        also updated, once per call, with dead-code restarts drawn from ``generator``."""
        quantised, codes, pre = self.encode(x)
        z = self.latent.z(pre + (quantised - pre).detach())
        if self.training and self.latent.ema:
            self.latent.ema_update(pre, codes, generator=generator)
        return LossInputs(x=x, logits=self.decode(z), likelihood=self.config.likelihood,
                          obs_std=self.config.obs_std, z=z, pre=pre, quantised=quantised, codes=codes)
