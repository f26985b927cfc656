"""The SmallNORB loader on small matrix files of the exact format (plain and gzipped), written here."""

import gzip
import struct

import numpy as np
import pytest

from causalvae.data import benchmark_files, load, smallnorb
from causalvae.data.benchmark_files import FormatError
from test_data_benchmarks import _check_independent


NORB_N = 12
MAGIC = {"u1": 0x1E3D4C55, "<i4": 0x1E3D4C54, "<f4": 0x1E3D4C51}


def _norb_info(split):
    """12 rows of (category, instance, elevation, azimuth, lighting) of the split's instances."""
    rows = np.arange(NORB_N)
    instances = (4, 6, 7, 8, 9) if split == "train" else (0, 1, 2, 3, 5)
    return np.stack([rows % 5, np.array(instances)[rows % 5], rows % 9, 2 * ((rows * 7) % 18), rows % 6], axis=1)


def _norb_dat(split):
    """First stereo image of row ``i``: ``i + 100 * (split == test)``; second: 255 (never used)."""
    first = np.arange(NORB_N) + (100 if split == "test" else 0)
    dat = np.full((NORB_N, 2, 96, 96), 255, dtype=np.uint8)
    dat[:, 0] = first[:, None, None]
    return dat


def _write_matrix(path, array, *, magic=None, ndim=None, dims=None, tail=b"", cut=0):
    """A NORB matrix file, written byte by byte: int32 magic, int32 ndim, max(3, ndim) int32 dims, data."""
    array = np.ascontiguousarray(array)
    magic = MAGIC[array.dtype.str.replace("|", "")] if magic is None else magic
    ndim = array.ndim if ndim is None else ndim
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim) if dims is None else dims
    raw = struct.pack(f"<Ii{len(dims)}i", magic, ndim, *dims) + array.tobytes() + tail
    raw = raw[:len(raw) - cut]
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def _write_split(directory, split, *, gz=False, dat=None, cat=None, info=None, **matrix_options):
    prefix = directory / smallnorb.SPLIT_PREFIXES[split]
    suffix = ".mat.gz" if gz else ".mat"
    info_rows = _norb_info(split)
    _write_matrix(prefix.with_name(prefix.name + f"cat{suffix}"),
                  (info_rows[:, 0] if cat is None else cat).astype("<i4"))
    _write_matrix(prefix.with_name(prefix.name + f"info{suffix}"), (info_rows[:, 1:] if info is None else info)
                  .astype("<i4"))
    return _write_matrix(prefix.with_name(prefix.name + f"dat{suffix}"), _norb_dat(split) if dat is None else dat,
                         **matrix_options)


@pytest.fixture()
def small_norb(monkeypatch, tmp_path):
    monkeypatch.setattr(smallnorb, "N_PER_SPLIT", NORB_N)
    monkeypatch.setattr(benchmark_files, "STREAM_BLOCK_ROWS", 5)
    return tmp_path


def _first_pixels(ds):
    return np.rint(ds.images()[:, 0, 40, 40] * 255).astype(int)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_smallnorb_reads_each_split(small_norb, gz):
    train_dat = _write_split(small_norb, "train", gz=gz)
    _write_split(small_norb, "test", gz=not gz)
    ds = load("smallnorb", path=small_norb, size=96)
    _check_independent(ds, smallnorb.FACTOR_NAMES)
    assert ds.x.shape == (NORB_N, 1, 96, 96)
    np.testing.assert_array_equal(_first_pixels(ds), np.arange(NORB_N))               # the first stereo image
    np.testing.assert_array_equal(ds.factors, np.column_stack([np.arange(NORB_N) % 5, _norb_info("train")[:, 1:]]))
    assert ds.factor_values[1].tolist() == [4, 6, 7, 8, 9]
    assert ds.factor_values[3].tolist() == [0, 4, 6, 10, 12, 14, 18, 20, 26, 28, 32, 34]      # the azimuths present
    test = load("smallnorb", path=small_norb, split="test", size=96)
    np.testing.assert_array_equal(_first_pixels(test), np.arange(NORB_N) + 100)
    assert test.factor_values[1].tolist() == [0, 1, 2, 3, 5]
    both = load("smallnorb", path=train_dat, split="both", n=10, seed=2, size=96)    # the -dat file names the folder
    rows = np.sort(np.random.default_rng(2).choice(2 * NORB_N, size=10, replace=False))
    first_images = np.concatenate([np.arange(NORB_N), np.arange(NORB_N) + 100])      # train rows, then test rows
    np.testing.assert_array_equal(_first_pixels(both), first_images[rows])
    np.testing.assert_array_equal(both.factors, np.concatenate([ds.factors, test.factors])[rows])
    assert both.factor_values[1].tolist() == list(range(10)) and both.meta["split"] == "both"


