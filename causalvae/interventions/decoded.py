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

from causalvae.argtypes import check_float, check_floats, check_int
from causalvae.inputs import check_batch, check_model, input_shape_of, model_device
from causalvae.interventions.batching import chunks, to_tensor
from causalvae.interventions.forward import model_dtype
from causalvae.interventions.effect_plumbing import as_inputs
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


def _prepared(model: nn.Module, x, device: torch.device | str | None) -> tuple[object, torch.device, torch.dtype]:
    """The checked inputs, the device (the model's; it is never moved) and the model's dtype."""
    _check_vae(check_model(model))
    x = check_batch(as_inputs(x), shape=input_shape_of(model))
    return x, model_device(model, device), model_dtype(model)


def _value_table(values, n_latents: int) -> np.ndarray:
    """``values`` (V,) or (L, V) as finite float64 (L, V)."""
    try:
        table = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"values must be numbers, shape (V,) or (latents, V), got {values!r}") from None
    if table.ndim not in (1, 2) or table.shape[-1] == 0 or (table.ndim == 2 and table.shape[0] != n_latents):
        raise ValueError(f"values must have shape (V,) or ({n_latents}, V) with V >= 1, got shape {table.shape}")
    if not np.isfinite(table).all():
        raise ValueError(f"values must be finite, got {values!r}")
    return np.broadcast_to(table, (n_latents, table.shape[-1])).copy()


@restores_model_state(training=False, grad=False)
def encoded_means(model: nn.Module, x, *, device: torch.device | str | None = None,
                  batch_size: int = 1024) -> np.ndarray:
    """μ(x) as float64, (N, latents)."""
    x, device, dtype = _prepared(model, x, device)
    return np.concatenate([model.encode(to_tensor(x, rows, device, dtype))[0].double().cpu().numpy()
                           for rows in chunks(len(x), batch_size)])


@restores_model_state(training=False, grad=False)
def decoded_under_do(model: nn.Module, x, values, *, device: torch.device | str | None = None,
                     max_batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Decoded observations of ``x`` (z = μ) and under every ``do(z_i = c)``: (N, ...) and (L, V, N, ...).

    ``values`` is a grid (V,) shared by all latents or one row per latent (L, V).  ``x`` is encoded
    once; all L × V intervened codes are decoded in batches of ``max_batch``.
    """
    x, device, dtype = _prepared(model, x, device)
    max_batch = check_int(max_batch, name="max_batch", minimum=1)
    mu, _ = model.encode(to_tensor(x, slice(0, len(x)), device, dtype))
    n, d = mu.shape
    table = _value_table(values, d)
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
                    quantiles: Sequence[float] = DEFAULT_QUANTILES, device: torch.device | str | None = None
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
    grid = check_floats(grid, name="grid")
    levels = [check_float(q, name=f"quantiles[{i}]", minimum=0, maximum=1)
              for i, q in enumerate(check_floats(quantiles, name="quantiles"))]
    base, under_grid = decoded_under_do(model, x, np.asarray(grid), device=device)
    calibrated = np.quantile(encoded_means(model, x, device=device), np.asarray(levels), axis=0).T  # (L, V)
    _, under_calibrated = decoded_under_do(model, x, calibrated, device=device)
    _, under_zero = decoded_under_do(model, x, np.zeros(1), device=device)
    profiles = ((under_zero[:, 0] - base[None]) ** 2).mean(axis=1).reshape(under_zero.shape[0], -1)
    return DecodedEffects(output_distance(base, under_grid), output_distance(base, under_calibrated), profiles,
                          int(np.prod(base.shape[1:])))


def paper_metrics(model: nn.Module, x, *, kl: np.ndarray, recon_error: float | None = None,
                  grid: Sequence[float] = DEFAULT_GRID, device: torch.device | str | None = None):
    """CES (all its forms) and intervention specificity of ``model`` on ``x``, from :func:`decoded_effects`.

    ``kl`` is the per-latent KL (active latents: KL > ``interventional.ACTIVE_KL``); returns
    ``(CESReport, SpecificityReport, DecodedEffects)``.  The pipeline and the examples both call this.
    """
    from causalvae.metrics import interventional

    try:
        kl = np.asarray(kl, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"kl must be the per-latent KL (numbers), got {kl!r}") from None
    if kl.ndim != 1 or not np.isfinite(kl).all() or (kl < 0).any():
        raise ValueError(f"kl must be the per-latent KL: finite numbers >= 0, shape (latents,), got {kl!r}")
    if recon_error is not None:  # a negative log-likelihood: negative for a sharp continuous density
        recon_error = check_float(recon_error, name="recon_error")
    decoded = decoded_effects(model, x, grid=grid, device=device)
    if kl.shape != decoded.grid_distance.shape:
        raise ValueError(f"kl must have one value per latent, shape {decoded.grid_distance.shape}, got {kl.shape}")
    ces = interventional.causal_effect_strength(decoded.grid_distance, n_output=decoded.n_output, kl=kl,
                                                calibrated_per_latent=decoded.calibrated_distance,
                                                recon_error=recon_error)
    return ces, interventional.intervention_specificity(decoded.zero_profiles), decoded
