"""dSprites, procedural: the official 737,280-image factor grid rendered lazily by index.

Official semantics (``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``): six latents
``color, shape, scale, orientation, posX, posY`` with sizes ``[1, 3, 6, 40, 32, 32]``;
``latents_values`` are color = 1, shape = 1, 2, 3 (square, ellipse, heart),
scale = linspace(0.5, 1, 6), orientation = linspace(0, 2 pi, 40), posX/posY = linspace(0, 1, 32);
``latents_classes`` are the integer class indices; image ``i`` has classes
``unravel_index(i, sizes)`` (posY varies fastest).  Orientation 0 and 2 pi are both on the grid
(identical images), as in the official file.

The constant colour latent is **dropped** from ``FactorDataset.factors``: the exposed factors are
``shape, scale, orientation, posX, posY`` (``factors == latents_values[:, 1:]``).  Because colour
has a single class, the flat grid index over these five factors equals the official image index.
:func:`latents_values` / :func:`latents_classes` give the six official columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.dataset import FactorDataset
from causalvae.data.factor_grid import GridSampler
from causalvae.data.render import render_sprites

NAME = "dsprites"
LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
LATENT_SIZES = (1, 3, 6, 40, 32, 32)
#: Official ``latents_bases``: image index = latents_classes @ LATENT_BASES.
LATENT_BASES = (737280, 245760, 40960, 1024, 32, 1)
N_IMAGES = 737280
IMAGE_SIZE = 64
FACTOR_NAMES = LATENT_NAMES[1:]
FACTOR_KINDS = ("discrete", "continuous", "continuous", "continuous", "continuous")
SHAPE_LABELS = ("square", "ellipse", "heart")


def latent_grids() -> tuple[np.ndarray, ...]:
    """The official ``latents_possible_values`` of the six latents, in order."""
    return (np.ones(1), np.arange(1.0, 4.0), np.linspace(0.5, 1.0, 6), np.linspace(0.0, 2 * np.pi, 40),
            np.linspace(0.0, 1.0, 32), np.linspace(0.0, 1.0, 32))


def latents_classes(indices: np.ndarray | None = None) -> np.ndarray:
    """Official ``latents_classes`` rows (int64, n x 6) of image ``indices`` (all when None)."""
    idx = np.arange(N_IMAGES) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= N_IMAGES):
        raise IndexError(f"dSprites indices must lie in [0, {N_IMAGES}), got [{idx.min()}, {idx.max()}]")
    return np.stack(np.unravel_index(idx, LATENT_SIZES), axis=1).astype(np.int64)


def latents_values(indices: np.ndarray | None = None) -> np.ndarray:
    """Official ``latents_values`` rows (float64, n x 6) of image ``indices`` (all when None)."""
    classes = latents_classes(indices)
    return np.stack([grid[classes[:, j]] for j, grid in enumerate(latent_grids())], axis=1)


@dataclass(frozen=True)
class SpriteObserver:
    """Renders 1 x 64 x 64 sprite images from factor rows.

    Reads the columns ``shape, scale, orientation, posX, posY`` (and ``brightness`` when present,
    else 1) of an n x K factor array laid out as ``factor_names``.
    """

    factor_names: tuple[str, ...]
    size: int = IMAGE_SIZE

    def __post_init__(self) -> None:
        missing = [f for f in FACTOR_NAMES if f not in self.factor_names]
        if missing:
            raise ValueError(f"sprite factors {missing} missing from {list(self.factor_names)}")

    def __call__(self, factors: np.ndarray) -> np.ndarray:
        col = {name: factors[:, k] for k, name in enumerate(self.factor_names)}
        images = render_sprites(np.rint(col["shape"]).astype(np.int64), col["scale"], col["orientation"],
                                col["posX"], col["posY"], brightness=col.get("brightness", 1.0), size=self.size)
        return images[:, None]


def factor_dag() -> nx.DiGraph:
    """The generator's factor DAG: the five factors, independent (no edges)."""
    from causalvae.data.factor_dags import factor_graph

    return factor_graph(NAME, FACTOR_NAMES, FACTOR_KINDS, edges=())


def sampler() -> GridSampler:
    """The procedural dSprites grid: renders any grid point; ``sampler()(n, do, seed)`` samples."""
    from causalvae.data.factor_dags import reference_dag

    return GridSampler(
        name=NAME, factor_names=FACTOR_NAMES, factor_kinds=FACTOR_KINDS, factor_values=latent_grids()[1:],
        factor_dag=reference_dag(NAME, build=factor_dag), observe=SpriteObserver(FACTOR_NAMES), obs_shape=(1, IMAGE_SIZE, IMAGE_SIZE),
        meta={"source": "procedural", "latents_names": list(LATENT_NAMES), "latents_sizes": list(LATENT_SIZES),
              "shape_labels": list(SHAPE_LABELS)})


def load_procedural(*, n: int | None = None, seed: int = 0) -> FactorDataset:
    """The full grid in official order (``n=None``) or a random subset of ``n`` images, sorted.

    Examples
    --------
    >>> ds = load_procedural(n=10, seed=0)
    >>> ds.x.shape, ds.factor_names[0]
    ((10, 1, 64, 64), 'shape')
    """
    if n is None:
        indices = np.arange(N_IMAGES)
    else:
        if check_int(n, name="n", minimum=1) > N_IMAGES:
            raise ValueError(f"n must be at most the grid size {N_IMAGES}, got {n}")
        indices = np.sort(np.random.default_rng(seed).choice(N_IMAGES, size=n, replace=False))
    return sampler().dataset(indices, meta={"seed": seed, "n": n})
