"""Loaders of the official 3DShapes and MPI3D files (SmallNORB: test_data_smallnorb.py), on small files of the exact formats written here.

Every file is shrunk by monkeypatching the loader's expected sizes (grid / release table / split
length); each image encodes its row so row order, channel order and subsets can be checked.
"""

import pickle
import sys
import zipfile

import h5py
import numpy as np
import pytest

from causalvae.data import factor_pairs, load, names
from causalvae.data import benchmark_files, mpi3d, shapes3d, smallnorb
from causalvae.data.benchmark_files import ByteImages, FormatError

# ---------------------------------------------------------------- shared


def _encoded_images(n, channels=3, size=64):
    """Image ``i``: channel ``c`` is ``(i + 40 c) % 256`` everywhere, except pixel (0, 1) = 255 (orientation mark)."""
    rows = np.arange(n)
    images = ((rows[:, None] + 40 * np.arange(channels)[None]) % 256).astype(np.uint8)
    images = np.broadcast_to(images[:, None, None, :], (n, size, size, channels)).copy()
    images[:, 0, 1, :] = 255
    return images


def _check_images(ds, rows, channels=3):
    """``ds.images()`` equals the encoded images of file ``rows``, as float32 C x H x W in [0, 1]."""
    x = ds.images()
    assert x.dtype == np.float32 and x.shape == (len(rows), channels, 64, 64)
    expected = _encoded_images(int(max(rows)) + 1, channels)[rows].transpose(0, 3, 1, 2) / np.float32(255)
    np.testing.assert_array_equal(x, expected.astype(np.float32))
    assert np.all(x[:, :, 0, 1] == 1.0) and not np.any(x[:, :, 1, 0] == 1.0)    # H and W not swapped


def _check_independent(ds, factor_names):
    assert ds.factor_names == factor_names and ds.factor_kinds == ("discrete",) * len(factor_names)
    assert set(ds.factor_dag.nodes) == set(factor_names) and ds.factor_dag.number_of_edges() == 0
    assert ds.intervene is None


def test_benchmarks_are_registered_and_need_a_path():
    assert {"3dshapes", "mpi3d", "smallnorb"} <= set(names())
    with pytest.raises(ValueError, match=r"dataset '3dshapes' is read from disk: pass path= .*3dshapes\.h5"):
        load("3dshapes")
    with pytest.raises(ValueError, match=r"'mpi3d' is read from disk.*mpi3d_toy\.npz, mpi3d_realistic\.npz or "
                                         r"mpi3d_real\.npz"):
        load("mpi3d", n=10)
    with pytest.raises(ValueError, match=r"'smallnorb' is read from disk.*directory.*training-\{dat,cat,info\}"):
        load("smallnorb")
    with pytest.raises(TypeError, match=r"path= only applies to 'dsprites', '3dshapes', 'mpi3d', 'smallnorb'"):
        load("scm-linear", path="x.h5")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['split'\] for dataset '3dshapes'"):
        load("3dshapes", path="x.h5", split="test")


def test_byte_images_index_like_an_array():
    source = _encoded_images(6)
    x = ByteImages(source, rows=np.array([5, 2, 4]))
    assert x.shape == (3, 3, 64, 64) and len(x) == 3
    np.testing.assert_array_equal(x[[2, 0, 2]][:, 0, 5, 5], np.array([4, 5, 4], dtype=np.uint8) / np.float32(255))
    np.testing.assert_array_equal(x.select_rows(np.array([1]))[0], x[1])
    gray = ByteImages(source[..., 0])
    assert gray.shape == (6, 1, 64, 64) and gray[3][0, 5, 5] == np.float32(3 / 255)
    with pytest.raises(ValueError, match=r"N x H x W or N x H x W x C, got shape \(6, 64\)"):
        ByteImages(source[:, :, 0, 0])


# ---------------------------------------------------------------- 3DShapes

SHAPES_SIZES = (2, 3, 1, 2, 1, 3)
# the real grids: hues 0..0.9 (not [0, 1]), scale 0.75..1.25, shape 0..3, orientation -30..30
SHAPES_GRIDS = ([0.0, 0.1], [0.0, 0.1, 0.2], [0.5], [0.75, 1.25], [2.0], [-30.0, 0.0, 30.0])
SHAPES_N = int(np.prod(SHAPES_SIZES))


