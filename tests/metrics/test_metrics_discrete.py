"""Histogram discretisation and discrete mutual information against sklearn / hand values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mutual_info_score

from causalvae.metrics import discrete_entropy, discrete_mutual_info, histogram_discretize


def test_histogram_bins_match_disentanglement_lib_digitize_rule():
    x = np.array([[0.0], [0.24], [0.25], [0.5], [0.99], [1.0]])
    assert histogram_discretize(x, n_bins=4).ravel().tolist() == [0, 0, 1, 2, 3, 3]


def test_constant_column_lands_in_one_bin():
    assert set(histogram_discretize(np.full((5, 1), 3.0), n_bins=20).ravel()) == {10}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 60), st.integers(1, 6), st.integers(1, 7))
def test_mutual_information_matches_sklearn(seed, n, code_values, factor_values):
    rng = np.random.default_rng(seed)
    codes = rng.integers(code_values, size=(n, 3))
    factors = rng.integers(factor_values, size=(n, 2))
    m = discrete_mutual_info(codes, factors)
    expected = [[mutual_info_score(factors[:, k], codes[:, i]) for k in range(2)] for i in range(3)]
    np.testing.assert_allclose(m, expected, atol=1e-12)
    np.testing.assert_allclose(discrete_entropy(factors),
                               [mutual_info_score(f, f) for f in factors.T], atol=1e-12)


def test_hand_computed_mutual_information():
    v = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])[:, None]
    z = np.array([0, 0, 0, 1, 1, 1, 1, 1])[:, None]
    expected = 3 / 8 * np.log(2) + 1 / 8 * np.log(2 / 5) + 1 / 2 * np.log(8 / 5)
    assert discrete_mutual_info(z, v)[0, 0] == pytest.approx(expected, abs=1e-12)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="N x d"):
        discrete_mutual_info(np.zeros((4, 2)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="2-D"):
        histogram_discretize(np.zeros(4))
    with pytest.raises(ValueError, match="n_bins"):
        histogram_discretize(np.zeros((4, 1)), n_bins=0)
