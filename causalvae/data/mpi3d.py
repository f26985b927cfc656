"""Loader of the official MPI3D files ``mpi3d_toy.npz``, ``mpi3d_realistic.npz``, ``mpi3d_real.npz``.

Layout: one member ``images`` (N x 64 x 64 x 3, uint8) and **no labels**: image ``i`` shows the
grid point ``unravel_index(i, sizes)`` (row-major, the last factor fastest) of the factors
``object_color``, ``object_shape``, ``object_size`` 2, ``camera_height`` 3, ``background_color`` 3,
``horizontal_axis`` 40, ``vertical_axis`` 40.  The two releases differ in colours and shapes:

==========  ===========================  ====================================
N           sizes                        convention
==========  ===========================  ====================================
1,036,800   (6, 6, 2, 3, 3, 40, 40)      current files (disent)
460,800     (4, 4, 2, 3, 3, 40, 40)      first release (disentanglement_lib)
==========  ===========================  ====================================

The sizes are inferred from N; any other N is refused.  Factor values are the class indices.

Reading never unpickles and never trusts the file blindly: the ``.npy`` header of the member is
parsed first (dtype uint8, C order, shape N x 64 x 64 x 3 with a known N) and must agree with the
member's declared size in the zip directory, so a decompression bomb is refused before anything is
decompressed.  A member stored uncompressed (``np.savez``) is memory-mapped at its offset in the
zip (``np.load(mmap_mode=...)`` cannot map npz members), so only the rows used are ever read.  A
compressed member (``np.savez_compressed``) cannot be mapped: the whole member is decompressed
once, as a stream, keeping only the ``n`` rows asked for (n x 12 KiB of memory); without ``n`` the
1,036,800 images take 12.7 GB of memory.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path
from typing import IO, NamedTuple

import networkx as nx
import numpy as np

from causalvae.data.benchmark_files import (ByteImages, FormatError, MappedArray, file_dataset, independent_dag,
                                            reading, require_file, stream_rows, subset_rows)
from causalvae.data.dataset import FactorDataset

NAME = "mpi3d"
FILE_NAMES = ("mpi3d_toy.npz", "mpi3d_realistic.npz", "mpi3d_real.npz")
MEMBER = "images.npy"
FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                "horizontal_axis", "vertical_axis")


class Release(NamedTuple):
    """One published layout of the MPI3D files."""

    sizes: tuple[int, ...]
    convention: str


#: Number of images -> the release with that many (factor sizes, whose convention).
RELEASES: dict[int, Release] = {1_036_800: Release((6, 6, 2, 3, 3, 40, 40), "disent"),
                                460_800: Release((4, 4, 2, 3, 3, 40, 40), "disentanglement_lib")}
IMAGE_SHAPE = (64, 64, 3)
_LOCAL_HEADER = struct.Struct("<4s22xHH")   # signature, ..., file name length, extra field length


def factor_dag() -> nx.DiGraph:
    """The seven factors are independent: a DAG without edges."""
    return independent_dag(NAME, FACTOR_NAMES)


def load(path: str | os.PathLike, *, n: int | None = None, seed: int = 0) -> FactorDataset:
    """The MPI3D file at ``path`` as a :class:`FactorDataset` (``n`` random rows by ``seed``).

    Parameters
    ----------
    path : one of the official ``mpi3d_toy.npz``, ``mpi3d_realistic.npz``, ``mpi3d_real.npz``.
    n : size of a random subset (None: every image).
    seed : seed of the subset.

    Returns
    -------
    FactorDataset with 3 x 64 x 64 float32 images in [0, 1] (converted on access) and the seven
    class indices as factors (all discrete, independent).

    Raises
    ------
    FileNotFoundError : no file at ``path``.
    ValueError : not a zip / truncated / corrupt, no ``images`` member, or a member whose dtype,
        shape, number of images or declared size differs from the official layout.

    Examples
    --------
    >>> ds = load("mpi3d_real.npz", n=1000, seed=0)  # doctest: +SKIP
    >>> ds.x.shape, [len(v) for v in ds.factor_values]  # doctest: +SKIP
    ((1000, 3, 64, 64), [6, 6, 2, 3, 3, 40, 40])
    >>> load("no/such/mpi3d_toy.npz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: MPI3D file (mpi3d_toy.npz, ...) not found: no/such/mpi3d_toy.npz
    """
    path = require_file(path, what=f"MPI3D file ({', '.join(FILE_NAMES[:-1])} or {FILE_NAMES[-1]})")
    with reading(path, what="an MPI3D .npz file"), zipfile.ZipFile(path) as zf:
        info = _member(zf, path)
        stored = info.compress_type == zipfile.ZIP_STORED
        with zf.open(info) as stream:
            length, header_bytes = _check_header(stream, info, path)
            rows = subset_rows(length, n, seed, path=path)
            if stored:
                x = ByteImages(MappedArray(path, offset=_data_offset(path, info) + header_bytes,
                                           shape=(length, *IMAGE_SHAPE), dtype=np.uint8), rows)
            else:
                x = ByteImages(stream_rows(stream, rows, IMAGE_SHAPE, path=path, what=MEMBER, n_total=length))
    sizes, convention = RELEASES[length]
    return file_dataset(
        NAME, x=x, factors=np.stack(np.unravel_index(rows, sizes), axis=1), factor_names=FACTOR_NAMES,
        factor_values=[np.arange(s) for s in sizes],
        meta={"source": "npz", "path": str(path), "n_file": length, "seed": seed, "n": n, "factor_sizes": list(sizes),
              "convention": convention,
              "storage": "memory-mapped" if stored else "decompressed"})


def _member(zf: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    try:
        info = zf.getinfo(MEMBER)
    except KeyError:
        raise FormatError(f"{path}: not an MPI3D file: missing key 'images'; expected keys ['images'], found "
                          f"{sorted(name.removesuffix('.npy') for name in zf.namelist())}") from None
    if info.flag_bits & 0x1:
        raise FormatError(f"{path}: member {MEMBER} is encrypted; expected a plain npz")
    return info


def _check_header(stream: IO[bytes], info: zipfile.ZipInfo, path: Path) -> tuple[int, int]:
    """Number of images and header size of the member's ``.npy`` header, checked before reading any data."""
    try:
        version = np.lib.format.read_magic(stream)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read:
            raise ValueError(f"unsupported .npy format version {version}; expected 1.0 or 2.0")
        shape, fortran_order, dtype = read[version](stream)
    except ValueError as err:
        raise FormatError(f"{path}: {MEMBER} is not a .npy array: {err}") from err
    if dtype != np.uint8:
        raise FormatError(f"{path}: images must have dtype uint8, got {dtype}")
    if fortran_order:
        raise FormatError(f"{path}: images must be stored in C order, got Fortran order")
    if len(shape) != 4 or tuple(shape[1:]) != IMAGE_SHAPE:
        raise FormatError(f"{path}: images must have shape (N, {', '.join(map(str, IMAGE_SHAPE))}), got {shape}")
    if shape[0] not in RELEASES:
        accepted = ", ".join(f"{n:,} -> {release.sizes}" for n, release in RELEASES.items())
        raise FormatError(f"{path}: {shape[0]:,} images match no MPI3D release; expected one of {accepted}")
    header_bytes = stream.tell()
    declared, needed = info.file_size, header_bytes + int(np.prod(shape))
    if declared != needed:
        raise FormatError(f"{path}: member {MEMBER} declares {declared} bytes but its header's array of shape "
                          f"{shape} needs {needed}")
    return int(shape[0]), header_bytes


def _data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Offset in the file of the first byte of the stored (uncompressed) member ``info``."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(_LOCAL_HEADER.size)
    if len(head) < _LOCAL_HEADER.size or _LOCAL_HEADER.unpack(head)[0] != b"PK\x03\x04":
        raise FormatError(f"{path}: corrupt zip: no local file header of {MEMBER} at offset {info.header_offset}")
    _, name_length, extra_length = _LOCAL_HEADER.unpack(head)
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
