"""Small models and data shared by the tests of causalvae.models."""

from __future__ import annotations

import networkx as nx
import numpy as np

from causalvae.data.dataset import FactorDataset
from causalvae.models import make_vae

SMALL_DISC = {"disc_hidden": 32.0, "disc_layers": 3.0}


def small_hyper(variant: str) -> dict[str, float]:
    """Shrink FactorVAE's discriminator so the table-driven tests stay fast."""
    return dict(SMALL_DISC) if variant == "factor-vae" else {}


def tabular(n: int = 256, d: int = 6, *, seed: int = 0) -> np.ndarray:
    """Observations driven by two factors through a fixed random linear map (float32)."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 2))
    return (factors @ rng.normal(size=(2, d)) + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def blobs(n: int = 64, *, seed: int = 0) -> np.ndarray:
    """Binary 1x64x64 images of a square at a random position (float32)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, 64, 64), dtype=np.float32)
    for img, (r, c) in zip(x, rng.integers(0, 48, size=(n, 2))):
        img[0, r:r + 16, c:c + 16] = 1.0
    return x


def tabular_dataset(n: int = 256, d: int = 6, *, seed: int = 0) -> FactorDataset:
    x = tabular(n, d, seed=seed)
    factors = np.random.default_rng(seed).normal(size=(n, 2))
    return FactorDataset(name="toy", x=x, factors=factors, factor_names=("a", "b"),
                         factor_kinds=("continuous", "continuous"), factor_dag=nx.DiGraph([("a", "b")]))


def mlp_vae(variant: str = "vae", *, d: int = 6, latent_dim: int = 3, seed: int = 0):
    return make_vae(variant, input_shape=(d,), latent_dim=latent_dim, hidden=(16, 16), seed=seed,
                    **small_hyper(variant))
