"""Loss terms of the VAE family (all per-sample sums, averaged over the batch), and VQ-VAE's.

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
    """One forward pass: data, decoder output and the latent quantities of the model's head.

    Gaussian heads fill ``mu``, ``logvar`` (posterior) and ``z`` (sample); vector-quantised heads fill
    ``pre`` (encoder output, N x L x D), ``quantised`` (the chosen codebook vectors, same shape) and
    ``codes`` (N x L indices); a model with terms of its own (the SCM-layer VAE's label, mechanism,
    DAG and sparsity terms) computes them and passes them in ``model_terms``.  A term that needs a field the model does not fill is a clear error.
    """

    x: torch.Tensor
    logits: torch.Tensor
    likelihood: str
    obs_std: float
    z: torch.Tensor | None = None
    mu: torch.Tensor | None = None
    logvar: torch.Tensor | None = None
    discriminator: torch.nn.Module | None = None
    pre: torch.Tensor | None = None
    quantised: torch.Tensor | None = None
    codes: torch.Tensor | None = None
    model_terms: dict[str, torch.Tensor] | None = None


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


def vq_losses(pre: torch.Tensor, quantised: torch.Tensor) -> dict[str, torch.Tensor]:
    """VQ-VAE's commitment and codebook losses (van den Oord et al. 2017), per-sample sums, batch means.

    ``commitment = ||z_e - sg(e)||^2`` trains the encoder to stay near its codes and
    ``codebook = ||sg(z_e) - e||^2`` moves the chosen codes towards the encoder outputs; their
    values are equal, their gradients reach different tensors (``sg`` = stop-gradient, ``detach``).

    >>> pre, e = torch.tensor([[[1.0, 2.0]]]), torch.tensor([[[0.0, 0.0]]])
    >>> {k: v.item() for k, v in vq_losses(pre, e).items()}
    {'commitment': 5.0, 'codebook': 5.0}
    """
    if pre.shape != quantised.shape:
        raise ValueError(f"encoder outputs and quantised vectors must have equal shapes, got "
                         f"{tuple(pre.shape)} and {tuple(quantised.shape)}")
    return {"commitment": (pre - quantised.detach()).pow(2).flatten(1).sum(1).mean(),
            "codebook": (pre.detach() - quantised).pow(2).flatten(1).sum(1).mean()}


def code_perplexity(codes: torch.Tensor) -> torch.Tensor:
    """``exp(H)`` of the empirical distribution of the code indices in ``codes`` (all positions pooled).

    1 when a single code is used, K when K codes are used equally often.

    >>> code_perplexity(torch.tensor([[0, 1], [2, 3]])).item()
    4.0
    """
    counts = torch.unique(codes, return_counts=True)[1].double()
    p = counts / counts.sum()
    return torch.exp(-(p * p.log()).sum())


def _require(inputs: LossInputs, field: str, term: str, model: str) -> torch.Tensor | torch.nn.Module:
    value = getattr(inputs, field)
    if value is None:
        raise ValueError(f"loss term {term!r} needs {field} from a {model} model, got {field}=None")
    return value


# Term groups: each computes one or more named terms from the same intermediate quantities.
_TERM_GROUPS = {
    "recon": lambda a: {"recon": reconstruction_nll(a.x, a.logits, likelihood=a.likelihood,
                                                    obs_std=a.obs_std).mean()},
    "kl": lambda a: {"kl": kl_per_latent(_require(a, "mu", "kl", "Gaussian"), a.logvar).sum()},
    "mws": lambda a: mws_decomposition(a.z, _require(a, "mu", "mi/tc/dim_kl", "Gaussian"), a.logvar),
    "dip": lambda a: {f"dip_{k}": v for k, v in dip_penalties(_require(a, "mu", "dip", "Gaussian"),
                                                              a.logvar).items()},
    "tc_discriminator": lambda a: {"tc_discriminator": discriminator_tc(
        _require(a, "discriminator", "tc_discriminator", "'factor-vae'"), a.z)},
    "vq": lambda a: vq_losses(_require(a, "pre", "commitment/codebook", "vector-quantised"), a.quantised),
    "perplexity": lambda a: {"perplexity": code_perplexity(_require(a, "codes", "perplexity",
                                                                    "vector-quantised"))},
    "model": lambda a: dict(_require(a, "model_terms", "label/mechanism/dag/dag_h/sparsity", "'scm-vae'")),
}
_TERM_GROUP_OF = {"recon": "recon", "kl": "kl", "mi": "mws", "tc": "mws", "dim_kl": "mws",
                  "dip_offdiag": "dip", "dip_diag": "dip", "tc_discriminator": "tc_discriminator",
                  "commitment": "vq", "codebook": "vq", "perplexity": "perplexity",
                  **dict.fromkeys(("label", "mechanism", "dag", "dag_h", "sparsity"), "model")}
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
