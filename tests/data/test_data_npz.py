"""The official dSprites .npz loader, on small files written here in the official format."""

import numpy as np
import pytest

from causalvae.data import factor_pairs, load
from causalvae.data import dsprites as D
from causalvae.data.lazy import Uint8Images


def _write(path, indices, *, imgs=None, values=None, classes=None, drop=(), compressed=True, **extra):
    """A file laid out like dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz holding grid rows ``indices``."""
    indices = np.asarray(indices)
    arrays = {
        "imgs": D.SpriteObserver(D.FACTOR_NAMES)(D.latents_values(indices)[:, 1:])[:, 0].astype(np.uint8)
        if imgs is None else imgs,
        "latents_values": D.latents_values(indices) if values is None else values,
        "latents_classes": D.latents_classes(indices) if classes is None else classes,
        "metadata": np.array({"latents_names": D.LATENT_NAMES, "latents_sizes": np.array(D.LATENT_SIZES)},
                             dtype=object),
        **extra,
    }
    for key in drop:
        arrays.pop(key)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


# rows: every posX class of one (shape, scale, orientation, posY) slice, plus a few others
ROWS = np.concatenate([245760 + 3 * 40960 + 7 * 1024 + 32 * np.arange(32) + 5, [0, 1, 737279]])


@pytest.fixture()
def small_file(tmp_path):
    return _write(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", ROWS)


def test_reads_images_and_latents(small_file):
    ds = load("dsprites", path=small_file)
    assert len(ds) == len(ROWS) and isinstance(ds.x, Uint8Images)
    assert ds.x.shape == (len(ROWS), 1, 64, 64) and ds.images([0]).dtype == np.float32
    np.testing.assert_allclose(ds.factors, D.latents_values(ROWS)[:, 1:])
    np.testing.assert_array_equal(ds.images(), D.load_procedural().images(ROWS))
    assert ds.factor_names == D.FACTOR_NAMES and ds.intervene is None
    assert ds.meta["source"] == "npz" and ds.meta["complete"] is False and ds.meta["n_file"] == len(ROWS)
    sub = load("dsprites", path=small_file, n=5, seed=3)
    assert len(sub) == 5
    np.testing.assert_array_equal(sub.images(), ds.images(np.flatnonzero(np.isin(ds.factors, sub.factors).all(1))))


def test_pairs_are_looked_up_inside_the_file(small_file):
    ds = load("dsprites", path=small_file)
    pairs = factor_pairs(ds, "posX", n=20, seed=0)
    k = ds.factor_index("posX")
    changed = pairs.factors != pairs.factors_prime
    assert np.all(changed[:, k]) and not np.any(np.delete(changed, k, axis=1))
    for x, xp, fp in zip(pairs.x, pairs.x_prime, pairs.factors_prime):   # x' is the file's image of f'
        row = np.flatnonzero(np.all(np.isclose(ds.factors, fp), axis=1))[0]
        np.testing.assert_array_equal(xp, ds.images([row])[0])
    with pytest.raises(ValueError, match="partner differing only in 'shape'"):
        factor_pairs(ds, "shape", n=5, seed=0)


@pytest.mark.parametrize("case, match", [
    (dict(drop=("imgs",)), r"missing key\(s\) \['imgs'\]"),
    (dict(imgs=np.zeros((35, 32, 32), np.uint8)), r"imgs must have shape \(35, 64, 64\)"),
    (dict(values=np.zeros((35, 5))), r"latents_values must have shape \(35, 6\)"),
    (dict(classes=np.zeros((34, 6), np.int64)), r"latents_classes must have shape \(35, 6\)"),
    (dict(imgs=np.zeros((35, 64, 64), np.float32)), "imgs must be integer"),
    (dict(classes=D.latents_classes(ROWS).astype(float)), "latents_classes must be integer"),
])
def test_wrong_layout_is_a_clear_error(tmp_path, case, match):
    path = _write(tmp_path / "bad.npz", ROWS, **case)
    with pytest.raises(ValueError, match=match):
        load("dsprites", path=path)


def test_inconsistent_latents_are_rejected(tmp_path):
    values = D.latents_values(ROWS)
    values[3, 2] = 0.55
    with pytest.raises(ValueError, match=r"latents_values\[3, 2\] \(scale\) = 0.55 does not match"):
        load("dsprites", path=_write(tmp_path / "v.npz", ROWS, values=values))
    classes = D.latents_classes(ROWS)
    classes[0, 3] = 40
    with pytest.raises(ValueError, match=r"latents_classes\[:, 3\] \(orientation\) must lie in \[0, 40\)"):
        load("dsprites", path=_write(tmp_path / "c.npz", ROWS, classes=classes))
    dup = np.concatenate([ROWS, ROWS[:1]])
    with pytest.raises(ValueError, match="duplicate grid points"):
        load("dsprites", path=_write(tmp_path / "d.npz", dup))


def test_truncated_or_foreign_file_is_a_clear_error(small_file, tmp_path):
    cut = tmp_path / "cut.npz"
    cut.write_bytes(small_file.read_bytes()[: small_file.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load("dsprites", path=cut)
    text = tmp_path / "notes.npz"
    text.write_text("not an npz")
    with pytest.raises(ValueError, match="cannot read as a dSprites .npz"):
        load("dsprites", path=text)
    with pytest.raises(FileNotFoundError, match="dSprites file not found"):
        load("dsprites", path=tmp_path / "absent.npz")


def test_metadata_is_never_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    path = _write(tmp_path / "evil.npz", ROWS, metadata=np.array([Boom()], dtype=object))
    assert len(load("dsprites", path=path)) == len(ROWS)