def test_smallnorb_resizes_to_64_by_default(small_norb):
    _write_split(small_norb, "train")
    ds = load("smallnorb", path=small_norb)
    assert ds.x.shape == (NORB_N, 1, 64, 64) and ds.meta["size"] == 64
    constant = np.arange(NORB_N, dtype=np.uint8)[:, None, None] / np.float32(255)   # Lanczos keeps constants
    np.testing.assert_array_equal(ds.images()[:, 0], np.broadcast_to(constant, (NORB_N, 64, 64)))
    assert load("smallnorb", path=small_norb, size=32).x.shape == (NORB_N, 1, 32, 32)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(split="validation"), ValueError, r"split must be one of \('train', 'test', 'both'\), got 'validation'"),
    (dict(size=0), ValueError, r"size must be a positive integer \(pixels\), got 0"),
    (dict(split="test"), FileNotFoundError, r"SmallNORB test file smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat "
                                            r"\(or smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat.gz\) not found"),
])
def test_smallnorb_rejects_bad_arguments(small_norb, kwargs, error, match):
    _write_split(small_norb, "train")
    with pytest.raises(error, match=match):
        load("smallnorb", path=small_norb, **kwargs)


def test_smallnorb_checks_the_path(small_norb):
    test_dat = _write_split(small_norb, "test")
    with pytest.raises(ValueError, match=r"is the test -dat file but split='train'; pass split='test' or 'both'"):
        load("smallnorb", path=test_dat)
    with pytest.raises(ValueError, match=r"expected the SmallNORB directory or one of its -dat files"):
        load("smallnorb", path=test_dat.with_name(test_dat.name.replace("dat", "cat")), split="test")
    with pytest.raises(FileNotFoundError, match="SmallNORB directory or -dat file not found"):
        load("smallnorb", path=small_norb / "missing")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(("options", "match"), [
    (dict(magic=0x12345678),
     r"magic number 0x12345678 is not a NORB matrix type; expected one of 0x1E3D4C55 \(uint8\)"),
    (dict(magic=0x1E3D4C54), r"elements must be uint8, the magic number says int32"),
    (dict(ndim=0, dims=[NORB_N, 2, 96]), r"ndim must lie in \[1, 8\], got 0"),
    (dict(ndim=-4, dims=[NORB_N, 2, 96]), r"ndim must lie in \[1, 8\], got -4"),
    (dict(dims=[24300, 2, 96, 96]),
     r"the matrix must have shape \(12, 2, 96, 96\), the header says \(24300, 2, 96, 96\)"),
    (dict(dims=[NORB_N, 2, -96, 96]), r"dimensions must be non-negative"),
    (dict(cut=1000),
     r"truncated NORB image data|must hold 221208 bytes \(header 24 \+ elements 221184\), it holds 220208"),
    (dict(tail=b"\0"), r"longer than its header says|must hold 221208 bytes .*, it holds 221209"),
])
def test_smallnorb_rejects_malformed_dat(small_norb, gz, options, match):
    _write_split(small_norb, "train", gz=gz, **options)
    with pytest.raises(FormatError, match=match):
        load("smallnorb", path=small_norb)


@pytest.mark.parametrize(("part", "write", "match"), [
    ("cat", lambda p: _write_matrix(p, np.arange(NORB_N + 1, dtype="<i4")), r"shape \(12,\), the header says \(13,\)"),
    ("cat", lambda p: _write_matrix(p, np.arange(NORB_N, dtype="<f4")),
     r"elements must be int32, the magic number says float32"),
    ("cat", lambda p: _write_matrix(p, np.arange(NORB_N, dtype="<i4"), tail=b"\0\0\0\0"),
     r"longer than its header says"),
    ("cat", lambda p: _write_matrix(p, np.arange(NORB_N, dtype="<i4"), cut=5), r"truncated NORB matrix elements"),
    ("cat", lambda p: p.write_bytes(b"\x55\x4c"), r"truncated NORB matrix header: expected 8 bytes"),
    ("info", lambda p: _write_matrix(p, (_norb_info("train")[:, 1:] + np.array([0, 0, 1, 0])).astype("<i4")),
     r"azimuth must take values in \[0, 2, 4, .*, 34\], got 1 at row 0"),
    ("info", lambda p: _write_matrix(p, (_norb_info("train")[:, 1:] + np.array([0, 9, 0, 0])).astype("<i4")),
     r"elevation must take values in \[0, 1, .*, 8\], got 9 at row 0"),
])
def test_smallnorb_rejects_malformed_labels(small_norb, part, write, match):
    _write_split(small_norb, "train")
    write(small_norb / f"{smallnorb.SPLIT_PREFIXES['train']}{part}.mat")
    with pytest.raises(FormatError, match=match):
        load("smallnorb", path=small_norb)


def test_smallnorb_rejects_a_corrupt_gzip(small_norb):
    _write_split(small_norb, "train", gz=True)
    dat = small_norb / f"{smallnorb.SPLIT_PREFIXES['train']}dat.mat.gz"
    dat.write_bytes(dat.read_bytes()[:-30])
    with pytest.raises(FormatError, match=r"cannot read as a NORB matrix file \(truncated or corrupt\?\)"):
        load("smallnorb", path=small_norb)
    dat.write_bytes(b"plain bytes, not gzip" * 10)
    with pytest.raises(FormatError, match=r"cannot read as a NORB matrix file"):
        load("smallnorb", path=small_norb)