def _shapes_labels():
    classes = np.stack(np.unravel_index(np.arange(SHAPES_N), SHAPES_SIZES), axis=1)
    return np.stack([np.asarray(grid)[classes[:, j]] for j, grid in enumerate(SHAPES_GRIDS)], axis=1)


def _write_h5(path, *, images=None, labels=None, chunked=False, drop=()):
    arrays = {"images": _encoded_images(SHAPES_N) if images is None else images,
              "labels": _shapes_labels() if labels is None else labels}
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            if key not in drop:
                chunks = {"chunks": (4, *value.shape[1:]), "compression": "gzip"} if chunked and key == "images" else {}
                f.create_dataset(key, data=value, **chunks)
    return path


@pytest.fixture()
def small_shapes(monkeypatch):
    monkeypatch.setattr(shapes3d, "FACTOR_SIZES", SHAPES_SIZES)


@pytest.mark.parametrize("chunked", [False, True], ids=["contiguous-mmap", "chunked-gzip"])
def test_3dshapes_reads_the_official_layout(small_shapes, tmp_path, chunked):
    path = _write_h5(tmp_path / "3dshapes.h5", chunked=chunked)
    ds = load("3dshapes", path=path)
    _check_independent(ds, shapes3d.FACTOR_NAMES)
    _check_images(ds, np.arange(SHAPES_N))
    np.testing.assert_array_equal(ds.factors, _shapes_labels())
    assert [v.tolist() for v in ds.factor_values] == [list(g) for g in SHAPES_GRIDS]
    assert ds.meta["storage"] == ("hdf5 reads" if chunked else "memory-mapped") and ds.meta["n_file"] == SHAPES_N
    sub = load("3dshapes", path=path, n=7, seed=3)
    rows = np.sort(np.random.default_rng(3).choice(SHAPES_N, size=7, replace=False))
    _check_images(sub, rows)
    np.testing.assert_array_equal(sub.factors, _shapes_labels()[rows])
    np.testing.assert_array_equal(sub.x[[6, 0, 6]], sub.images([6, 0, 6]))          # unsorted, repeated rows
    clone = pickle.loads(pickle.dumps(sub))                                          # worker processes
    np.testing.assert_array_equal(clone.images(), sub.images())
    np.testing.assert_array_equal(sub.subset([1, 2]).images(), sub.images([1, 2]))
    assert not np.array_equal(load("3dshapes", path=path, n=7, seed=4).factors, sub.factors)


def test_3dshapes_pairs_are_looked_up_in_the_file(small_shapes, tmp_path):
    ds = load("3dshapes", path=_write_h5(tmp_path / "3dshapes.h5"))
    pairs = factor_pairs(ds, "orientation", n=10, seed=0)
    k = ds.factor_index("orientation")
    changed = pairs.factors != pairs.factors_prime
    assert np.all(changed[:, k]) and not np.any(np.delete(changed, k, axis=1))
    partner_rows = [np.flatnonzero(np.all(ds.factors == f, axis=1))[0] for f in pairs.factors_prime]
    np.testing.assert_array_equal(pairs.x_prime, ds.images(partner_rows))


@pytest.mark.parametrize(("change", "match"), [
    (dict(drop=("labels",)), r"missing dataset\(s\) \['labels'\]; expected 'images' and 'labels', found \['images'\]"),
    (dict(images=_encoded_images(SHAPES_N).astype(np.float32)), r"images must have dtype uint8, got float32"),
    (dict(images=_encoded_images(SHAPES_N - 1)), r"images must have shape \(36, 64, 64, 3\) \(the 2x3x1x2x1x3 grid\), "
                                                 r"got \(35, 64, 64, 3\)"),
    (dict(labels=_shapes_labels().astype(np.int64)), r"labels must be floating point \(float64\), got dtype int64"),
    (dict(labels=_shapes_labels()[::-1].copy()), r"not in the official row-major order: row 0 holds the labels of "
                                                 r"grid point 35"),
    (dict(labels=_shapes_labels() * np.array([1, 1, 1, 1, 1, 0])), r"column 'orientation' must take 3 distinct "
                                                                    r"finite values, got 1"),
])
def test_3dshapes_rejects_malformed_files(small_shapes, tmp_path, change, match):
    path = _write_h5(tmp_path / "3dshapes.h5", **change)
    with pytest.raises(FormatError, match=match):
        load("3dshapes", path=path)


