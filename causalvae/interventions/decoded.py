"""Latent interventions measured on *decoded observations*: the inputs of CES and intervention specificity.

DESIGN §5 defines the paper's metrics on the decoder's output D(z): the likelihood's mean, i.e.
``sigmoid(logits)`` for Bernoulli images (logit-space distances would be dominated by saturated
background pixels).  :func:`decoded_effects` encodes ``x`` once (z = μ), decodes it and every
``do(z_i = c)`` in batches, and returns the per-latent quantities that
:func:`causalvae.metrics.interventional.causal_effect_strength` and
:func:`~causalvae.metrics.interventional.intervention_specificity` take.  ``causalvae run`` and the
examples call this one function, so they report the same CES and specificity for the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from causalvae.modelstate import restores_model_state

#: The paper's grid of intervention values c of ``do(z_i = c)``.
DEFAULT_GRID = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: Quantile levels of each latent's empirical marginal (posterior-calibrated values).
DEFAULT_QUANTILES = (0.02, 0.16, 0.5, 0.84, 0.98)


@dataclass(frozen=True)
class DecodedEffects:
    """Per latent i: ``grid_distance`` = E_x ‖D(μ) − D(μ; z_i ← c)‖₂ averaged over the grid (the paper's
    CES_i), ``calibrated_distance`` the same over each latent's own quantiles, ``zero_profiles``
    (latents × output elements) = E_x (D(μ) − D(μ; z_i ← 0))², and ``n_output`` = output elements."""

    grid_distance: np.ndarray
    calibrated_distance: np.ndarray
    zero_profiles: np.ndarray
    n_output: int


def decoded_mean(model: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """The likelihood's mean of decoder outputs: ``sigmoid`` for Bernoulli models, the output otherwise."""
    return torch.sigmoid(logits) if getattr(model.config, "likelihood", None) == "bernoulli" else logits


def _check_vae(model: nn.Module) -> None:
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))
            and hasattr(model, "config")):
        raise TypeError(f"decoded effects need a causalvae VAE (encode, decode, config); got {type(model).__name__} "
                        "— for other models use latent_effects(..., targets=['output_l2'], spec=...)")


@restores_model_state()
def encoded_means(model: nn.Module, x, *, device: torch.device | str = "cpu", batch_size: int = 1024) -> np.ndarray:
    """μ(x) as float64, (N, latents)."""
    _check_vae(model)
    model.eval()
    with torch.no_grad():
        return np.concatenate([model.encode(torch.as_tensor(np.asarray(x[i:i + batch_size]), device=device))[0]
                               .double().cpu().numpy() for i in range(0, len(x), batch_size)])


@restores_model_state()
def decoded_under_do(model: nn.Module, x, values, *, device: torch.device | str = "cpu",
                     max_batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Decoded observations of ``x`` (z = μ) and under every ``do(z_i = c)``: (N, ...) and (L, V, N, ...).

    ``values`` is a grid (V,) shared by all latents or one row per latent (L, V).  ``x`` is encoded
    once; all L × V intervened codes are decoded in batches of ``max_batch``.
    """
    _check_vae(model)
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(torch.as_tensor(np.asarray(x), device=device))
        n, d = mu.shape
        table = np.broadcast_to(np.asarray(values, dtype=np.float64), (d, np.shape(values)[-1])).copy()
        z = mu.repeat(d * table.shape[1], 1).view(d, table.shape[1], n, d).clone()
        for i in range(d):
            z[i, :, :, i] = torch.as_tensor(table[i], dtype=mu.dtype, device=device)[:, None]
        codes = torch.cat([mu, z.reshape(-1, d)])
        out = decoded_mean(model, torch.cat([model.decode(chunk) for chunk in codes.split(max_batch)]))
    out = out.double().cpu().numpy()
    return out[:n], out[n:].reshape(d, table.shape[1], n, *out.shape[1:])


def output_distance(base: np.ndarray, under_do: np.ndarray) -> np.ndarray:
    """Per latent, ``E_x ||D(z) - D(z~_i)||_2`` averaged over the intervention values: (L,)."""
    diff = (under_do - base[None, None]).reshape(*under_do.shape[:3], -1)
    return np.sqrt((diff ** 2).sum(axis=-1)).mean(axis=(1, 2))


def decoded_effects(model: nn.Module, x, *, grid: Sequence[float] = DEFAULT_GRID,
                    quantiles: Sequence[float] = DEFAULT_QUANTILES, device: torch.device | str = "cpu"
                    ) -> DecodedEffects:
    """CES and specificity inputs of ``model`` on the inputs ``x`` (module docstring).

    Examples
    --------
    >>> from causalvae.models import make_vae
    >>> vae = make_vae("vae", input_shape=(4,), latent_dim=2, hidden=(3,))
    >>> eff = decoded_effects(vae, np.zeros((5, 4), dtype=np.float32))
    >>> eff.grid_distance.shape, eff.zero_profiles.shape, eff.n_output
    ((2,), (2, 4), 4)
    """
    base, under_grid = decoded_under_do(model, x, np.asarray(grid, dtype=np.float64), device=device)
    calibrated = np.quantile(encoded_means(model, x, device=device), np.asarray(quantiles), axis=0).T  # (L, V)
    _, under_calibrated = decoded_under_do(model, x, calibrated, device=device)
    _, under_zero = decoded_under_do(model, x, np.zeros(1), device=device)
    profiles = ((under_zero[:, 0] - base[None]) ** 2).mean(axis=1).reshape(under_zero.shape[0], -1)
    return DecodedEffects(output_distance(base, under_grid), output_distance(base, under_calibrated), profiles,
                          int(np.prod(base.shape[1:])))


def paper_metrics(model: nn.Module, x, *, kl: np.ndarray, recon_error: float | None = None,
                  grid: Sequence[float] = DEFAULT_GRID, device: torch.device | str = "cpu"):
    """CES (all its forms) and intervention specificity of ``model`` on ``x``, from :func:`decoded_effects`.

    ``kl`` is the per-latent KL (active latents: KL > ``interventional.ACTIVE_KL``); returns
    ``(CESReport, SpecificityReport, DecodedEffects)``.  The pipeline and the examples both call this.
    """
    from causalvae.metrics import interventional

    decoded = decoded_effects(model, x, grid=grid, device=device)
    ces = interventional.causal_effect_strength(decoded.grid_distance, n_output=decoded.n_output, kl=kl,
                                                calibrated_per_latent=decoded.calibrated_distance,
                                                recon_error=recon_error)
    return ces, interventional.intervention_specificity(decoded.zero_profiles), decoded
