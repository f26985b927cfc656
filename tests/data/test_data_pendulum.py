"""``pendulum``: geometry known answers, SCM sampling / do / counterfactuals, and rendering from factor values."""

import doctest
import pickle

import numpy as np
import pytest

from causalvae.data import factor_pairs, load, names, pendulum, scm as scm_module
from causalvae.data.pendulum import (FACTOR_NAMES, FRAME_X, FRAME_Y, IMAGE_SIZE, LIGHT_ANGLE_RANGE,
                                     PENDULUM_ANGLE_RANGE, SHADOW_LENGTH_NOISE, SHADOW_LENGTH_RANGE,
                                     SHADOW_POSITION_NOISE, SHADOW_POSITION_RANGE, bob_centre, ground_shadow_x,
                                     light_centre, observe, render_pendulum, shadow_geometry)
from causalvae.data.scm import BoundedAdditive, Linear, StructuralCausalModel

COL = {name: k for k, name in enumerate(FACTOR_NAMES)}
PIXEL = (FRAME_X[1] - FRAME_X[0]) / IMAGE_SIZE
ROW_Y = FRAME_Y[1] - (np.arange(IMAGE_SIZE) + 0.5) * PIXEL            # y (up) of each pixel row's centre
COL_X = FRAME_X[0] + (np.arange(IMAGE_SIZE) + 0.5) * PIXEL
SHADOW_ROWS = ROW_Y < 0.5                                              # bar: y in [-1, 0]; bob stays above y = 1
LIGHT_ROWS = ROW_Y > 12.5                                              # light: y > 14.9; rod stays below y = 10.8


def _box(n: int = 401) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(*PENDULUM_ANGLE_RANGE, n)[:, None]
    phi = np.linspace(*LIGHT_ANGLE_RANGE, n)[None, :]
    return np.broadcast_arrays(theta, phi)


def test_geometry_known_answers():
    x, y = bob_centre(0.0)
    assert (float(x), float(y)) == (10.0, 2.5)                                        # hangs straight below the pivot
    np.testing.assert_allclose(bob_centre(np.pi / 2), (18.0, 10.5), atol=1e-12)
    np.testing.assert_allclose(light_centre(np.pi / 2), (10.0, 18.5), atol=1e-12)    # light overhead, above the pivot
    # a point on the light ray through ground point x0 casts its shadow at x0, whatever the angle
    phi = np.array([0.3, 0.9, np.pi / 2, 2.0, 2.6])
    for t in (0.0, 1.0, 7.5):
        x, y = 4.0 + t * np.cos(phi), -0.5 + t * np.sin(phi)
        np.testing.assert_allclose(ground_shadow_x(x, y, phi), 4.0, atol=1e-12)
    np.testing.assert_allclose(ground_shadow_x([1.0, 5.0], [3.0, 12.0], np.pi / 2), [1.0, 5.0], atol=1e-12)
    # hanging straight, light at 60 degrees: |a - b| = 9.5 cot(60), centre 10 - 6.25 cot(60)
    length, position = shadow_geometry(0.0, np.pi / 3)
    assert float(length) == pytest.approx(9.5 / np.sqrt(3))
    assert float(position) == pytest.approx(10 - 6.25 / np.sqrt(3))
    # the floor: light along the rod gives a point shadow, lengthened to 3
    assert tuple(map(float, shadow_geometry(0.0, np.pi / 2))) == pytest.approx((3.0, 10.0))
    assert float(shadow_geometry(0.2, np.pi / 2 + 0.2)[0]) == 3.0
    theta, phi = _box()
    raw = 9.5 * np.abs(np.cos(phi - theta)) / np.sin(phi)
    length, position = shadow_geometry(theta, phi)
    np.testing.assert_allclose(length, np.maximum(3.0, raw), rtol=1e-12)
    assert 0.2 < np.mean(raw < 3.0) < 0.6                                               # the floor is active often
    np.testing.assert_allclose(position, 10 + 4.75 * np.sin(theta) - (11 - 4.75 * np.cos(theta)) / np.tan(phi),
                               rtol=1e-12)