def test_3dshapes_rejects_unreadable_files(small_shapes, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"3DShapes file \(3dshapes.h5\) not found"):
        load("3dshapes", path=tmp_path / "3dshapes.h5")
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(FormatError, match="cannot read as a 3DShapes HDF5 file"):
        load("3dshapes", path=tmp_path / "junk.h5")
    full = _write_h5(tmp_path / "3dshapes.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(full[:len(full) // 2])
    with pytest.raises(FormatError, match="truncated"):
        load("3dshapes", path=tmp_path / "cut.h5")


def test_3dshapes_without_h5py_says_what_to_install(small_shapes, tmp_path, monkeypatch):
    path = _write_h5(tmp_path / "3dshapes.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r'needs h5py: pip install "causalvae\[formats\]"'):
        load("3dshapes", path=path)


# ---------------------------------------------------------------- MPI3D

MPI_RELEASES = {24: mpi3d.Release((2, 1, 1, 1, 1, 3, 4), "small"), 12: mpi3d.Release((1, 1, 1, 1, 1, 3, 4), "tiny")}


@pytest.fixture()
def small_mpi(monkeypatch):
    monkeypatch.setattr(mpi3d, "RELEASES", MPI_RELEASES)
    monkeypatch.setattr(benchmark_files, "STREAM_BLOCK_ROWS", 5)     # several blocks, rows across block edges


@pytest.mark.parametrize("compressed", [False, True], ids=["stored-mmap", "deflated-stream"])
@pytest.mark.parametrize("length", [24, 12])
def test_mpi3d_infers_the_release_from_the_length(small_mpi, tmp_path, compressed, length):
    path = tmp_path / "mpi3d_toy.npz"
    (np.savez_compressed if compressed else np.savez)(path, images=_encoded_images(length))
    sizes = MPI_RELEASES[length].sizes
    ds = load("mpi3d", path=path)
    _check_independent(ds, mpi3d.FACTOR_NAMES)
    _check_images(ds, np.arange(length))
    np.testing.assert_array_equal(ds.factors, np.stack(np.unravel_index(np.arange(length), sizes), axis=1))
    assert [len(v) for v in ds.factor_values] == list(sizes) and ds.factor_values[6].tolist() == [0, 1, 2, 3]
    assert ds.meta["convention"] == MPI_RELEASES[length].convention
    assert ds.meta["storage"] == ("decompressed" if compressed else "memory-mapped")
    sub = load("mpi3d", path=path, n=6, seed=1)
    rows = np.sort(np.random.default_rng(1).choice(length, size=6, replace=False))
    _check_images(sub, rows)
    np.testing.assert_array_equal(sub.factors, np.stack(np.unravel_index(rows, sizes), axis=1))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(sub)).images(), sub.images())
    with pytest.raises(ValueError, match=f"n must be at most the number of images in mpi3d_toy.npz \\({length}\\)"):
        load("mpi3d", path=path, n=length + 1)


