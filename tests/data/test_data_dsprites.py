"""Procedural dSprites: the official grid (count, values, index order) and rendered-image properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalvae.data import load
from causalvae.data import dsprites as D
from causalvae.data.lazy import ObservedArray
from causalvae.data.render import HEART, SQUARE, ELLIPSE, render_sprites, sprite_centre


@pytest.fixture(scope="module")
def grid():
    return load("dsprites")


def test_grid_count_and_factor_layout(grid):
    assert len(grid) == 737_280 == 3 * 6 * 40 * 32 * 32
    assert grid.x.shape == (737_280, 1, 64, 64) and grid.x.dtype == np.float32
    assert grid.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert grid.factor_kinds == ("discrete", "continuous", "continuous", "continuous", "continuous")
    assert grid.factor_dag.number_of_edges() == 0
    assert isinstance(grid.x, ObservedArray)


def test_factor_values_are_the_official_grids(grid):
    shape, scale, orient, pos_x, pos_y = grid.factor_values
    np.testing.assert_array_equal(shape, [1, 2, 3])
    np.testing.assert_allclose(scale, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert len(orient) == 40 and orient[0] == 0 and np.isclose(orient[-1], 2 * np.pi)
    np.testing.assert_allclose(np.diff(orient), 2 * np.pi / 39)
    np.testing.assert_allclose(pos_x, np.arange(32) / 31)
    np.testing.assert_allclose(pos_y, np.arange(32) / 31)
    for k, values in enumerate(grid.factor_values):
        np.testing.assert_allclose(np.unique(grid.factors[:, k]), values)


def test_index_order_matches_official_formula(grid):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 737_280, 500)
    classes = D.latents_classes(idx)
    bases = np.asarray(D.LATENT_BASES)
    np.testing.assert_array_equal(classes @ bases, idx)   # official: index = classes . latents_bases
    np.testing.assert_array_equal(bases, np.concatenate([np.cumprod(D.LATENT_SIZES[::-1])[::-1][1:], [1]]))
    # hand-checked rows: posY varies fastest, then posX, orientation, scale, shape
    np.testing.assert_array_equal(D.latents_classes([0, 1, 32, 1024, 40960, 245760, 737279]),
                                  [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0],
                                   [0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 2, 5, 39, 31, 31]])
    values = D.latents_values(idx)
    assert np.all(values[:, 0] == 1.0)                          # colour constant, dropped from factors
    np.testing.assert_allclose(grid.factors[idx], values[:, 1:])
    np.testing.assert_allclose(D.latents_values([245760 + 2 * 40960 + 3 * 1024 + 4 * 32 + 5]),
                               [[1, 2, 0.7, 3 * 2 * np.pi / 39, 4 / 31, 5 / 31]])


def test_latents_classes_rejects_out_of_range_index():
    with pytest.raises(IndexError, match=r"\[0, 737280\)"):
        D.latents_classes([737_280])


def test_images_are_binary_deterministic_and_lazy(grid):
    idx = np.array([0, 5000, 400_000, 737_279])
    a, b = grid.images(idx), grid.x[idx]
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 1.0} and np.all(a.reshape(4, -1).sum(1) > 20)
    np.testing.assert_array_equal(grid.x[5000], a[1])
    np.testing.assert_array_equal(grid.x[-1], a[3])
    np.testing.assert_array_equal(grid.x[[5000, 0], 0], a[[1, 0], 0])
    sub = grid.subset(idx)
    assert isinstance(sub.x, ObservedArray)                     # subsets stay lazy
    np.testing.assert_array_equal(sub.images(), a)
    with pytest.raises(IndexError):
        grid.x[737_280]


def _mask(shape, scale=1.0, orientation=0.0, pos_x=0.5, pos_y=0.5):
    return render_sprites([shape], [scale], [orientation], [pos_x], [pos_y])[0]


def _centroid(img):
    rows, cols = np.nonzero(img)
    return rows.mean(), cols.mean()


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_area_increases_with_scale(shape):
    areas = [_mask(shape, scale=s).sum() for s in np.linspace(0.5, 1.0, 6)]
    assert np.all(np.diff(areas) > 0)
    assert areas[-1] / areas[0] == pytest.approx(4.0, rel=0.3)    # area ~ scale^2 (up to pixelation)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_every_scale_step_changes_the_image(shape):
    rng = np.random.default_rng(shape)
    for orientation, pos_x, pos_y in rng.uniform(0, 1, (5, 3)) * [2 * np.pi, 1, 1]:
        imgs = render_sprites(np.full(6, shape), np.linspace(0.5, 1, 6), np.full(6, orientation),
                              np.full(6, pos_x), np.full(6, pos_y))
        assert np.all(np.diff(imgs.sum(axis=(1, 2))) > 0)


def test_square_size_matches_official_look():
    side = np.nonzero(_mask(SQUARE).any(axis=0))[0]
    assert 64 / 4 <= side.size <= 64 / 3 + 1                       # scale-1 square: 1/4 .. 1/3 of the canvas
    assert _mask(SQUARE, scale=0.5).any(axis=0).sum() == pytest.approx(side.size / 2, abs=1)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_centroid_tracks_position(shape):
    pos = np.linspace(0, 1, 32)
    cols = [_centroid(_mask(shape, pos_x=p))[1] for p in pos]
    rows = [_centroid(_mask(shape, pos_y=p))[0] for p in pos]
    expected = sprite_centre(pos) * 64 - 0.5                     # pixel-centre coordinates
    np.testing.assert_allclose(cols, expected, atol=0.6)
    np.testing.assert_allclose(rows, expected, atol=0.6)
    assert 0.2 * 64 < min(cols) and max(cols) < 0.8 * 64        # centres span roughly 0.2 .. 0.8


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_largest_sprites_are_not_clipped_at_the_extreme_positions(shape):
    angles = np.linspace(0, 2 * np.pi, 40)
    for corner in (0.0, 1.0):
        imgs = render_sprites(np.full(40, shape), np.ones(40), angles, np.full(40, corner), np.full(40, corner))
        border = np.concatenate([imgs[:, 0], imgs[:, -1], imgs[:, :, 0], imgs[:, :, -1]], axis=1)
        assert not border.any()


def test_rotation_turns_heart_but_keeps_ellipse_area_and_centroids():
    angles = np.linspace(0, 2 * np.pi, 40)
    hearts = render_sprites(np.full(40, HEART), np.ones(40), angles, np.full(40, 0.5), np.full(40, 0.5))
    ellipses = render_sprites(np.full(40, ELLIPSE), np.ones(40), angles, np.full(40, 0.5), np.full(40, 0.5))
    assert np.abs(hearts[10] - hearts[0]).sum() > 0.15 * hearts[0].sum()   # a quarter turn changes the heart
    upside_down = _mask(HEART, orientation=np.pi)
    assert np.abs(upside_down - hearts[0]).sum() > 0.25 * hearts[0].sum()
    np.testing.assert_array_equal(upside_down, hearts[0][::-1])            # the heart is mirror-symmetric
    np.testing.assert_array_equal(hearts[0], hearts[-1])                    # 0 and 2 pi render alike
    areas = ellipses.sum(axis=(1, 2))
    assert areas.std() / areas.mean() < 0.03
    for img in (*hearts[::7], *ellipses[::7]):                              # rotation about the sprite centre
        np.testing.assert_allclose(_centroid(img), (31.5, 31.5), atol=0.5)


def test_heart_is_upright_at_orientation_zero():
    heart = _mask(HEART)
    rows = np.nonzero(heart.any(axis=1))[0]
    top_width, bottom_width = heart[rows[2]].sum(), heart[rows[-2]].sum()
    assert top_width > 3 * bottom_width                                      # lobes on top, tip at the bottom


def test_quarter_turn_is_counter_clockwise():
    base = _mask(HEART)
    turned = _mask(HEART, orientation=np.pi / 2)
    np.testing.assert_array_equal(turned, np.rot90(base))                    # np.rot90 turns counter-clockwise


def test_brightness_scales_pixels():
    img = render_sprites([SQUARE, SQUARE], [1, 1], [0, 0], [0.5, 0.5], [0.5, 0.5], brightness=[0.25, 1.0])
    assert set(np.unique(img[0])) == {0.0, 0.25}
    np.testing.assert_array_equal(img[0] * 4, img[1])


def test_render_rejects_bad_input():
    with pytest.raises(ValueError, match="shape codes must be in"):
        render_sprites([4], [1], [0], [0.5], [0.5])
    with pytest.raises(ValueError, match="length 2 .* or 1"):
        render_sprites([1, 1], [1, 1, 1], [0, 0], [0.5, 0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="positive"):
        render_sprites([1], [0.0], [0], [0.5], [0.5])


def test_subset_by_seed_is_sorted_reproducible_and_varies_with_seed():
    a, b, c = load("dsprites", n=50, seed=1), load("dsprites", n=50, seed=1), load("dsprites", n=50, seed=2)
    np.testing.assert_array_equal(a.factors, b.factors)
    assert not np.array_equal(a.factors, c.factors)
    idx = D.sampler().factors_to_index(a.factors)
    assert np.all(np.diff(idx) > 0)


def test_grid_do_sets_factor_and_rejects_off_grid_values():
    sampler = D.sampler()
    ds = sampler(200, {"shape": 3, "scale": 0.6}, seed=0)
    assert np.all(ds.factors[:, 0] == 3) and np.allclose(ds.factors[:, 1], 0.6)
    assert len(np.unique(ds.factors[:, 3])) > 10                            # others still vary
    np.testing.assert_array_equal(sampler.index_to_factors(sampler.factors_to_index(ds.factors)), ds.factors)
    with pytest.raises(ValueError, match="not on its grid"):
        sampler(5, {"scale": 0.55})
    with pytest.raises(ValueError, match=r"range \[0.5, 1\]"):
        sampler(5, {"scale": 2.0})
    with pytest.raises(KeyError, match="unknown factor 'color'"):
        sampler(5, {"color": 1})


def test_rendering_speed_is_reasonable():
    """Not a benchmark (see benchmarks/): only that rendering is vectorised, not per-pixel Python."""
    import time

    x = load("dsprites").x
    start = time.perf_counter()
    x[np.arange(0, 737_280, 737)]
    assert time.perf_counter() - start < 5.0                                 # ~0.05 s for 1000 images here


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 737_279), min_size=1, max_size=20))
def test_index_factor_round_trip(indices):
    sampler = D.sampler()
    factors = sampler.index_to_factors(indices)
    np.testing.assert_array_equal(sampler.factors_to_index(factors), indices)
    np.testing.assert_allclose(factors, D.latents_values(indices)[:, 1:])


@settings(max_examples=30, deadline=None)
@given(start=st.integers(-40, 40), stop=st.integers(-40, 40), step=st.sampled_from([1, 2, 3, -1, -2]))
def test_lazy_indexing_agrees_with_numpy(start, stop, step):
    ds = load("dsprites", n=40, seed=0)
    dense = ds.images()
    np.testing.assert_array_equal(ds.x[start:stop:step], dense[start:stop:step])
    mask = np.arange(40) % 3 == 0
    np.testing.assert_array_equal(ds.x[mask], dense[mask])
