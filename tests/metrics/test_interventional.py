"""Interventional metrics: closed forms, bounds, NaN semantics and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from causalvae.effects import EffectMatrix
from causalvae.metrics.interventional import (causal_effect_strength, circuit_modularity,
                                              circuit_modularity_per_layer, factor_specificity,
                                              intervention_specificity)


def test_ces_variants():
    r = causal_effect_strength(np.array([[1.0, 3.0], [4.0, 4.0], [0.0, 0.0]]), n_output=16, kl=[0.5, 0.02, 0.001],
                               calibrated_per_latent=[1.0, 2.0, 3.0], recon_error=12.5)
    assert r.paper == pytest.approx(2.0) and r.active_only == pytest.approx(3.0)
    assert r.sqrt_p_normalised == pytest.approx(0.5) and r.calibrated == pytest.approx(2.0)
    assert (r.n_active, r.n_latents, r.recon_error) == (2, 3, 12.5)
    none_active = causal_effect_strength([1.0, 2.0], n_output=4, kl=[0.0, 0.0])
    assert np.isnan(none_active.active_only) and none_active.n_active == 0


def test_ces_bad_input():
    with pytest.raises(ValueError, match="one value per latent"):
        causal_effect_strength([1.0, 2.0], n_output=4, kl=[0.1])
    with pytest.raises(ValueError, match="NaN"):
        causal_effect_strength([1.0, np.nan], n_output=4)
    with pytest.raises(ValueError, match="n_output"):
        causal_effect_strength([1.0], n_output=0)


def test_specificity_closed_form():
    prof = np.array([[4.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    r = intervention_specificity(prof)
    np.testing.assert_allclose(r.entropy[:3], [0.0, np.log(2), np.log(4)])
    np.testing.assert_allclose(r.paper[:3], 1.0 / (np.array([0.0, np.log(2), np.log(4)]) + 1e-6))
    np.testing.assert_allclose(r.bounded[:3], [1.0, 0.5, 0.0], atol=1e-12)
    assert np.isnan(r.paper[3]) and np.isnan(r.bounded[3])  # a latent that changes nothing has no specificity
    assert r.mean_bounded == pytest.approx(0.5)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (3, 5), elements=st.floats(0, 10)))
def test_bounded_specificity_lies_in_unit_interval(prof):
    b = intervention_specificity(prof).bounded
    finite = b[np.isfinite(b)]
    assert np.all((finite >= -1e-12) & (finite <= 1 + 1e-12))
    assert np.array_equal(np.isnan(b), prof.sum(1) == 0)


def test_factor_specificity():
    np.testing.assert_allclose(factor_specificity([[2.0, 2.0], [0.0, 5.0]]), [0.5, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        factor_specificity([[1.0, -1.0]])


def test_circuit_modularity_closed_form():
    d = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 0.0, 1.0], [5.0, 5.0, 5.0]])
    r = circuit_modularity(d)
    # corr(0,1) = -1, corr(0,2) = 0, corr(1,2) = 0; pairs with the constant row 3 are undefined
    assert r.value == pytest.approx(1 - 1 / 3) and (r.n_pairs, r.n_undefined) == (3, 3)
    inactive = circuit_modularity(d, active=[True, True, False, False])
    assert inactive.value == pytest.approx(0.0) and inactive.latents == (0, 1)
    assert np.isnan(circuit_modularity(d, active=[True, False, False, True]).value)


def test_circuit_modularity_per_layer_groups_sites():
    m = EffectMatrix(np.array([[1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 4.0]]), ["latent.mu[0]", "latent.mu[1]"],
                     ["a[0]", "a[1]", "b[0]", "b[1]"], intervention="do(z=c)", statistic="mean", n_samples=3)
    per = circuit_modularity_per_layer(m)
    assert per["a"].value == pytest.approx(0.0) and per["b"].value == pytest.approx(0.0)
    with pytest.raises(ValueError, match="boolean mask"):
        circuit_modularity(m.values, active=[True])