def test_geometry_mirror_symmetry():
    theta, phi = _box(41)
    inside = np.pi - phi <= LIGHT_ANGLE_RANGE[1]
    length, position = shadow_geometry(theta, phi)
    m_length, m_position = shadow_geometry(-theta, np.pi - phi)
    np.testing.assert_allclose(m_length, length, rtol=1e-12)
    np.testing.assert_allclose(m_position, 20.0 - position, atol=1e-12)
    t, p = theta[inside][:50], phi[inside][:50]
    images = render_pendulum(t, p, length[inside][:50], position[inside][:50])
    mirrored = render_pendulum(-t, np.pi - p, length[inside][:50], 20.0 - position[inside][:50])
    np.testing.assert_allclose(mirrored, images[:, :, ::-1], atol=1e-4)               # frame symmetric about x = 10


def test_matches_the_original_projection_on_its_grid():
    i, j = np.meshgrid(np.arange(-40, 44), np.setdiff1d(np.arange(60, 148), [100]), indexing="ij")
    theta, phi = i * np.pi / 200, j * np.pi / 200

    def original(x, y):                                   # CausalVAE's projection(theta, phi, x, y, base=-0.5)
        return (-0.5 - (y - x * np.tan(phi))) / np.tan(phi)

    a, b = original(10.0, 10.5), original(10 + 9.5 * np.sin(theta), 10.5 - 9.5 * np.cos(theta))
    length, position = shadow_geometry(theta, phi)
    np.testing.assert_allclose(length, np.maximum(3.0, np.abs(a - b)), rtol=1e-10)
    np.testing.assert_allclose(position, (a + b) / 2, rtol=1e-10)


def test_declared_ranges_contain_every_value_the_mechanisms_make():
    length, position = shadow_geometry(*_box())
    margin = np.sqrt(3.0)
    assert SHADOW_LENGTH_RANGE[0] <= length.min() - margin * SHADOW_LENGTH_NOISE
    assert length.max() + margin * SHADOW_LENGTH_NOISE <= SHADOW_LENGTH_RANGE[1]
    assert SHADOW_POSITION_RANGE[0] <= position.min() - margin * SHADOW_POSITION_NOISE
    assert position.max() + margin * SHADOW_POSITION_NOISE <= SHADOW_POSITION_RANGE[1]
    assert FRAME_X[0] < SHADOW_POSITION_RANGE[0] and SHADOW_POSITION_RANGE[1] < FRAME_X[1]   # centre always drawn
    v = pendulum.scm().sample(100_000, seed=1)
    sd_length, sd_position = np.std(length), np.std(position)
    assert 0.04 < SHADOW_LENGTH_NOISE / sd_length < 0.06 and 0.04 < SHADOW_POSITION_NOISE / sd_position < 0.06
    for name, (low, high) in (("shadow_length", SHADOW_LENGTH_RANGE), ("shadow_position", SHADOW_POSITION_RANGE),
                              ("pendulum_angle", PENDULUM_ANGLE_RANGE), ("light_angle", LIGHT_ANGLE_RANGE)):
        assert low <= v[:, COL[name]].min() and v[:, COL[name]].max() <= high, name


def test_samples_follow_the_equations_and_the_angles_are_independent():
    v = pendulum.scm().sample(100_000, seed=2)
    theta, phi = v[:, COL["pendulum_angle"]], v[:, COL["light_angle"]]
    counts, _, _ = np.histogram2d(theta, phi, bins=5, range=[PENDULUM_ANGLE_RANGE, LIGHT_ANGLE_RANGE])
    np.testing.assert_allclose(counts, len(v) / 25, rtol=0.06)                          # uniform and independent
    assert abs(np.corrcoef(theta, phi)[0, 1]) < 0.01
    assert abs(np.corrcoef(np.sin(theta), np.cos(phi) / np.sin(phi))[0, 1]) < 0.01
    length, position = shadow_geometry(theta, phi)
    for name, f, sigma in (("shadow_length", length, SHADOW_LENGTH_NOISE),
                           ("shadow_position", position, SHADOW_POSITION_NOISE)):
        e = (v[:, COL[name]] - f) / sigma
        assert np.abs(e).max() <= np.sqrt(3.0) + 1e-9 and e.std() == pytest.approx(1.0, rel=0.02), name
        assert abs(e.mean()) < 0.02 and abs(np.corrcoef(e, theta)[0, 1]) < 0.02, name
        assert abs(np.corrcoef(e, phi)[0, 1]) < 0.02, name
    assert np.corrcoef(v[:, COL["shadow_position"]], phi)[0, 1] > 0.8                   # light left -> shadow right