def _npz_with_member(path, header_shape, data, *, dtype="|u1", name="images.npy", compression=zipfile.ZIP_STORED):
    """A zip holding one .npy member whose header says ``header_shape`` but whose body is ``data``."""
    header = {"descr": dtype, "fortran_order": False, "shape": header_shape}
    with zipfile.ZipFile(path, "w", compression=compression) as zf, zf.open(name, "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(data)
    return path


@pytest.mark.parametrize(("write", "match"), [
    (lambda p: np.savez(p, images=_encoded_images(10)),
     r"10 images match no MPI3D release; expected one of 24 -> \(2, 1, 1, 1, 1, 3, 4\), 12 -> \(1, 1, 1, 1, 1, 3, 4\)"),
    (lambda p: np.savez(p, imgs=_encoded_images(24)),
     r"missing key 'images'; expected keys \['images'\], found \['imgs'\]"),
    (lambda p: np.savez(p, images=_encoded_images(24).astype(np.float32)),
     r"images must have dtype uint8, got float32"),
    (lambda p: np.savez(p, images=_encoded_images(24)[..., :1]), r"images must have shape \(N, 64, 64, 3\), "
                                                                 r"got \(24, 64, 64, 1\)"),
    (lambda p: np.savez(p, images=np.asfortranarray(_encoded_images(24))), r"must be stored in C order"),
    (lambda p: np.savez(p, images=np.array([{"a": 1}], dtype=object)), r"images must have dtype uint8, got object"),
    # decompression-bomb guards: the header is checked before any data is read
    (lambda p: _npz_with_member(p, (10 ** 9, 64, 64, 3), b"", compression=zipfile.ZIP_DEFLATED),
     r"1,000,000,000 images match no MPI3D release"),
    (lambda p: _npz_with_member(p, (24, 64, 64, 3), b"\0" * 100, compression=zipfile.ZIP_DEFLATED),
     r"member images.npy declares \d+ bytes but its header's array of shape \(24, 64, 64, 3\) needs 295\d+"),
    (lambda p: _npz_with_member(p, (24, 64, 64, 3), b"\0" * (24 * 64 * 64 * 3 + 1000)),
     r"declares \d+ bytes but its header's array of shape \(24, 64, 64, 3\) needs"),
    (lambda p: p.write_bytes(b"PK\x03\x04 definitely not a zip"), r"cannot read as an MPI3D .npz file"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("images.npy", b"\x93NUMPY garbage"), r"images.npy is not a .npy array"),
])
def test_mpi3d_rejects_malformed_files(small_mpi, tmp_path, write, match):
    path = tmp_path / "mpi3d_real.npz"
    write(path)
    with pytest.raises(FormatError, match=match):
        load("mpi3d", path=path)


@pytest.mark.parametrize("compressed", [False, True])
def test_mpi3d_rejects_truncated_and_corrupt_files(small_mpi, tmp_path, compressed):
    path = tmp_path / "mpi3d_toy.npz"
    (np.savez_compressed if compressed else np.savez)(path, images=_encoded_images(24))
    full = path.read_bytes()
    path.write_bytes(full[:len(full) - 200])                 # the zip directory at the end is cut
    with pytest.raises(FormatError, match="cannot read as an MPI3D .npz file"):
        load("mpi3d", path=path)
    mid = len(full) // 2                                      # inside the member's data
    path.write_bytes(full[:mid] + bytes(255 - b for b in full[mid:mid + 64]) + full[mid + 64:])
    if compressed:
        with pytest.raises(FormatError, match="cannot read as an MPI3D .npz file"):
            load("mpi3d", path=path)
    else:   # a stored member has no checksum on the mapped path: the damage shows in the pixels
        assert not np.array_equal(load("mpi3d", path=path).images(), _encoded_images(24).transpose(0, 3, 1, 2) / 255)


# ---------------------------------------------------------------- command line


def test_cli_datasets_and_train_take_the_path(small_shapes, tmp_path, capsys):
    from causalvae.cli import main

    path = _write_h5(tmp_path / "3dshapes.h5")
    assert main(["datasets", "3dshapes", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"3dshapes: {SHAPES_N} observations of shape (3, 64, 64)" in out
    assert "factor orientation  discrete   min -30  max 30  distinct 3" in out and "none (independent" in out
    assert main(["datasets", "3dshapes"]) == 2
    assert "pass path= (CLI: --path) naming the official 3dshapes.h5" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_train_on_a_benchmark_file(small_mpi, tmp_path, capsys):
    from causalvae.cli import main

    path = tmp_path / "mpi3d_toy.npz"
    np.savez(path, images=_encoded_images(24))
    assert main(["train", "--dataset", "mpi3d", "--path", str(path), "--steps", "2", "--batch-size", "8",
                 "--latent-dim", "2", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "trained beta-vae on mpi3d to step 2" in capsys.readouterr().out


def test_run_takes_the_path(small_mpi, tmp_path):
    from causalvae.cli import build_parser
    from causalvae.pipeline.config import RunConfig
    from causalvae.pipeline.context import RunContext
    from causalvae.pipeline.model_stages import load_data
    from causalvae.pipeline.runner import RunWorkspace

    path = tmp_path / "mpi3d_toy.npz"
    np.savez(path, images=_encoded_images(24))
    args = build_parser().parse_args(["run", "--dataset", "mpi3d", "--path", str(path)])
    config = RunConfig.resolve(dataset=args.dataset, path=args.path, n=20, quick=True, out=str(tmp_path / "run"))
    assert config.to_dict()["path"] == str(path)
    assert "path" not in RunConfig.resolve(dataset="scm-linear", quick=True).to_dict()   # unchanged sweep cell keys
    ctx = RunContext(config, RunWorkspace(tmp_path / "run"))
    load_data(ctx)
    assert ctx.dataset.name == "mpi3d" and len(ctx.dataset) == 20 and ctx.x_analysis.shape == (16, 3, 64, 64)
