"""The VAE module: explicit ``encode`` / ``reparameterize`` / ``decode``, fx-traceable ``forward``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from causalvae.argtypes import check_float, check_int
from causalvae.models.architectures import (SiteInfo, conv_decoder, conv_encoder, latent_sites,
                                            mlp_decoder, mlp_encoder, CONV_IMAGE_SIZE)
from causalvae.models.losses import LossInputs

ARCHITECTURES = ("conv64", "mlp")
LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild a model (stored in every checkpoint as JSON).

    Attributes
    ----------
    variant : name in :data:`causalvae.models.VARIANTS`.
    input_shape : one observation, ``(C, 64, 64)`` for ``conv64`` or ``(D,)`` for ``mlp``.
    latent_dim : number of latent coordinates.
    architecture : ``"conv64"`` or ``"mlp"``.
    likelihood : ``"bernoulli"`` (logits, binary images) or ``"gaussian"`` (mean, tabular).
    obs_std : standard deviation of the Gaussian likelihood (ignored for Bernoulli).
    hidden : MLP hidden widths (ignored for ``conv64``).
    hyper : the variant's loss hyper-parameters (defaults merged with user values).
    """

    variant: str
    input_shape: tuple[int, ...]
    latent_dim: int
    architecture: str
    likelihood: str
    obs_std: float = 0.1
    hidden: tuple[int, ...] = ()
    hyper: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(
            check_int(s, name=f"input_shape[{i}]", minimum=1) for i, s in enumerate(self.input_shape)))
        object.__setattr__(self, "hidden", tuple(
            check_int(h, name=f"hidden[{i}]", minimum=1) for i, h in enumerate(self.hidden)))
        object.__setattr__(self, "latent_dim", check_int(self.latent_dim, name="latent_dim", minimum=1))
        object.__setattr__(self, "obs_std", check_float(self.obs_std, name="obs_std", minimum=0, include_min=False))
        object.__setattr__(self, "hyper", {k: check_float(v, name=k, minimum=0) for k, v in self.hyper.items()})
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.architecture == "conv64" and (len(self.input_shape) != 3
                                              or self.input_shape[1:] != (CONV_IMAGE_SIZE,) * 2):
            raise ValueError(f"conv64 expects input_shape (C, 64, 64), got {self.input_shape}")
        if self.architecture == "mlp" and (len(self.input_shape) != 1 or not self.hidden):
            raise ValueError(f"mlp expects input_shape (D,) and non-empty hidden widths, "
                             f"got input_shape={self.input_shape}, hidden={self.hidden}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        d = asdict(self)
        d["input_shape"], d["hidden"] = list(self.input_shape), list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VAEConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown VAEConfig keys {sorted(unknown)}; "
                             f"expected a subset of {sorted(cls.__dataclass_fields__)}")
        return cls(**{**d, "hyper": dict(d.get("hyper", {}))})


class VAEOutput(NamedTuple):
    """What :meth:`VAE.forward` returns."""

    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


class GaussianHead(nn.Module):
    """Diagonal Gaussian posterior head: sites ``latent.mu``, ``latent.logvar``, ``latent.z``.

    A latent head is built as ``head(in_features, config)``; it names the width the decoder reads
    (:meth:`decoder_features`) and its sites (:meth:`site_infos`).  The other head is
    :class:`causalvae.models.vq.VQHead`.

    >>> head = GaussianHead(8, VAEConfig("vae", (4,), 3, "mlp", "gaussian", hidden=(8,)))
    >>> [s.name for s in head.site_infos()], GaussianHead.decoder_features(head.config)
    (['latent.mu', 'latent.logvar', 'latent.z'], 3)
    """

    def __init__(self, in_features: int, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.mu = nn.Linear(in_features, config.latent_dim)
        self.logvar = nn.Linear(in_features, config.latent_dim)
        self.z = nn.Identity()

    @staticmethod
    def decoder_features(config: VAEConfig) -> int:
        """Width of the decoder's input: one number per latent."""
        return config.latent_dim

    def site_infos(self) -> list[SiteInfo]:
        """``latent.mu``, ``latent.logvar``, ``latent.z``, one neuron per latent."""
        return latent_sites(self.config.latent_dim)


class VAE(nn.Module):
    """A VAE with named sites (see :mod:`causalvae.models.architectures`); build with ``make_vae``.

    ``forward`` samples ``z`` in training mode and uses ``z = mu`` in eval mode (the
    deterministic mode used for analysis).  Training code calls :meth:`encode`,
    :meth:`reparameterize` (with a seeded generator) and :meth:`decode` explicitly.
    A FactorVAE carries its discriminator as ``self.discriminator`` (None otherwise); it is
    not part of ``forward`` and has no sites.
    """

    def __init__(self, config: VAEConfig, *, head: type[nn.Module] = GaussianHead,
                 discriminator: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        width = head.decoder_features(config)
        if config.architecture == "conv64":
            channels = config.input_shape[0]
            self.encoder, enc_sites, feat = conv_encoder(channels)
            self.decoder, dec_sites, self.output_site = conv_decoder(width, channels)
        else:
            self.encoder, enc_sites, feat = mlp_encoder(config.input_shape[0], config.hidden)
            self.decoder, dec_sites, self.output_site = mlp_decoder(width, config.hidden, config.input_shape[0])
        self.latent = head(feat, config)  # built last: the weights of a seed do not depend on the head
        self.sites: tuple[SiteInfo, ...] = tuple(enc_sites + self.latent.site_infos() + dec_sites)
        self.discriminator = discriminator

    @property
    def site_names(self) -> tuple[str, ...]:
        """Module paths of all sites, in forward order."""
        return tuple(s.name for s in self.sites)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def vae_parameters(self) -> list[nn.Parameter]:
        """Parameters of encoder, latent head and decoder (not of the discriminator)."""
        return [p for name, p in self.named_parameters() if not name.startswith("discriminator.")]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(mu, logvar)`` of ``x``."""
        h = self.encoder(x)
        return self.latent.mu(h), self.latent.logvar(h)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)`` drawn from ``generator``."""
        std = torch.exp(0.5 * logvar)
        if generator is None:
            eps = torch.randn_like(std)
        else:
            eps = torch.randn(std.shape, generator=generator, dtype=std.dtype, device=std.device)
        return mu + std * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output: logits (Bernoulli) or means (Gaussian) of the reconstruction."""
        return self.decoder(z)

    def loss_inputs(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> LossInputs:
        """One training pass on ``x``: posterior, sampled ``z`` (noise from ``generator``) and decoder output."""
        mu, logvar = self.encode(x)
        z = self.latent.z(self.reparameterize(mu, logvar, generator=generator))
        return LossInputs(x=x, logits=self.decode(z), likelihood=self.config.likelihood,
                          obs_std=self.config.obs_std, mu=mu, logvar=logvar, z=z, discriminator=self.discriminator)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar) if self.training else mu
        z = self.latent.z(z)
        return VAEOutput(self.decode(z), mu, logvar, z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction in data space (probabilities or means), ``z = mu``."""
        logits = self.decode(self.latent.z(self.encode(x)[0]))
        return torch.sigmoid(logits) if self.config.likelihood == "bernoulli" else logits
