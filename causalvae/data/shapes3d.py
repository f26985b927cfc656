"""Loader of the official 3DShapes file ``3dshapes.h5`` (DeepMind, Burgess & Kim 2018).

Layout: HDF5 datasets ``images`` (480000 x 64 x 64 x 3, uint8) and ``labels`` (480000 x 6,
float64); row ``i`` holds the grid point ``unravel_index(i, FACTOR_SIZES)`` (row-major, the last
factor fastest) of the six factors ``floor_hue`` 10, ``wall_hue`` 10, ``object_hue`` 10, ``scale``
8, ``shape`` 4, ``orientation`` 15.

Pitfall: the README says the values lie in [0, 1], but the hues are 0, 0.1, ..., 0.9, scale is
0.75 ... 1.25 and orientation -30 ... 30.  Classes are therefore derived with ``np.unique`` per
column (never by scaling), and the loader checks that the file's rows are in row-major order.

The 5.6 GB of images are never read whole: a contiguous (unchunked) ``images`` dataset is
memory-mapped at its offset in the file, a chunked one is read through h5py, only the rows asked
for.  ``FactorDataset.factors`` are the file's label values; ``factor_values`` their grids.
Needs h5py (``pip install "causalvae[formats]"``).
"""

from __future__ import annotations

import os
from typing import Any

import networkx as nx
import numpy as np

from causalvae.data.benchmark_files import (ByteImages, FormatError, H5Rows, MappedArray, file_dataset,
                                            independent_dag, reading, require_file, subset_rows)
from causalvae.data.dataset import FactorDataset

NAME = "3dshapes"
FILE_NAME = "3dshapes.h5"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
IMAGE_SHAPE = (64, 64, 3)


def factor_dag() -> nx.DiGraph:
    """The six factors are independent: a DAG without edges."""
    return independent_dag(NAME, FACTOR_NAMES)


def load(path: str | os.PathLike, *, n: int | None = None, seed: int = 0) -> FactorDataset:
    """The 3DShapes file at ``path`` as a :class:`FactorDataset` (``n`` random rows by ``seed``).

    Parameters
    ----------
    path : the official ``3dshapes.h5``.
    n : size of a random subset (None: all 480,000 images).
    seed : seed of the subset.

    Returns
    -------
    FactorDataset with lazily read 3 x 64 x 64 float32 images in [0, 1], the six label columns as
    factors (all discrete, independent) and their sorted values as ``factor_values``.

    Raises
    ------
    ImportError : h5py is not installed.
    FileNotFoundError : no file at ``path``.
    ValueError : not an HDF5 file, or keys, shapes, dtypes or label grid differ from the official layout.

    Examples
    --------
    >>> ds = load("3dshapes.h5", n=1000, seed=0)  # doctest: +SKIP
    >>> ds.x.shape, [len(v) for v in ds.factor_values]  # doctest: +SKIP
    ((1000, 3, 64, 64), [10, 10, 10, 8, 4, 15])
    >>> load("no/such/3dshapes.h5")
    Traceback (most recent call last):
    FileNotFoundError: 3DShapes file (3dshapes.h5) not found: no/such/3dshapes.h5
    """
    path = require_file(path, what=f"3DShapes file ({FILE_NAME})")
    h5py = _import_h5py()
    with reading(path, what="a 3DShapes HDF5 file"), h5py.File(path, "r") as f:
        images, labels = _datasets(f, path)
        values = np.asarray(labels[()], dtype=np.float64)
        offset = images.id.get_offset() if images.chunks is None else None
    grids = _check_grid(values, path)
    shape = (len(values), *IMAGE_SHAPE)
    source = (H5Rows(path, key="images", shape=shape) if offset is None
              else MappedArray(path, offset=offset, shape=shape, dtype=np.uint8))
    rows = subset_rows(len(values), n, seed, path=path)
    return file_dataset(
        NAME, x=ByteImages(source, rows), factors=values[rows], factor_names=FACTOR_NAMES, factor_values=grids,
        meta={"source": "h5", "path": str(path), "n_file": len(values), "seed": seed, "n": n,
              "factor_sizes": list(FACTOR_SIZES), "storage": "hdf5 reads" if offset is None else "memory-mapped"})


def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError as err:
        raise ImportError('reading 3dshapes.h5 needs h5py: pip install "causalvae[formats]"') from err
    return h5py


def _datasets(f: Any, path: os.PathLike) -> tuple[Any, Any]:
    """The ``images`` and ``labels`` datasets of ``f``, checked against the official shapes and dtypes."""
    missing = [k for k in ("images", "labels") if k not in f]
    if missing:
        raise FormatError(f"{path}: not a 3DShapes file: missing dataset(s) {missing}; expected 'images' and "
                          f"'labels', found {sorted(f.keys())}")
    images, labels = f["images"], f["labels"]
    n = int(np.prod(FACTOR_SIZES))
    for key, arr, shape in (("images", images, (n, *IMAGE_SHAPE)), ("labels", labels, (n, len(FACTOR_NAMES)))):
        if arr.shape != shape:
            raise FormatError(f"{path}: {key} must have shape {shape} (the {'x'.join(map(str, FACTOR_SIZES))} "
                              f"grid), got {arr.shape}")
    if images.dtype != np.uint8:
        raise FormatError(f"{path}: images must have dtype uint8, got {images.dtype}")
    if not np.issubdtype(labels.dtype, np.floating):
        raise FormatError(f"{path}: labels must be floating point (float64), got dtype {labels.dtype}")
    return images, labels


def _check_grid(values: np.ndarray, path: os.PathLike) -> tuple[np.ndarray, ...]:
    """Per-column sorted unique values; checks their counts and that rows are in row-major order."""
    grids = tuple(np.unique(values[:, j]) for j in range(values.shape[1]))
    for name, grid, size in zip(FACTOR_NAMES, grids, FACTOR_SIZES):
        if len(grid) != size or not np.all(np.isfinite(grid)):
            raise FormatError(f"{path}: labels column {name!r} must take {size} distinct finite values, "
                              f"got {len(grid)}: {grid[:20].tolist()}")
    classes = np.stack([np.searchsorted(grid, values[:, j]) for j, grid in enumerate(grids)], axis=1)
    order = np.ravel_multi_index(tuple(classes.T), FACTOR_SIZES)
    wrong = np.flatnonzero(order != np.arange(len(values)))
    if wrong.size:
        row = int(wrong[0])
        raise FormatError(f"{path}: rows are not in the official row-major order: row {row} holds the labels of "
                          f"grid point {int(order[row])} ({dict(zip(FACTOR_NAMES, values[row].tolist()))})")
    return grids
