"""Bad input: clear errors or documented well-defined values, never a silent NaN."""

import doctest
import importlib
import warnings

import numpy as np
import pytest

from causalvae.metrics import (CodeCache, beta_vae_score, dci, explicitness, factor_vae_score,
                               gaussian_total_correlation, irs, mig, modularity, sap)
from causalvae.metrics.validation import check_codes

RNG = np.random.default_rng(0)
V = RNG.integers(3, size=(120, 2)).astype(float)
Z = V + RNG.normal(scale=0.1, size=V.shape)

PAIR_METRICS = [mig, modularity, irs]


def dci_lasso(*args):
    return dci(*args, backend="lasso")


SPLIT_METRICS = [sap, dci_lasso, explicitness]


@pytest.mark.parametrize("metric", PAIR_METRICS)
def test_mismatched_lengths(metric):
    with pytest.raises(ValueError, match="120 rows but factors has 119"):
        metric(Z, V[:-1])


@pytest.mark.parametrize("metric", SPLIT_METRICS)
def test_mismatched_split(metric):
    with pytest.raises(ValueError, match="codes_train has 2 latents but codes_test has 3"):
        metric(Z, V, np.hstack([Z, Z[:, :1]]), V)
    with pytest.raises(ValueError, match="rows"):
        metric(Z, V, Z[:5], V)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("metric", [*PAIR_METRICS, gaussian_total_correlation])
def test_non_finite_codes(metric, bad):
    z = Z.copy()
    z[7, 1] = bad
    with pytest.raises(ValueError, match="non-finite values.*row 7, column 1"):
        metric(z, V) if metric is not gaussian_total_correlation else metric(z)


def test_finite_codes_whose_sum_overflows_are_accepted():
    huge = np.full((4, 2), 1e308)  # the fast check's sum overflows to inf; every value is finite
    np.testing.assert_array_equal(check_codes(huge), huge)


def test_wrong_dimensions_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"2-D array \(N samples x d latents\), got shape \(120,\)"):
        mig(Z[:, 0], V)


@pytest.mark.parametrize("metric", [*PAIR_METRICS, *SPLIT_METRICS])
def test_constant_factor_is_left_out_with_a_warning(metric):
    with_constant = np.hstack([V, np.full((len(V), 1), 4.0)])
    args = (Z, with_constant) if metric in PAIR_METRICS else (Z, with_constant, Z, with_constant)
    plain = (Z, V) if metric in PAIR_METRICS else (Z, V, Z, V)
    with pytest.warns(UserWarning, match=r"columns \[2\] are constant"):
        out = metric(*args)
    same = {k: v for k, v in out.items() if not k.startswith("mig.")}
    assert same == pytest.approx({k: v for k, v in metric(*plain).items() if not k.startswith("mig.")})


@pytest.mark.parametrize("metric", [*PAIR_METRICS, *SPLIT_METRICS])
def test_all_factors_constant_is_an_error(metric):
    const = np.ones_like(V)
    with pytest.raises(ValueError, match="every factor is constant"):
        metric(Z, const) if metric in PAIR_METRICS else metric(Z, const, Z, const)


def test_single_latent_gives_finite_documented_values():
    z = Z[:, :1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no hidden division warnings
        values = {**mig(z, V), **modularity(z, V), **irs(z, V), **sap(z, V, z, V),
                  **dci(z, V, z, V, backend="lasso"), **explicitness(z, V, z, V), **gaussian_total_correlation(z)}
    assert all(np.isfinite(v) for v in values.values())
    assert values["completeness"] == 1.0 and values["gaussian_tc"] == 0.0
    cache = CodeCache(V, codes=z)
    sampled = {**factor_vae_score(cache, batch_size=8, n_train=50, n_eval=50, n_variance=100),
               **beta_vae_score(cache, batch_size=8, n_train=50, n_eval=50)}
    assert all(np.isfinite(v) for v in sampled.values())


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="batch_size must be an integer >= 2"):
        factor_vae_score(CodeCache(V, codes=Z), batch_size=1)
    with pytest.raises(ValueError, match="diff_quantile"):
        irs(Z, V, diff_quantile=1.5)


