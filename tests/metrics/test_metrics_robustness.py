"""IRS, Gaussian total correlation and active latents: closed forms and planted codes."""

import numpy as np
import pytest

from causalvae.metrics import active_mask, gaussian_total_correlation, irs, n_active_latents


def test_irs_perfect_code_is_one_and_rotation_low(grid, make_disentangled, make_entangled):
    assert irs(make_disentangled(grid), grid)["irs"] == pytest.approx(1.0, abs=1e-9)
    assert irs(make_entangled(grid), grid)["irs"] < 0.6


def test_irs_hand_computed():
    v = np.array([0, 0, 1, 1.0])[:, None]
    z = np.array([0.0, 2.0, 2.0, 4.0])[:, None]  # groups {0, 2} and {2, 4}: |z - E[z|g]| = 1
    # diff_quantile 1 -> D = 1; M = max |z - 2| = 2; IRS = 1 - 1/2
    assert irs(z, v, diff_quantile=1.0, n_bins=2)["irs"] == pytest.approx(0.5, abs=1e-12)


def test_irs_drops_constant_latents_and_is_row_order_free(grid, make_entangled):
    z = make_entangled(grid)
    base = irs(z, grid)
    with_constant = irs(np.hstack([z, np.full((len(grid), 1), 2.0)]), grid)
    assert with_constant == pytest.approx({"irs": base["irs"], "irs_active_dims": 5.0}, abs=1e-12)
    perm = np.random.default_rng(0).permutation(len(grid))
    assert irs(z[perm], grid[perm])["irs"] == pytest.approx(base["irs"], abs=1e-12)
    assert irs(np.ones((len(grid), 2)), grid) == {"irs": 0.0, "irs_active_dims": 0.0}


def test_gaussian_tc_closed_form():
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 2.0]])
    z = np.random.default_rng(0).multivariate_normal(np.zeros(3), cov, size=4)
    sample_cov = np.cov(z, rowvar=False)
    expected = 0.5 * (np.log(np.diag(sample_cov)).sum() - np.linalg.slogdet(sample_cov)[1])
    assert gaussian_total_correlation(z)["gaussian_tc"] == pytest.approx(expected, abs=1e-9)
    big = np.random.default_rng(1).multivariate_normal(np.zeros(3), cov, size=200_000)
    truth = 0.5 * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1])
    assert gaussian_total_correlation(big)["gaussian_tc"] == pytest.approx(truth, abs=0.01)


def test_gaussian_tc_degenerate_cases():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2))
    assert gaussian_total_correlation(np.hstack([x, np.ones((100, 1))]))["tc_latents"] == 2.0
    assert gaussian_total_correlation(np.hstack([x, x[:, :1] * 2]))["gaussian_tc"] == np.inf
    assert gaussian_total_correlation(x[:, :1]) == {"gaussian_tc": 0.0, "tc_latents": 1.0}


def test_active_latents_from_kl_and_variance():
    kl = np.array([[0.5, 0.0, 0.02], [0.7, 0.001, 0.0]])
    assert active_mask(kl=kl).tolist() == [True, False, False]
    assert n_active_latents(kl=kl.mean(0), threshold=0.005) == 2
    codes = np.random.default_rng(0).normal(size=(500, 3)) * np.array([1.0, 0.01, 0.5])
    assert active_mask(codes=codes).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="exactly one"):
        active_mask()
    with pytest.raises(ValueError, match="non-negative"):
        active_mask(kl=np.array([-1.0]))
