"""Shared pieces of the benchmark-file loaders (:mod:`~causalvae.data.shapes3d`,
:mod:`~causalvae.data.mpi3d`, :mod:`~causalvae.data.smallnorb`).

- :class:`FormatError`: a readable file that is not in the official layout;
- :class:`MappedArray`, :class:`H5Rows`: row sources reading only the rows asked for, from a
  memory-mapped region of a file or from an HDF5 dataset (both picklable: they reopen the file);
- :class:`ByteImages`: uint8 images (``N x H x W`` or channels-last ``N x H x W x C``) seen as the
  project's float32 ``N x C x H x W`` in [0, 1], converted on access;
- :func:`stream_rows`: keep some rows of a row-major array read from a (decompressing) stream,
  holding one block at a time;
- :func:`reading`: read errors of a corrupt or truncated file as one :class:`FormatError`;
- :func:`subset_rows`, :func:`require_file`, :func:`independent_dag`, :func:`file_dataset`.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO, Any

import networkx as nx
import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.dataset import FactorDataset
from causalvae.data.lazy import LazyRows

#: Rows decoded per read of :func:`stream_rows` (about 12 MB of 64 x 64 x 3 images).
STREAM_BLOCK_ROWS = 1024


class FormatError(ValueError):
    """The file is readable but not in the official layout of its benchmark."""


@contextmanager
def reading(path: Path, *, what: str) -> Iterator[None]:
    """Turn the errors of reading a corrupt or truncated ``path`` (zip, gzip, zlib, I/O) into a FormatError."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise FormatError(f"{path}: cannot read as {what} (truncated or corrupt?): {type(err).__name__}: {err}") \
            from err


