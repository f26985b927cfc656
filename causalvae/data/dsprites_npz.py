"""Loader of the official dSprites file ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

Reads the keys ``imgs`` (uint8 N x 64 x 64), ``latents_values`` (N x 6) and ``latents_classes``
(N x 6) and checks them against the official semantics (:mod:`causalvae.data.dsprites`).  The
pickled ``metadata`` entry is never unpickled (no code from the file is executed).  A file holding
only some grid points (any order, no duplicates) is accepted; ``meta["complete"]`` says whether
it holds the whole grid.  Images stay uint8 in memory and are converted to float32 on access.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.dataset import FactorDataset
from causalvae.data.dsprites import (FACTOR_KINDS, FACTOR_NAMES, IMAGE_SIZE, LATENT_NAMES, LATENT_SIZES, N_IMAGES,
                                     NAME, SHAPE_LABELS, latent_grids)
from causalvae.data.lazy import Uint8Images

REQUIRED_KEYS = ("imgs", "latents_values", "latents_classes")
_READ_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError)


def load_npz(path: str | os.PathLike, *, n: int | None = None, seed: int = 0) -> FactorDataset:
    """The dSprites file at ``path`` as a :class:`FactorDataset` (``n`` random rows by ``seed``).

    Raises
    ------
    FileNotFoundError : no file at ``path``.
    ValueError : not an npz / truncated / wrong keys, shapes, dtypes or latents.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dSprites file not found: {path}")
    arrays = _read(path)
    imgs, values, classes = (arrays[k] for k in REQUIRED_KEYS)
    _check_layout(path, imgs, values, classes)
    rows = np.arange(len(imgs))
    if n is not None:
        if check_int(n, name="n", minimum=1) > len(imgs):
            raise ValueError(f"n must be at most the number of images in {path.name} ({len(imgs)}), got {n}")
        rows = np.sort(np.random.default_rng(seed).choice(len(imgs), size=n, replace=False))
    from causalvae.data.factor_dags import reference_dag
    from causalvae.data.dsprites import factor_dag

    return FactorDataset(
        name=NAME, x=Uint8Images(imgs[rows] if n is not None else imgs), factors=values[rows, 1:],
        factor_names=FACTOR_NAMES, factor_kinds=FACTOR_KINDS, factor_dag=reference_dag(NAME, build=factor_dag),
        factor_values=latent_grids()[1:], intervene=None,
        meta={"source": "npz", "path": str(path), "complete": len(imgs) == N_IMAGES, "n_file": int(len(imgs)),
              "seed": seed, "n": n, "latents_names": list(LATENT_NAMES), "latents_sizes": list(LATENT_SIZES),
              "shape_labels": list(SHAPE_LABELS)})


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in REQUIRED_KEYS if k not in npz.files]
            if missing:
                raise _LayoutError(f"{path}: not a dSprites file: missing key(s) {missing}; expected keys "
                                   f"{list(REQUIRED_KEYS) + ['metadata']}, found {sorted(npz.files)}")
            return {k: npz[k] for k in REQUIRED_KEYS}
    except _LayoutError:
        raise
    except _READ_ERRORS as err:
        raise ValueError(f"{path}: cannot read as a dSprites .npz file (truncated or corrupt?): "
                         f"{type(err).__name__}: {err}") from err


class _LayoutError(ValueError):
    """The file is a readable npz but not in the dSprites layout."""


def _check_layout(path: Path, imgs: np.ndarray, values: np.ndarray, classes: np.ndarray) -> None:
    n = len(imgs)
    expected = {"imgs": (n, IMAGE_SIZE, IMAGE_SIZE), "latents_values": (n, 6), "latents_classes": (n, 6)}
    for key, arr in zip(REQUIRED_KEYS, (imgs, values, classes)):
        if arr.shape != expected[key]:
            raise _LayoutError(f"{path}: {key} must have shape {expected[key]} (N = {n} images), got {arr.shape}")
    if n == 0:
        raise _LayoutError(f"{path}: the file holds no images")
    if not (np.issubdtype(imgs.dtype, np.integer) or imgs.dtype == bool):
        raise _LayoutError(f"{path}: imgs must be integer (uint8 0/1), got dtype {imgs.dtype}")
    if not np.issubdtype(classes.dtype, np.integer):
        raise _LayoutError(f"{path}: latents_classes must be integer, got dtype {classes.dtype}")
    sizes = np.asarray(LATENT_SIZES)
    bad = (classes < 0) | (classes >= sizes)
    if np.any(bad):
        col = int(np.nonzero(bad)[1][0])
        raise _LayoutError(f"{path}: latents_classes[:, {col}] ({LATENT_NAMES[col]}) must lie in "
                           f"[0, {sizes[col]}), got {classes[bad][:3].tolist()}")
    grids = latent_grids()
    expected_values = np.stack([grids[j][classes[:, j]] for j in range(6)], axis=1)
    mismatch = ~np.isclose(values, expected_values, rtol=0, atol=1e-6)
    if np.any(mismatch):
        row, col = (int(i[0]) for i in np.nonzero(mismatch))
        raise _LayoutError(f"{path}: latents_values[{row}, {col}] ({LATENT_NAMES[col]}) = {values[row, col]} does not "
                           f"match latents_classes (expected {expected_values[row, col]} under the official grid)")
    index = np.ravel_multi_index(tuple(classes.T), LATENT_SIZES)
    if np.unique(index).size != n:
        raise _LayoutError(f"{path}: latents_classes contain duplicate grid points")
