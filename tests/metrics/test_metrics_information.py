"""MIG and modularity: hand-computed cases, planted codes, invariances."""

import numpy as np
import pytest

from causalvae.metrics import mig, modularity, modularity_from_mi


def test_mig_hand_computed_two_latents():
    v = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])[:, None]
    z = np.stack([[0, 0, 0, 1, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1, 0, 1]], axis=1).astype(float)
    mi = 3 / 8 * np.log(2) + 1 / 8 * np.log(2 / 5) + 1 / 2 * np.log(8 / 5)
    assert mig(z, v, n_bins=2)["mig"] == pytest.approx(mi / np.log(2), abs=1e-9)


def test_mig_of_a_disentangled_code_is_one_and_of_a_rotation_low(grid, make_disentangled, make_entangled):
    assert mig(make_disentangled(grid), grid)["mig"] == pytest.approx(1.0, abs=1e-9)
    assert mig(make_entangled(grid), grid)["mig"] < 0.4


def test_mig_per_factor_keys_and_single_latent_convention():
    v = np.repeat(np.arange(4.0), 5)[:, None]
    out = mig(v * 3.0, v, n_bins=4)
    assert out == pytest.approx({"mig": 1.0, "mig.0": 1.0})


def test_mig_and_modularity_do_not_depend_on_row_order(grid, make_entangled):
    z = make_entangled(grid, seed=3)
    perm = np.random.default_rng(0).permutation(len(grid))
    assert mig(z[perm], grid[perm])["mig"] == pytest.approx(mig(z, grid)["mig"], abs=1e-12)
    assert modularity(z[perm], grid[perm]) == pytest.approx(modularity(z, grid), abs=1e-12)


def test_modularity_hand_computed():
    assert modularity_from_mi(np.array([[1.0, 0.0], [0.5, 0.5]])) == pytest.approx(0.5, abs=1e-12)
    # (1 + 1 - 1) / (1 * 2) = 0.5 -> 0.5; an uninformative latent scores 0
    assert modularity_from_mi(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])) == pytest.approx(0.25, abs=1e-12)
    assert modularity_from_mi(np.array([[0.3], [0.0]])) == pytest.approx(0.5, abs=1e-12)


def test_modularity_planted_codes(grid, make_disentangled, make_entangled):
    assert modularity(make_disentangled(grid), grid)["modularity"] == pytest.approx(1.0, abs=1e-9)
    assert modularity(make_entangled(grid), grid)["modularity"] < 0.9


def test_modularity_rejects_negative_information():
    with pytest.raises(ValueError, match="non-negative"):
        modularity_from_mi(np.array([[-1.0, 0.0]]))