def require_file(path: str | os.PathLike, *, what: str) -> Path:
    """``path`` as a Path, or a FileNotFoundError naming ``what`` was expected there."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def subset_rows(n_total: int, n: int | None, seed: int, *, path: Path) -> np.ndarray:
    """Sorted rows of a random subset of size ``n`` drawn by ``seed`` (every row when ``n`` is None)."""
    if n is None:
        return np.arange(n_total, dtype=np.int64)
    if check_int(n, name="n", minimum=1) > n_total:
        raise ValueError(f"n must be at most the number of images in {path.name} ({n_total}), got {n}")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False)).astype(np.int64)


def read_exact(stream: IO[bytes], nbytes: int, *, path: Path, what: str) -> bytes:
    """Exactly ``nbytes`` from ``stream``; a FormatError names ``what`` when the file ends early."""
    parts, got = [], 0
    while got < nbytes:
        part = stream.read(nbytes - got)
        if not part:
            raise FormatError(f"{path}: truncated {what}: expected {nbytes} bytes, the file ends after {got}")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def stream_rows(stream: IO[bytes], rows: np.ndarray, row_shape: tuple[int, ...], *, path: Path, what: str,
                n_total: int, item: tuple[Any, ...] = ()) -> np.ndarray:
    """``array[rows][(slice(None), *item)]`` of the uint8 ``(n_total, *row_shape)`` array that ``stream`` holds.

    Reads the whole array (so a decompressing stream checks its CRC) one block of
    :data:`STREAM_BLOCK_ROWS` rows at a time, keeping only ``rows`` (sorted) and, of each, ``item``.
    """
    row_bytes = int(np.prod(row_shape))
    out = np.empty((len(rows), *np.empty(row_shape, dtype=np.uint8)[item].shape), dtype=np.uint8)
    for start in range(0, n_total, STREAM_BLOCK_ROWS):
        count = min(STREAM_BLOCK_ROWS, n_total - start)
        block = np.frombuffer(read_exact(stream, count * row_bytes, path=path, what=what),
                              dtype=np.uint8).reshape(count, *row_shape)
        lo, hi = np.searchsorted(rows, [start, start + count])
        out[lo:hi] = block[(rows[lo:hi] - start, *item)]
    return out


class MappedArray:
    """A read-only array stored raw at ``offset`` in the file ``path``, memory-mapped on first access.

    Indexing returns in-memory NumPy arrays; pickling keeps only the location (no data).

    Raises
    ------
    FormatError : the file is shorter than ``offset`` plus the array's bytes (truncated).
    """

    def __init__(self, path: Path, *, offset: int, shape: tuple[int, ...], dtype: np.dtype | str) -> None:
        self.path, self.offset, self.shape, self.dtype = Path(path), int(offset), tuple(shape), np.dtype(dtype)
        needed = self.offset + int(np.prod(self.shape)) * self.dtype.itemsize
        size = self.path.stat().st_size
        if size < needed:
            raise FormatError(f"{self.path}: truncated: the array of shape {self.shape} needs the file to hold "
                              f"{needed} bytes, it holds {size}")
        self._map: np.memmap | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        if self._map is None:
            self._map = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape)
        return np.array(self._map[index])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_map": None}


class H5Rows:
    """Rows of the HDF5 dataset ``key`` of the file ``path``, opened (read-only) on first access.

    Index with sorted, duplicate-free integer rows (what h5py accepts); pickling keeps only the location.
    """

    def __init__(self, path: Path, *, key: str, shape: tuple[int, ...]) -> None:
        self.path, self.key, self.shape = Path(path), key, tuple(shape)
        self._file: Any = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        if self._file is None:
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file[self.key][np.asarray(rows, dtype=np.int64)]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}


class ByteImages(LazyRows):
    """uint8 images as float32 in [0, 1], ``n x C x H x W``, converted on access.

    Parameters
    ----------
    source : ``N x H x W`` (one channel) or channels-last ``N x H x W x C`` uint8 rows: an array,
        a :class:`MappedArray` or :class:`H5Rows` (indexed with sorted unique rows).
    rows : the source rows this array exposes, in order (all when None).

    Examples
    --------
    >>> x = ByteImages(np.full((3, 2, 2, 3), 255, dtype=np.uint8), rows=np.array([2, 0]))
    >>> x.shape, float(x[0].max())
    ((2, 3, 2, 2), 1.0)
    """

    def __init__(self, source: np.ndarray | MappedArray | H5Rows, rows: np.ndarray | None = None) -> None:
        shape = tuple(source.shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"source must be N x H x W or N x H x W x C, got shape {shape}")
        self.source = source
        self.rows = np.arange(shape[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        super().__init__(len(self.rows), (1, *shape[1:]) if len(shape) == 3 else (shape[3], *shape[1:3]))

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        wanted, inverse = np.unique(self.rows[rows], return_inverse=True)
        images = np.asarray(self.source[wanted])[inverse]
        images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        return np.divide(images, 255, dtype=np.float32)

    def select_rows(self, rows: np.ndarray) -> "ByteImages":
        return ByteImages(self.source, self.rows[rows])


def independent_dag(name: str, factor_names: Sequence[str]) -> nx.DiGraph:
    """The factor DAG of a benchmark with independent discrete factors: no edges."""
    from causalvae.data.factor_dags import factor_graph

    return factor_graph(name, factor_names, ["discrete"] * len(factor_names), edges=())


def file_dataset(name: str, *, x: ByteImages, factors: np.ndarray, factor_names: Sequence[str],
                 factor_values: Sequence[np.ndarray], meta: dict[str, Any]) -> FactorDataset:
    """A :class:`FactorDataset` of a benchmark file: discrete independent factors, the stored DAG, no ``intervene``."""
    from causalvae.data.factor_dags import reference_dag

    return FactorDataset(name=name, x=x, factors=factors, factor_names=tuple(factor_names),
                         factor_kinds=("discrete",) * len(factor_names), factor_dag=reference_dag(name, build=partial(independent_dag, name, factor_names)),
                         factor_values=tuple(np.asarray(v, dtype=np.float64) for v in factor_values),
                         intervene=None, meta=meta)
