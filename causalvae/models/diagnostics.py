"""Model diagnostics over a dataset: posterior statistics, per-latent KL, active latents, recon quality.

A VQ-VAE has no posterior: its KL to a uniform code prior is ``log K`` for every input, so KL
diagnostics refuse it; :func:`code_usage` and :func:`code_entropy` (the information a position
carries, ``H(c_i) = I(x; c_i)`` for a deterministic encoder) take their place, and
:func:`active_latents` uses the entropy for it.

All results are NumPy arrays / floats so later (torch-free) stages can use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from causalvae.models.batches import observations_of
from causalvae.models.losses import kl_per_latent, reconstruction_nll
from causalvae.models.vae import VAE
from causalvae.models.vq import VQVAE
from causalvae.modelstate import restores_model_state

ACTIVE_KL_THRESHOLD = 0.01  # nats, DESIGN §5


def _chunks(data: Any, indices: Sequence[int] | np.ndarray | None, batch_size: int):
    x = observations_of(data)
    idx = np.arange(len(x)) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("need at least one observation, got an empty selection")
    for start in range(0, len(idx), batch_size):
        yield torch.from_numpy(np.asarray(x[idx[start:start + batch_size]], dtype=np.float32))


@restores_model_state(training=False, grad=False)
def encode_dataset(model: VAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
                   batch_size: int = 256, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances ``(mu, logvar)``, each N x latent_dim float64."""
    if isinstance(model, VQVAE):
        raise ValueError(f"variant {model.config.variant!r} is vector-quantised: it has no posterior mean and "
                         f"variance (its KL to a uniform code prior is log K for every input); expected a "
                         f"Gaussian-latent VAE, or use code_usage / code_entropy")
    model = model.to(device)
    mus, logvars = [], []
    for batch in _chunks(data, indices, batch_size):
        mu, logvar = model.encode(batch.to(device))
        mus.append(mu.double().cpu().numpy())
        logvars.append(logvar.double().cpu().numpy())
    return np.concatenate(mus), np.concatenate(logvars)


def latent_kl(model: VAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
              batch_size: int = 256, device: str | torch.device = "cpu") -> np.ndarray:
    """``KL(q(z_i|x) || N(0,1))`` per latent, averaged over the observations (nats)."""
    mu, logvar = encode_dataset(model, data, indices=indices, batch_size=batch_size, device=device)
    return kl_per_latent(torch.from_numpy(mu), torch.from_numpy(logvar)).numpy()


@restores_model_state(training=False, grad=False)
def code_usage(model: VQVAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
               batch_size: int = 256, device: str | torch.device = "cpu") -> np.ndarray:
    """How often each position takes each code: int64 counts, latent_dim x codebook_size.

    ``counts.sum(0) > 0`` marks the codes in use; ``(counts.sum(0) > 0).mean()`` is the codebook usage.
    """
    if not isinstance(model, VQVAE):
        raise ValueError(f"code_usage needs a vector-quantised model (variant 'vq-vae'), "
                         f"got variant {model.config.variant!r}")
    model = model.to(device)
    n_codes = model.latent.codebook.shape[0]
    counts = np.zeros((model.latent_dim, n_codes), dtype=np.int64)
    for batch in _chunks(data, indices, batch_size):
        codes = model.encode(batch.to(device)).codes.cpu().numpy()
        for i in range(model.latent_dim):
            counts[i] += np.bincount(codes[:, i], minlength=n_codes)
    return counts


def code_entropy(model: VQVAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
                 batch_size: int = 256, device: str | torch.device = "cpu") -> np.ndarray:
    """Entropy ``H(c_i)`` (nats) of each position's code over the observations; ``exp`` of it is the
    position's perplexity (1: one code, K: all K codes equally often)."""
    counts = code_usage(model, data, indices=indices, batch_size=batch_size, device=device)
    p = counts / counts.sum(axis=1, keepdims=True)
    return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1) + 0.0


def active_latents(model: VAE, data: Any, *, threshold: float = ACTIVE_KL_THRESHOLD,
                   indices: Sequence[int] | np.ndarray | None = None, batch_size: int = 256,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Boolean mask of latents carrying more than ``threshold`` nats: average KL of a Gaussian latent,
    code entropy :func:`code_entropy` of a VQ-VAE position."""
    information = code_entropy if isinstance(model, VQVAE) else latent_kl
    return information(model, data, indices=indices, batch_size=batch_size, device=device) > threshold


@restores_model_state(training=False, grad=False)
def reconstruction_quality(model: VAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
                           batch_size: int = 256, device: str | torch.device = "cpu") -> dict[str, float]:
    """Deterministic (``z = mu``) reconstruction error against the best constant image.

    The baseline predicts every observation by the per-element mean of the evaluated
    observations (the constant image with the lowest squared error and, for binary data,
    the lowest cross-entropy).

    Returns
    -------
    dict with ``nll`` / ``baseline_nll`` (nats per observation under the model's likelihood),
    ``mse`` / ``baseline_mse`` (per element, data space) and ``n``.
    """
    model = model.to(device)
    cfg = model.config
    batches = list(_chunks(data, indices, batch_size))
    mean = torch.cat(batches).double().mean(0)
    if cfg.likelihood == "bernoulli":
        baseline_out = torch.logit(mean.clamp(1e-6, 1 - 1e-6))
    else:
        baseline_out = mean
    totals = dict.fromkeys(("nll", "baseline_nll", "mse", "baseline_mse"), 0.0)
    n = 0
    for batch in batches:
        out = model.decode(model.encode(batch.to(device))[0]).double().cpu()
        recon = torch.sigmoid(out) if cfg.likelihood == "bernoulli" else out
        x = batch.double()
        base = baseline_out.expand_as(x)
        totals["nll"] += float(reconstruction_nll(x, out, likelihood=cfg.likelihood, obs_std=cfg.obs_std).sum())
        totals["baseline_nll"] += float(reconstruction_nll(x, base, likelihood=cfg.likelihood,
                                                           obs_std=cfg.obs_std).sum())
        totals["mse"] += float(((recon - x) ** 2).flatten(1).mean(1).sum())
        totals["baseline_mse"] += float(((mean - x) ** 2).flatten(1).mean(1).sum())
        n += len(x)
    return {**{k: v / n for k, v in totals.items()}, "n": float(n)}
