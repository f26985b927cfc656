"""Loader of the official SmallNORB files (LeCun, Huang & Bottou 2004).

Per split three NORB matrix files (:mod:`~causalvae.data.norb_format`), ``.mat`` or ``.mat.gz``:

=====  ==================================================  ===============================
split  file prefix                                          N
=====  ==================================================  ===============================
train  ``smallnorb-5x46789x9x18x6x2x96x96-training-``       24,300
test   ``smallnorb-5x01235x9x18x6x2x96x96-testing-``        24,300
=====  ==================================================  ===============================

``dat`` (N x 2 x 96 x 96, uint8: stereo pairs), ``cat`` (N, int32: category) and ``info``
(N x 4, int32: instance, elevation 0-8, azimuth 0, 2, ..., 34, lighting 0-5).  Factors:
``category`` 5 (animal, human, airplane, truck, car), ``instance`` (4, 6, 7, 8, 9 in train, 0, 1,
2, 3, 5 in test), ``elevation`` 9, ``azimuth`` 18 (file value / 2 is the class, x 10 the degrees),
``lighting`` 6.  Factor values are the file's values; ``factor_values`` the sorted values present.

Conventions differ: disentanglement_lib merges train and test (48,600 images) resized to 64 x 64;
disent uses the training split only (24,300), first image of each pair.  Here: ``split`` "train"
(default), "test" or "both" (train rows, then test rows); always the first image of each pair;
``size`` 64 (default; Lanczos resampling with Pillow, as disentanglement_lib) or 96 (no resizing).
"""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import numpy as np

from causalvae.data.benchmark_files import (ByteImages, FormatError, MappedArray, file_dataset, independent_dag,
                                            reading, stream_rows, subset_rows)
from causalvae.data.dataset import FactorDataset
from causalvae.data.norb_format import check_end, check_header, open_matrix, read_header, read_matrix

NAME = "smallnorb"
FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
CATEGORY_LABELS = ("animal", "human", "airplane", "truck", "car")
#: Admissible file values of each factor (``cat``, then the four ``info`` columns).
FACTOR_RANGES = (np.arange(5), np.arange(10), np.arange(9), np.arange(0, 35, 2), np.arange(6))
SPLIT_PREFIXES = {"train": "smallnorb-5x46789x9x18x6x2x96x96-training-",
                  "test": "smallnorb-5x01235x9x18x6x2x96x96-testing-"}
SPLITS = ("train", "test", "both")
PARTS = ("dat", "cat", "info")
N_PER_SPLIT = 24300
IMAGE_SIZE = 96


def factor_dag() -> nx.DiGraph:
    """The five factors are independent (a grid): a DAG without edges."""
    return independent_dag(NAME, FACTOR_NAMES)


