"""The NORB binary matrix format (``*.mat``, optionally gzipped ``*.mat.gz``) of SmallNORB's files.

A file is: int32 magic number (the element type), int32 ``ndim``, ``max(3, ndim)`` int32
dimensions (only the first ``ndim`` count), then the elements, all little-endian.

==============  =========
magic           elements
==============  =========
``0x1E3D4C55``  uint8
``0x1E3D4C54``  int32
``0x1E3D4C51``  float32
``0x1E3D4C53``  float64
``0x1E3D4C56``  int16
==============  =========

(disentanglement_lib reads the magic as int8, which is wrong; the specification's is int32.)
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from causalvae.data.benchmark_files import FormatError, read_exact, reading

MAGIC: dict[int, np.dtype] = {0x1E3D4C55: np.dtype("u1"), 0x1E3D4C54: np.dtype("<i4"), 0x1E3D4C51: np.dtype("<f4"),
                              0x1E3D4C53: np.dtype("<f8"), 0x1E3D4C56: np.dtype("<i2")}
#: Largest ``ndim`` accepted (SmallNORB's files have 1, 2 or 4).
MAX_NDIM = 8


@dataclass(frozen=True)
class MatrixHeader:
    """The header of a NORB matrix file: element type, shape and the header's size in bytes."""

    dtype: np.dtype
    shape: tuple[int, ...]
    size: int

    @property
    def nbytes(self) -> int:
        """Bytes of the elements that follow the header."""
        return int(np.prod(self.shape)) * self.dtype.itemsize


def open_matrix(path: str | os.PathLike) -> IO[bytes]:
    """A binary stream of the matrix file ``path`` (decompressed when it ends in ``.gz``)."""
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(stream: IO[bytes], *, path: Path) -> MatrixHeader:
    """Parse and validate the header at the start of ``stream`` (leaves the stream at the elements)."""
    magic, ndim = struct.unpack("<Ii", read_exact(stream, 8, path=path, what="NORB matrix header"))
    if magic not in MAGIC:
        expected = ", ".join(f"0x{m:08X} ({d})" for m, d in MAGIC.items())
        raise FormatError(f"{path}: magic number 0x{magic:08X} is not a NORB matrix type; expected one of {expected}")
    if not 1 <= ndim <= MAX_NDIM:
        raise FormatError(f"{path}: ndim must lie in [1, {MAX_NDIM}], got {ndim}")
    n_dims = max(3, ndim)
    dims = struct.unpack(f"<{n_dims}i", read_exact(stream, 4 * n_dims, path=path, what="NORB matrix header"))
    if min(dims[:ndim]) < 0:
        raise FormatError(f"{path}: dimensions must be non-negative, got {dims[:ndim]}")
    return MatrixHeader(MAGIC[magic], tuple(dims[:ndim]), 8 + 4 * n_dims)


def check_header(header: MatrixHeader, *, dtype: np.dtype | str, shape: tuple[int, ...], path: Path) -> None:
    """A FormatError unless ``header`` declares ``dtype`` elements of ``shape``."""
    if header.dtype != np.dtype(dtype):
        raise FormatError(f"{path}: elements must be {np.dtype(dtype)}, the magic number says {header.dtype}")
    if header.shape != tuple(shape):
        raise FormatError(f"{path}: the matrix must have shape {tuple(shape)}, the header says {header.shape}")


def check_end(stream: IO[bytes], header: MatrixHeader, *, path: Path) -> None:
    """A FormatError if ``stream`` (read up to the end of the elements) holds further bytes."""
    if stream.read(1):
        raise FormatError(f"{path}: the file is longer than its header says: expected {header.size + header.nbytes} "
                          f"bytes (header {header.size} + elements {header.nbytes}), found more")


def read_matrix(path: Path, *, dtype: np.dtype | str, shape: tuple[int, ...]) -> np.ndarray:
    """The whole matrix of ``path``, which must hold exactly ``dtype`` elements of ``shape``.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.mat"
    >>> _ = path.write_bytes(struct.pack("<iiiii", 0x1E3D4C54, 1, 2, 1, 1) + struct.pack("<ii", 7, -1))
    >>> read_matrix(path, dtype="<i4", shape=(2,)).tolist()
    [7, -1]
    """
    with reading(path, what="a NORB matrix file"), open_matrix(path) as stream:
        header = read_header(stream, path=path)
        check_header(header, dtype=dtype, shape=shape, path=path)
        data = np.frombuffer(read_exact(stream, header.nbytes, path=path, what="NORB matrix elements"),
                             dtype=header.dtype).reshape(header.shape)
        check_end(stream, header, path=path)
    return data