@pytest.mark.parametrize("module", ["validation", "discrete", "information_gap", "attribute_predictability", "dci_scores",
                                    "modularity_explicitness", "robustness", "unsupervised", "sampling"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"causalvae.metrics.{module}"))
    assert result.attempted > 0 and result.failed == 0


CONTINUOUS_V = RNG.normal(size=(300, 2))  # every value unique: each sample would be its own class
CONTINUOUS_Z = CONTINUOUS_V + RNG.normal(scale=0.3, size=CONTINUOUS_V.shape)


@pytest.mark.parametrize("metric", [*PAIR_METRICS, *SPLIT_METRICS])
def test_continuous_factors_are_binned_with_a_warning_like_explicit_bins(metric):
    from causalvae.metrics import histogram_discretize

    binned = histogram_discretize(CONTINUOUS_V).astype(float)
    args = (CONTINUOUS_Z, CONTINUOUS_V) if metric in PAIR_METRICS else (CONTINUOUS_Z, CONTINUOUS_V) * 2
    explicit = (CONTINUOUS_Z, binned) if metric in PAIR_METRICS else (CONTINUOUS_Z, binned) * 2
    with pytest.warns(UserWarning, match=r"columns \[0, 1\] look continuous.*20 equal-width bins"):
        out = metric(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # binned factors are discrete: no second warning
        assert out == pytest.approx(metric(*explicit))


def test_mig_of_continuous_factors_is_no_longer_silently_zero():
    with pytest.warns(UserWarning, match="look continuous"):
        score = mig(CONTINUOUS_Z, CONTINUOUS_V)["mig"]
    assert score > 0.1


def test_test_split_is_binned_with_the_train_bins():
    from causalvae.metrics.validation import discrete_factors

    train = np.linspace(0.0, 1.0, 100)[:, None]
    test = np.array([[-5.0], [0.0], [0.5], [7.0]])  # outside the train range: first and last bin
    with pytest.warns(UserWarning, match="DCI"):
        binned_train, binned_test = discrete_factors(train, metric="DCI", n_bins=4, test=test)
    assert np.unique(binned_train).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert binned_test.ravel().tolist() == [0.0, 0.0, 2.0, 3.0]


def test_discrete_grids_with_many_values_are_left_alone():
    from causalvae.metrics.validation import discrete_factors

    orientation = np.repeat(np.arange(40.0), 5)[:, None]  # a 40-value grid factor (dSprites' orientation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert discrete_factors(orientation, metric="MIG")[0] is orientation
        assert mig(orientation + 0.1, orientation)["mig"] > 0.5


def test_declared_continuous_columns_are_binned_silently_and_checked():
    from causalvae.metrics import discrete_factors

    grid = np.repeat(np.arange(40.0), 5)[:, None]               # looks discrete: left alone by the heuristic
    factors = np.hstack([grid, grid])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # declared columns: the caller chose, no warning
        binned, _ = discrete_factors(factors, columns=[1], n_bins=4)
    assert binned[:, 0].tolist() == grid[:, 0].tolist()          # negative control: undeclared column untouched
    assert np.unique(binned[:, 1]).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert binned[:5, 1].tolist() == [0.0] * 5 and binned[-5:, 1].tolist() == [3.0] * 5
    assert discrete_factors(factors, columns=[])[0] is factors
    with pytest.raises(ValueError, match="columns must index the 2 factor columns"):
        discrete_factors(factors, columns=[2])


def test_sampled_scores_and_the_suite_accept_continuous_factors():
    from causalvae.metrics import suite

    cache = CodeCache(CONTINUOUS_V, codes=CONTINUOUS_Z)
    with pytest.warns(UserWarning, match="FactorVAE score: factors at columns"):
        factor_vae_score(cache, batch_size=8, n_train=50, n_eval=50, n_variance=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = suite(cache, n_train=200, n_test=100, dci_backends=("lasso",))
    assert all(np.isfinite(v) for v in out.values()) and out["mig"] > 0.1