def load(path: str | os.PathLike, *, n: int | None = None, seed: int = 0, split: str = "train",
         size: int = 64) -> FactorDataset:
    """SmallNORB read from ``path`` as a :class:`FactorDataset` (``n`` random rows by ``seed``).

    Parameters
    ----------
    path : the directory holding the files, or the ``-dat`` file of the split asked for.
    n : size of a random subset (None: every image of the split(s)).
    seed : seed of the subset.
    split : "train", "test" or "both".
    size : side of the returned images in pixels (96 keeps the original resolution).

    Returns
    -------
    FactorDataset with 1 x size x size float32 images in [0, 1] and the five factors (discrete,
    independent).

    Raises
    ------
    FileNotFoundError : ``path`` or one of the split's files does not exist.
    ValueError : a bad ``split`` / ``size``, or a file with a wrong magic number, ndim, dimensions,
        length, or factor values outside their ranges.

    Examples
    --------
    >>> ds = load("norb/", split="both", size=64)  # doctest: +SKIP
    >>> ds.x.shape  # doctest: +SKIP
    (48600, 1, 64, 64)
    >>> load("norb/", split="validation")
    Traceback (most recent call last):
    ValueError: split must be one of ('train', 'test', 'both'), got 'validation'
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels), got {size!r}")
    directory = _directory(Path(path), split)
    splits = ("train", "test") if split == "both" else (split,)
    files = {s: _files(directory, s) for s in splits}
    factors = np.concatenate([_factors(files[s]) for s in splits])
    rows = subset_rows(len(factors), n, seed, path=directory)
    images = np.concatenate([_first_images(files[s]["dat"], rows[(rows >= lo) & (rows < lo + N_PER_SPLIT)] - lo)
                             for lo, s in zip(range(0, len(factors), N_PER_SPLIT), splits)])
    if size != IMAGE_SIZE:
        images = _resize(images, int(size))
    return file_dataset(
        NAME, x=ByteImages(images), factors=factors[rows], factor_names=FACTOR_NAMES,
        factor_values=[np.unique(factors[:, j]) for j in range(len(FACTOR_NAMES))],
        meta={"source": "smallnorb", "path": str(directory), "split": split, "size": int(size),
              "files": [str(p) for s in splits for p in files[s].values()], "n_file": len(factors), "seed": seed,
              "n": n, "stereo_image": 0, "category_labels": list(CATEGORY_LABELS)})


def _directory(path: Path, split: str) -> Path:
    """The directory of the files: ``path`` itself, or the folder of the ``-dat`` file ``path``."""
    if path.is_dir():
        return path
    if not path.is_file():
        raise FileNotFoundError(f"SmallNORB directory or -dat file not found: {path}")
    names = {f"{prefix}dat.mat{gz}": s for s, prefix in SPLIT_PREFIXES.items() for gz in ("", ".gz")}
    if path.name not in names:
        raise ValueError(f"{path}: expected the SmallNORB directory or one of its -dat files {sorted(names)}, "
                         f"got the file {path.name!r}")
    if split != "both" and names[path.name] != split:
        raise ValueError(f"{path} is the {names[path.name]} -dat file but split={split!r}; "
                         f"pass split={names[path.name]!r} or 'both'")
    return path.parent


def _files(directory: Path, split: str) -> dict[str, Path]:
    """The ``dat``, ``cat`` and ``info`` files of ``split`` in ``directory`` (plain preferred to gzipped)."""
    files = {}
    for part in PARTS:
        stem = f"{SPLIT_PREFIXES[split]}{part}.mat"
        found = [directory / name for name in (stem, f"{stem}.gz") if (directory / name).is_file()]
        if not found:
            raise FileNotFoundError(f"{directory}: SmallNORB {split} file {stem} (or {stem}.gz) not found")
        files[part] = found[0]
    return files


def _factors(files: dict[str, Path]) -> np.ndarray:
    """N x 5 factor values of one split (``cat`` then ``info``), checked against their ranges."""
    columns = np.column_stack([read_matrix(files["cat"], dtype="<i4", shape=(N_PER_SPLIT,)),
                               read_matrix(files["info"], dtype="<i4", shape=(N_PER_SPLIT, 4))])
    for j, (name, allowed) in enumerate(zip(FACTOR_NAMES, FACTOR_RANGES)):
        bad = np.flatnonzero(~np.isin(columns[:, j], allowed))
        if bad.size:
            where = files["cat"] if j == 0 else files["info"]
            raise FormatError(f"{where}: {name} must take values in {allowed.tolist()}, got "
                              f"{columns[bad[0], j]} at row {int(bad[0])}")
    return columns.astype(np.float64)


def _first_images(path: Path, rows: np.ndarray) -> np.ndarray:
    """The first image of each stereo pair at (sorted) ``rows`` of the ``dat`` file ``path``: n x 96 x 96 uint8."""
    shape = (N_PER_SPLIT, 2, IMAGE_SIZE, IMAGE_SIZE)
    with reading(path, what="a NORB matrix file"), open_matrix(path) as stream:
        header = read_header(stream, path=path)
        check_header(header, dtype="u1", shape=shape, path=path)
        if path.suffix != ".gz":
            actual, expected = path.stat().st_size, header.size + header.nbytes
            if actual != expected:
                raise FormatError(f"{path}: the file must hold {expected} bytes (header {header.size} + elements "
                                  f"{header.nbytes}), it holds {actual}")
            return MappedArray(path, offset=header.size, shape=shape, dtype=np.uint8)[rows, 0]
        images = stream_rows(stream, rows, shape[1:], path=path, what="NORB image data", n_total=N_PER_SPLIT,
                             item=(0,))
        check_end(stream, header, path=path)
    return images


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """``images`` (n x H x W uint8) resized to ``size x size`` with Lanczos resampling (Pillow)."""
    from PIL import Image

    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
    return out
