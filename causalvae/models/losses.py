"""Loss terms of the VAE family (all per-sample sums, averaged over the batch).

Each term is a function of a :class:`LossInputs` bundle returning a scalar tensor; the
variant table in :mod:`causalvae.models.variants` says which terms a variant uses and
with what weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class LossInputs:
    """One forward pass: data, decoder output, posterior and sample, plus context."""

    x: torch.Tensor
    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    likelihood: str
    obs_std: float
    discriminator: torch.nn.Module | None = None


def reconstruction_nll(x: torch.Tensor, output: torch.Tensor, *, likelihood: str,
                       obs_std: float = 0.1) -> torch.Tensor:
    """Negative log-likelihood of ``x`` per sample (summed over elements), shape ``(N,)``.

    ``bernoulli``: binary cross-entropy with logits ``output``; ``gaussian``: exact NLL of
    ``N(output, obs_std^2)``.
    """
    if x.shape != output.shape:
        raise ValueError(f"data and decoder output shapes differ: expected {tuple(output.shape)}, "
                         f"got {tuple(x.shape)}")
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(output, x, reduction="none")
    elif likelihood == "gaussian":
        nll = 0.5 * ((x - output) / obs_std) ** 2 + math.log(obs_std) + 0.5 * _LOG_2PI
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    return nll.flatten(1).sum(1)


def kl_per_latent(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, 1))`` per latent coordinate, averaged over the batch (nats)."""
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(0)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Element-wise log density of ``z`` under ``N(mu, exp(logvar))`` (broadcasting)."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def mws_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    """Index-code MI, total correlation and dimension-wise KL estimated on a mini-batch.

    Chen et al. (2018), "Isolating Sources of Disentanglement in VAEs", with the batch's
    posteriors as a sample of the aggregate posterior:
    ``log q(z) ~ logsumexp_j log q(z|x_j) - log M``.  (Chen et al. normalise by
    ``log(N M)``; that shifts the reported TC by ``(d - 1) log N`` but not its gradient.)
    The three terms sum exactly to the Monte-Carlo ``E[log q(z|x) - log p(z)]``.

    Returns
    -------
    dict with scalar tensors ``mi``, ``tc``, ``dim_kl`` (nats, batch means).
    """
    pairwise = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # (M, M, d)
    log_m = math.log(z.shape[0])
    log_qz = torch.logsumexp(pairwise.sum(2), dim=1) - log_m
    log_prod_qzi = (torch.logsumexp(pairwise, dim=1) - log_m).sum(1)
    log_qz_given_x = gaussian_log_density(z, mu, logvar).sum(1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return {"mi": (log_qz_given_x - log_qz).mean(),
            "tc": (log_qz - log_prod_qzi).mean(),
            "dim_kl": (log_prod_qzi - log_pz).mean()}


def aggregate_posterior_covariance(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``Cov_q[z] = Cov[mu] + E[diag(exp(logvar))]`` (population covariance), DIP-VAE-II."""
    centred = mu - mu.mean(0, keepdim=True)
    cov_mu = centred.T @ centred / mu.shape[0]
    return cov_mu + torch.diag(logvar.exp().mean(0))


def dip_penalties(mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    """DIP-VAE-II penalties: ``offdiag = sum_{i!=j} C_ij^2`` and ``diag = sum_i (C_ii - 1)^2``."""
    cov = aggregate_posterior_covariance(mu, logvar)
    diag = torch.diagonal(cov)
    return {"offdiag": cov.pow(2).sum() - diag.pow(2).sum(), "diag": (diag - 1.0).pow(2).sum()}


def permute_dims(z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle each latent coordinate independently across the batch (samples of prod_i q(z_i))."""
    n, d = z.shape
    keys = torch.rand((n, d), generator=generator, device=z.device)
    return torch.gather(z, 0, keys.argsort(dim=0))


def discriminator_tc(discriminator: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """FactorVAE's density-ratio estimate of TC: mean logit of "z comes from q(z)"."""
    return discriminator(z).mean()


def discriminator_loss(discriminator: torch.nn.Module, z: torch.Tensor, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Cross-entropy of telling ``q(z)`` samples (label 1) from permuted ones (label 0)."""
    z = z.detach()
    real = discriminator(z)
    fake = discriminator(permute_dims(z, generator=generator))
    return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                  + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def _require_discriminator(inputs: LossInputs) -> torch.nn.Module:
    if inputs.discriminator is None:
        raise ValueError("loss term 'tc_discriminator' needs a model with a discriminator "
                         "(variant 'factor-vae'), got discriminator=None")
    return inputs.discriminator


# Term groups: each computes one or more named terms from the same intermediate quantities.
_TERM_GROUPS = {
    "recon": lambda a: {"recon": reconstruction_nll(a.x, a.logits, likelihood=a.likelihood,
                                                    obs_std=a.obs_std).mean()},
    "kl": lambda a: {"kl": kl_per_latent(a.mu, a.logvar).sum()},
    "mws": lambda a: mws_decomposition(a.z, a.mu, a.logvar),
    "dip": lambda a: {f"dip_{k}": v for k, v in dip_penalties(a.mu, a.logvar).items()},
    "tc_discriminator": lambda a: {"tc_discriminator": discriminator_tc(_require_discriminator(a), a.z)},
}
_TERM_GROUP_OF = {"recon": "recon", "kl": "kl", "mi": "mws", "tc": "mws", "dim_kl": "mws",
                  "dip_offdiag": "dip", "dip_diag": "dip", "tc_discriminator": "tc_discriminator"}
LOSS_TERMS = tuple(_TERM_GROUP_OF)


def evaluate_terms(names: tuple[str, ...] | list[str], inputs: LossInputs) -> dict[str, torch.Tensor]:
    """Compute the loss terms ``names`` (each shared intermediate computed once)."""
    unknown = [n for n in names if n not in _TERM_GROUP_OF]
    if unknown:
        raise ValueError(f"unknown loss terms {unknown}; expected names from {list(LOSS_TERMS)}")
    values: dict[str, torch.Tensor] = {}
    for group in dict.fromkeys(_TERM_GROUP_OF[n] for n in names):
        values.update(_TERM_GROUPS[group](inputs))
    return {n: values[n] for n in names}