def test_dataset_images_and_determinism():
    assert "pendulum" in names()
    ds = load("pendulum", n=40, seed=3)
    assert ds.factor_names == FACTOR_NAMES and ds.factor_kinds == ("continuous",) * 4
    assert set(ds.factor_dag.edges) == {(a, b) for a in FACTOR_NAMES[:2] for b in FACTOR_NAMES[2:]}
    x = ds.images()
    assert x.shape == (40, 1, 64, 64) and x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    again = load("pendulum", n=40, seed=3)
    np.testing.assert_array_equal(again.factors, ds.factors)
    np.testing.assert_array_equal(again.images(), x)
    other = load("pendulum", n=40, seed=4)
    assert not np.any(other.factors == ds.factors)
    assert len(np.unique(x.reshape(40, -1), axis=0)) == 40
    with pytest.raises(TypeError, match="path= only applies"):
        load("pendulum", n=5, path="x.npz")
    clone = pickle.loads(pickle.dumps(ds))                                              # for worker processes
    np.testing.assert_array_equal(clone.images(), x)
    np.testing.assert_array_equal(clone.intervene(3, seed=1).images(), ds.intervene(3, seed=1).images())


def test_do_shadow_length_changes_only_the_shadow():
    scm = pendulum.scm()
    v = scm.sample(64, seed=5)
    cf = scm.counterfactual(v, {"shadow_length": 11.0})
    np.testing.assert_array_equal(np.delete(cf, COL["shadow_length"], 1), np.delete(v, COL["shadow_length"], 1))
    assert np.all(cf[:, COL["shadow_length"]] == 11.0)
    before, after = observe(v)[:, 0], observe(cf)[:, 0]
    np.testing.assert_array_equal(after[:, ~SHADOW_ROWS], before[:, ~SHADOW_ROWS])      # light, rod, bob untouched
    assert np.all(np.abs(after[:, SHADOW_ROWS] - before[:, SHADOW_ROWS]).sum(axis=(1, 2)) > 1.0)
    sampled = pendulum.sampler()(64, {"shadow_length": 11.0}, seed=5)                   # the same through do()
    np.testing.assert_array_equal(sampled.factors, cf)


def test_do_pendulum_angle_moves_bob_and_shadow_through_the_mechanisms():
    scm = pendulum.scm()
    v = scm.sample(64, seed=6)
    noise = scm.abduct(v)
    cf = scm.counterfactual(v, {"pendulum_angle": 0.5})
    length, position = shadow_geometry(0.5, v[:, COL["light_angle"]])
    np.testing.assert_allclose(cf[:, COL["shadow_length"]],
                               length + SHADOW_LENGTH_NOISE * noise[:, COL["shadow_length"]], rtol=1e-12)
    np.testing.assert_allclose(cf[:, COL["shadow_position"]],
                               position + SHADOW_POSITION_NOISE * noise[:, COL["shadow_position"]], rtol=1e-12)
    np.testing.assert_array_equal(cf[:, COL["light_angle"]], v[:, COL["light_angle"]])
    before, after = observe(v)[:, 0], observe(cf)[:, 0]
    np.testing.assert_array_equal(after[:, LIGHT_ROWS], before[:, LIGHT_ROWS])
    middle = ~LIGHT_ROWS & ~SHADOW_ROWS
    far = np.abs(v[:, COL["pendulum_angle"]] - 0.5) > 0.1
    assert far.sum() > 40
    assert np.all(np.abs(after[far][:, middle] - before[far][:, middle]).sum(axis=(1, 2)) > 5.0)  # rod and bob moved
    moved = np.abs(cf[:, COL["shadow_position"]] - v[:, COL["shadow_position"]]) > 0.5
    assert moved.sum() > 40
    assert np.all(np.abs(after[moved][:, SHADOW_ROWS] - before[moved][:, SHADOW_ROWS]).sum(axis=(1, 2)) > 1.0)
    bx, _ = bob_centre(0.5)
    dark = 1.0 - after[:, middle]                                                        # rod and bob darkness
    centroid_x = (dark * COL_X).sum(axis=(1, 2)) / dark.sum(axis=(1, 2))
    np.testing.assert_allclose(centroid_x, centroid_x[0])                                # same pose in every row
    assert 10.0 < centroid_x[0] < bx


