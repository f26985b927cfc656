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

from causalvae.argtypes import check_float, check_indices, check_int
from causalvae.inputs import check_batch, check_finite_rows, check_model, input_shape_of, model_device
from causalvae.models.batches import observations_of
from causalvae.models.losses import kl_per_latent, reconstruction_nll
from causalvae.models.vae import VAE
from causalvae.models.vq import VQVAE
from causalvae.modelstate import restores_model_state

ACTIVE_KL_THRESHOLD = 0.01  # nats, DESIGN §5


def _chunks(model: torch.nn.Module, data: Any, indices: Sequence[int] | np.ndarray | None, batch_size: int,
            device: torch.device):
    """Checked batches of the selected observations, as float32 tensors on ``device``."""
    x = check_batch(observations_of(data), name="data", shape=input_shape_of(model), finite=False)
    idx = np.arange(len(x)) if indices is None else np.asarray(check_indices(indices, name="indices", size=len(x)))
    batch_size = check_int(batch_size, name="batch_size", minimum=1)
    for start in range(0, len(idx), batch_size):
        rows = idx[start:start + batch_size]
        batch = np.asarray(x[rows], dtype=np.float32)
        check_finite_rows(batch, name="data", rows=rows)
        yield torch.from_numpy(batch).to(device)


def _checked(model: Any, device: str | torch.device | None) -> torch.device:
    """The device to compute on: the model's own (it is never moved; another one is refused)."""
    return model_device(check_model(model), device)


@restores_model_state(training=False, grad=False)
def encode_dataset(model: VAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
                   batch_size: int = 256, device: str | torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances ``(mu, logvar)``, each N x latent_dim float64.

    ``device`` defaults to the model's; the model is never moved (another device is refused), and its
    training flags and the grad mode are left as found.
    """
    device = _checked(model, device)
    if isinstance(model, VQVAE):
        raise ValueError(f"variant {model.config.variant!r} is vector-quantised: it has no posterior mean and "
                         f"variance (its KL to a uniform code prior is log K for every input); expected a "
                         f"Gaussian-latent VAE, or use code_usage / code_entropy")
    mus, logvars = [], []
    for batch in _chunks(model, data, indices, batch_size, device):
        mu, logvar = model.encode(batch)
        mus.append(mu.double().cpu().numpy())
        logvars.append(logvar.double().cpu().numpy())
    return np.concatenate(mus), np.concatenate(logvars)


def latent_kl(model: VAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
              batch_size: int = 256, device: str | torch.device | None = None) -> np.ndarray:
    """``KL(q(z_i|x) || N(0,1))`` per latent, averaged over the observations (nats)."""
    mu, logvar = encode_dataset(model, data, indices=indices, batch_size=batch_size, device=device)
    return kl_per_latent(torch.from_numpy(mu), torch.from_numpy(logvar)).numpy()


@restores_model_state(training=False, grad=False)
def code_usage(model: VQVAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
               batch_size: int = 256, device: str | torch.device | None = None) -> np.ndarray:
    """How often each position takes each code: int64 counts, latent_dim x codebook_size.

    ``counts.sum(0) > 0`` marks the codes in use; ``(counts.sum(0) > 0).mean()`` is the codebook usage.
    """
    device = _checked(model, device)
    if not isinstance(model, VQVAE):
        raise ValueError(f"code_usage needs a vector-quantised model (variant 'vq-vae'), "
                         f"got variant {model.config.variant!r}")
    n_codes = model.latent.codebook.shape[0]
    counts = np.zeros((model.latent_dim, n_codes), dtype=np.int64)
    for batch in _chunks(model, data, indices, batch_size, device):
        codes = model.encode(batch).codes.cpu().numpy()
        for i in range(model.latent_dim):
            counts[i] += np.bincount(codes[:, i], minlength=n_codes)
    return counts


def code_entropy(model: VQVAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
                 batch_size: int = 256, device: str | torch.device | None = None) -> np.ndarray:
    """Entropy ``H(c_i)`` (nats) of each position's code over the observations; ``exp`` of it is the
    position's perplexity (1: one code, K: all K codes equally often)."""
    counts = code_usage(model, data, indices=indices, batch_size=batch_size, device=device)
    p = counts / counts.sum(axis=1, keepdims=True)
    return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1) + 0.0


def active_latents(model: VAE, data: Any, *, threshold: float = ACTIVE_KL_THRESHOLD,
                   indices: Sequence[int] | np.ndarray | None = None, batch_size: int = 256,
                   device: str | torch.device | None = None) -> np.ndarray:
    """Boolean mask of latents carrying more than ``threshold`` nats: average KL of a Gaussian latent,
    code entropy :func:`code_entropy` of a VQ-VAE position."""
    threshold = check_float(threshold, name="threshold", minimum=0)
    information = code_entropy if isinstance(model, VQVAE) else latent_kl
    return information(model, data, indices=indices, batch_size=batch_size, device=device) > threshold


@restores_model_state(training=False, grad=False)
def reconstruction_quality(model: VAE, data: Any, *, indices: Sequence[int] | np.ndarray | None = None,
                           batch_size: int = 256, device: str | torch.device | None = None) -> dict[str, float]:
    """Deterministic (``z = mu``) reconstruction error against the best constant image.

    The baseline predicts every observation by the per-element mean of the evaluated
    observations (the constant image with the lowest squared error and, for binary data,
    the lowest cross-entropy).

    Returns
    -------
    dict with ``nll`` / ``baseline_nll`` (nats per observation under the model's likelihood),
    ``mse`` / ``baseline_mse`` (per element, data space) and ``n``.
    """
    device = _checked(model, device)
    cfg = model.config
    batches = list(_chunks(model, data, indices, batch_size, device))
    mean = torch.cat(batches).double().mean(0).cpu()
    if cfg.likelihood == "bernoulli":
        baseline_out = torch.logit(mean.clamp(1e-6, 1 - 1e-6))
    else:
        baseline_out = mean
    totals = dict.fromkeys(("nll", "baseline_nll", "mse", "baseline_mse"), 0.0)
    n = 0
    for batch in batches:
        out = model.decode(model.encode(batch)[0]).double().cpu()
        recon = torch.sigmoid(out) if cfg.likelihood == "bernoulli" else out
        x = batch.double().cpu()
        base = baseline_out.expand_as(x)
        totals["nll"] += float(reconstruction_nll(x, out, likelihood=cfg.likelihood, obs_std=cfg.obs_std).sum())
        totals["baseline_nll"] += float(reconstruction_nll(x, base, likelihood=cfg.likelihood,
                                                           obs_std=cfg.obs_std).sum())
        totals["mse"] += float(((recon - x) ** 2).flatten(1).mean(1).sum())
        totals["baseline_mse"] += float(((mean - x) ** 2).flatten(1).mean(1).sum())
        n += len(x)
    return {**{k: v / n for k, v in totals.items()}, "n": float(n)}
