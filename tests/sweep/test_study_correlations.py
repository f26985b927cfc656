"""Correlations across study cells on planted numbers with closed-form answers (causalvae.sweep.correlations).

The confounded cases use orthogonal polynomials on six points: z = 0..5 (a covariate such as the
active-latent count), p2 = (5, -1, -4, -4, -1, 5) and p3 = (-5, 7, 4, -4, -7, 5) are orthogonal to
the constant, to z and to each other, so residuals on (1, z) are exactly p2 and p3.
"""

import math

import numpy as np
import pytest
from scipy import stats

from causalvae.sweep.correlations import correlation, seed_interval

Z = np.arange(6.0)
P2 = np.array([5.0, -1, -4, -4, -1, 5])
P3 = np.array([-5.0, 7, 4, -4, -7, 5])
S_ZZ, P2_SQ, P3_SQ = 17.5, 84.0, 180.0  # sum (z - mean)^2, |p2|^2, |p3|^2
TOL = 1e-12  # float64 sums of six products of small integers


def test_planted_basis_is_orthogonal():
    design = np.column_stack([np.ones(6), Z])
    assert np.allclose(design.T @ P2, 0) and np.allclose(design.T @ P3, 0) and P2 @ P3 == 0
    assert ((Z - Z.mean()) ** 2).sum() == S_ZZ and P2 @ P2 == P2_SQ and P3 @ P3 == P3_SQ


def test_a_trade_off_made_by_the_covariate_vanishes_when_it_is_partialled_out():
    """Negative control: CES and DCI both follow the active count and nothing else."""
    ces, dci = 10 * Z + P2, -10 * Z + P3
    marginal = correlation(ces, dci)
    expected = -100 * S_ZZ / math.sqrt((100 * S_ZZ + P2_SQ) * (100 * S_ZZ + P3_SQ))
    assert marginal.r == pytest.approx(expected, abs=TOL) and expected < -0.93
    assert marginal.ci_high < 0 and marginal.p_value < 0.01
    partial = correlation(ces, dci, covariates=Z[:, None], covariate_names=["n_active_latents"])
    assert partial.r == pytest.approx(0.0, abs=TOL)
    assert partial.ci_low < 0 < partial.ci_high and partial.covariates == ("n_active_latents",)
    assert partial.p_value == pytest.approx(1.0, abs=1e-9)


def test_a_trade_off_beyond_the_covariate_survives():
    """Positive control: a negative association remains once the covariate is held fixed."""
    ces, dci = 10 * Z + P2, -10 * Z - P2 + P3
    partial = correlation(ces, dci, covariates=Z[:, None])
    assert partial.r == pytest.approx(-P2_SQ / math.sqrt(P2_SQ * (P2_SQ + P3_SQ)), abs=TOL)
    half = stats.norm.ppf(0.975) / math.sqrt(6 - 3 - 1)
    assert partial.ci_low == pytest.approx(math.tanh(math.atanh(partial.r) - half), abs=1e-12)
    assert partial.ci_high == pytest.approx(math.tanh(math.atanh(partial.r) + half), abs=1e-12)
    dof = 6 - 2 - 1
    t = abs(partial.r) * math.sqrt(dof / (1 - partial.r ** 2))
    assert partial.p_value == pytest.approx(2 * stats.t.sf(t, dof), rel=1e-12)


def test_pearson_interval_matches_scipy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = 0.6 * x + rng.normal(size=12)
    mine = correlation(x, y, method="pearson")
    ref = stats.pearsonr(x, y)
    ci = ref.confidence_interval(0.95)
    assert mine.r == pytest.approx(ref.statistic, abs=1e-12) and mine.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (mine.ci_low, mine.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert mine.boot_low < mine.r < mine.boot_high


def test_spearman_sees_a_monotone_relation_pearson_does_not_call_perfect():
    x = np.arange(1.0, 8.0)
    y = np.exp(x)
    assert correlation(x, y, method="spearman").r == pytest.approx(1.0, abs=TOL)
    pearson = correlation(x, y, method="pearson").r
    assert pearson == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12) and pearson < 0.9
    assert correlation(x, -y, method="spearman").r == pytest.approx(-1.0, abs=TOL)
    assert correlation(x, y, method="spearman").r == pytest.approx(stats.spearmanr(x, y).statistic, abs=TOL)


def test_undefined_cases_are_nan_not_numbers():
    assert math.isnan(correlation([1.0, 2.0], [2.0, 1.0]).r)  # two cells
    three = correlation([1.0, 2, 3, 4], [1.0, 3, 2, 4], covariates=np.array([[1.0, 2], [2, 1], [3, 3], [4, 0]]))
    assert math.isnan(three.r) and three.n == 4  # n < k + 3
    assert math.isnan(correlation([1.0, 2, 3, 4], [5.0, 5, 5, 5]).r)  # constant
    missing = correlation([1.0, 2, np.nan, 4, 5], [1.0, 2, 3, 4, 6])
    assert missing.n == 4


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="method must be one of"):
        correlation([1.0, 2, 3], [1.0, 2, 3], method="kendall")
    with pytest.raises(ValueError, match="one row per cell"):
        correlation([1.0, 2, 3], [1.0, 2])


def test_seed_interval_is_the_t_interval():
    r = seed_interval([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert (r["mean"], r["n"]) == (2.0, 3)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2 - half, 2 + half), abs=1e-12)
    assert seed_interval([float("nan"), 4.0])["n"] == 1 and math.isnan(seed_interval([])["mean"])