@pytest.mark.parametrize("name, value", [("pendulum_angle", -0.3), ("light_angle", np.pi / 2),
                                         ("shadow_length", 4.0), ("shadow_position", 15.0)])
def test_counterfactuals_keep_the_base_noise_exactly(name, value):
    scm = pendulum.scm()
    noise = scm.sample_noise(500, seed=7)
    v = scm.solve(noise)
    np.testing.assert_allclose(scm.abduct(v), noise, atol=1e-9)                        # exact abduction
    cf = scm.counterfactual(v, {name: value})
    for other in FACTOR_NAMES:
        k = COL[other]
        if other == name:
            assert np.all(cf[:, k] == value)
        elif other in scm.descendants(name):
            mech = scm.mechanisms[other]
            pa = cf[:, [COL[p] for p in mech.parents]]
            np.testing.assert_allclose(cf[:, k], mech.f(pa) + mech.noise_scale * noise[:, k], rtol=1e-12, atol=1e-12)
            assert not np.allclose(cf[:, k], v[:, k])
        else:
            np.testing.assert_array_equal(cf[:, k], v[:, k])


@pytest.mark.parametrize("name, value, bounds", [
    ("pendulum_angle", 0.7, "-0.628"), ("light_angle", 0.5, "0.942"), ("shadow_length", 2.0, r"\[2.5, 13.0\]"),
    ("shadow_position", 20.5, r"\[1.5, 20.0\]"), ("shadow_length", np.nan, "finite"),
    ("shadow_position", np.inf, "finite")])
def test_do_outside_a_range_is_rejected(name, value, bounds):
    sampler = pendulum.sampler()
    with pytest.raises(ValueError, match=rf"do\({name}=\.\.\.\).*{bounds}"):
        sampler(10, {name: value})
    with pytest.raises(ValueError, match=rf"do\({name}=\.\.\.\)"):
        pendulum.scm().counterfactual(pendulum.scm().sample(3), {name: value})
    with pytest.raises(KeyError, match="unknown factor 'theta'"):
        sampler(10, {"theta": 0.0})


def test_rendering_draws_the_factor_values():
    image = render_pendulum(0.0, np.pi / 2, 6.0, 8.0)[0]
    shadow = 1.0 - image[SHADOW_ROWS]
    assert shadow.sum() * PIXEL ** 2 == pytest.approx(6.0 * 1.0, rel=1e-4)              # area = length x height 1
    assert (shadow.sum(axis=0) * COL_X).sum() / shadow.sum() == pytest.approx(8.0, abs=0.02)
    shifted = render_pendulum(0.0, np.pi / 2, 6.0, 8.0 + 3 * PIXEL)[0]                 # three pixels right
    np.testing.assert_allclose(shifted[SHADOW_ROWS][:, 3:], image[SHADOW_ROWS][:, :-3], atol=1e-5)
    bob = (image > 0.3) & (image < 0.4)                                                 # the bob's grey level
    rows, cols = np.nonzero(bob)
    assert COL_X[cols].mean() == pytest.approx(10.0, abs=0.05) and ROW_Y[rows].mean() == pytest.approx(2.5, abs=0.2)
    light = 1.0 - image[LIGHT_ROWS]                                                     # coverage-weighted centroid
    assert (light.sum(axis=0) * COL_X).sum() / light.sum() == pytest.approx(10.0, abs=1e-4)
    assert (light.sum(axis=1) * ROW_Y[LIGHT_ROWS]).sum() / light.sum() == pytest.approx(18.5, abs=0.02)
    assert light.sum() * PIXEL ** 2 / 0.35 == pytest.approx(np.pi * 1.5 ** 2, rel=0.01)  # disc of radius 1.5
    right = 1.0 - render_pendulum(0.0, 0.35 * np.pi, 6.0, 8.0)[0][LIGHT_ROWS]          # light moves with phi
    assert (right.sum(axis=0) * COL_X).sum() / right.sum() == pytest.approx(light_centre(0.35 * np.pi)[0], abs=0.02)


