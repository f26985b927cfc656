"""Latent traversals: decode ``mu(x)`` with one coordinate swept over a grid, and plot them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from causalvae.argtypes import check_floats, check_indices
from causalvae.inputs import check_batch, check_model
from causalvae.modelstate import restores_model_state

from causalvae.io import atomic_path
from causalvae.models.vae import VAE


@restores_model_state(training=False, grad=False)
def latent_traversal(model: VAE, x: np.ndarray, *, values: Sequence[float] = tuple(np.linspace(-2, 2, 9)),
                     latents: Sequence[int] | None = None) -> np.ndarray:
    """Reconstructions of one observation with latent ``i`` set to each of ``values``.

    Parameters
    ----------
    model : a VAE (evaluated with ``z = mu``).
    x : one observation (C x H x W or D).
    values : the values given to the traversed coordinate.
    latents : coordinates to traverse (default all).

    Returns
    -------
    float32 array ``len(latents) x len(values) x obs_shape`` in data space.
    """
    check_model(model)
    if getattr(x, "shape", None) is not None and tuple(x.shape) != model.config.input_shape:
        raise ValueError(f"x must be one observation of shape {model.config.input_shape}, got {tuple(x.shape)}")
    x = check_batch(x[None] if hasattr(x, "shape") else x, shape=model.config.input_shape)
    x = torch.as_tensor(np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32))[0]
    latents = (list(range(model.latent_dim)) if latents is None
               else check_indices(latents, name="latents", size=model.latent_dim))
    weight = next(model.parameters())  # the model is never moved: inputs go to its device and dtype
    mu = model.encode(x[None].to(weight.device, weight.dtype))[0]
    grid = torch.tensor(check_floats(values, name="values"), dtype=mu.dtype, device=weight.device)
    codes = mu.repeat(len(latents) * len(grid), 1)
    for row, i in enumerate(latents):
        codes[row * len(grid):(row + 1) * len(grid), i] = grid
    out = model.decode(codes)
    out = torch.sigmoid(out) if model.config.likelihood == "bernoulli" else out
    return out.reshape(len(latents), len(grid), *x.shape).float().cpu().numpy()


def plot_traversals(model: VAE, x: np.ndarray, path: str | os.PathLike, *,
                    values: Sequence[float] = tuple(np.linspace(-2, 2, 9)),
                    latent_kl: np.ndarray | None = None, title: str | None = None) -> Path:
    """Save a traversal grid of an image model (rows: latents, sorted by KL when given).

    The first column shows the input; each row is annotated with the latent's KL (nats).
    """
    from matplotlib.figure import Figure  # no pyplot: no global figure state or backend choice

    if model.config.architecture != "conv64":
        raise ValueError(f"traversal figures need an image model, got architecture {model.config.architecture!r}")
    order = (np.argsort(-np.asarray(latent_kl)) if latent_kl is not None else np.arange(model.latent_dim))
    images = latent_traversal(model, x, values=values, latents=order)
    rows, cols = images.shape[:2]
    fig = Figure(figsize=(0.9 * (cols + 1), 0.9 * rows + 0.5))
    axes = fig.subplots(rows, cols + 1, squeeze=False)
    for r, latent in enumerate(order):
        label = f"z{latent}" + (f"\nKL {latent_kl[latent]:.2f}" if latent_kl is not None else "")
        panels = [np.asarray(x, dtype=np.float32)] + list(images[r])
        for c, img in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(np.transpose(img, (1, 2, 0)).squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    for c, v in enumerate(values, start=1):
        axes[0, c].set_title(f"{v:+.1f}", fontsize=7)
    axes[0, 0].set_title("input", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=100, bbox_inches="tight")
    return path