def test_small_factor_changes_change_pixels_continuously():
    base = render_pendulum(0.1, 1.2, 6.0, 9.0)
    for changed in (render_pendulum(0.1, 1.2, 6.01, 9.0), render_pendulum(0.1, 1.2, 6.0, 9.01),
                    render_pendulum(0.101, 1.2, 6.0, 9.0), render_pendulum(0.1, 1.201, 6.0, 9.0)):
        diff = np.abs(changed - base)
        assert 0.0 < diff.max() < 0.1 and diff.sum() > 0.01


def test_batch_rendering_equals_row_by_row():
    v = pendulum.scm().sample(256, seed=8)
    batch = observe(v)
    assert batch.shape == (256, 1, 64, 64) and batch.dtype == np.float32
    rows = np.concatenate([observe(v[i:i + 1]) for i in range(0, 256, 37)])
    np.testing.assert_array_equal(batch[::37], rows)
    np.testing.assert_array_equal(render_pendulum(0.1, [1.0, 2.0], 5.0, 10.0)[1],     # scalars broadcast
                                  render_pendulum(0.1, 2.0, 5.0, 10.0)[0])
    with pytest.raises(ValueError, match=r"one common length.*\[2, 3, 1, 1\]"):
        render_pendulum([0.0, 0.1], [1.0, 1.1, 1.2], 5.0, 10.0)
    with pytest.raises(ValueError, match=r"finite.*\['shadow_length'\]"):
        render_pendulum(0.0, 1.0, np.nan, 10.0)
    with pytest.raises(ValueError, match=r"shape \(n, 4\).*got \(3, 3\)"):
        observe(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="size must be a positive integer, got 0"):
        render_pendulum(0.0, 1.0, 5.0, 10.0, size=0)


def test_factor_pairs_and_interventional_samples():
    ds = load("pendulum", n=200, seed=0)
    pairs = factor_pairs(ds, "light_angle", n=16, seed=1)
    assert pairs.x.shape == pairs.x_prime.shape == (16, 1, 64, 64)
    theta = COL["pendulum_angle"]
    np.testing.assert_array_equal(pairs.factors_prime[:, theta], pairs.factors[:, theta])
    assert np.all(pairs.factors_prime[:, COL["shadow_position"]] != pairs.factors[:, COL["shadow_position"]])
    under = ds.intervene(20_000, {"pendulum_angle": 0.0}, seed=2)
    length = under.factors[:, COL["shadow_length"]]
    expected, _ = shadow_geometry(0.0, under.factors[:, COL["light_angle"]])
    assert np.abs(length - expected).max() <= np.sqrt(3.0) * SHADOW_LENGTH_NOISE + 1e-9
    assert under.meta["do"] == {"pendulum_angle": 0.0}


def test_bounded_additive_mechanism():
    mech = BoundedAdditive(("a",), Linear((1.0,)), 0.5, low=-2.0, high=2.0)
    model = StructuralCausalModel({"a": BoundedAdditive(noise_scale=0.25), "b": mech})
    v = model.sample(50_000, seed=0)
    assert np.abs(v[:, 0]).max() <= 0.25 * np.sqrt(3.0) and v[:, 0].std() == pytest.approx(0.25, rel=0.02)
    resid = v[:, 1] - v[:, 0]
    assert np.abs(resid).max() <= 0.5 * np.sqrt(3.0) and resid.std() == pytest.approx(0.5, rel=0.02)
    np.testing.assert_allclose(model.solve(model.abduct(v)), v, atol=1e-12)
    with pytest.raises(ValueError, match=r"do\(b=\.\.\.\) must lie in \[-2.0, 2.0\], got \[3.0\]"):
        model.check_do({"b": 3.0}, 1)
    with pytest.raises(ValueError, match=r"do\(a=\.\.\.\) must be finite"):
        model.check_do({"a": np.inf}, 1)
    model.check_do({"a": 1e6}, 1)                                                       # unbounded by default


@pytest.mark.parametrize("module", [pendulum, scm_module])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
