"""Known answers for the decoded-observation effects behind CES and intervention specificity."""

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from causalvae.interventions.decoded import decoded_effects, decoded_under_do, output_distance


class IdentityVAE(nn.Module):
    """encode(x) = (x, 0); decode(z) = z: decoded observations are the codes themselves."""

    def __init__(self, likelihood: str):
        super().__init__()
        self.config = SimpleNamespace(likelihood=likelihood)
        self.anchor = nn.Linear(1, 1)  # a parameter, so that the model has a device and dtype

    def encode(self, x):
        return x, torch.zeros_like(x)

    def decode(self, z):
        return z


def test_decoded_under_do_sets_one_coordinate_per_latent():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    base, under = decoded_under_do(IdentityVAE("gaussian"), x, np.array([-1.0, 5.0]), max_batch=3)
    np.testing.assert_array_equal(base, x)
    assert under.shape == (2, 2, 2, 2)  # latents x values x inputs x output
    np.testing.assert_array_equal(under[0, 1], [[5.0, 2.0], [5.0, 4.0]])
    np.testing.assert_array_equal(under[1, 0], [[1.0, -1.0], [3.0, -1.0]])
    per_latent = np.array([[0.0, 10.0, 11.0], [20.0, 30.0, 31.0]])  # (L, V) values: each latent its own
    _, own = decoded_under_do(IdentityVAE("gaussian"), x, per_latent)
    assert own.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(own[1, 1, :, 1], [30.0, 30.0])


def test_bernoulli_outputs_are_probabilities():
    x = np.zeros((1, 2), dtype=np.float32)
    base, under = decoded_under_do(IdentityVAE("bernoulli"), x, np.array([100.0]))
    np.testing.assert_allclose(base, 0.5)
    np.testing.assert_allclose(under[0, 0, 0], [1.0, 0.5])


def test_output_distance_is_mean_l2_over_inputs_and_values():
    base = np.zeros((2, 2))
    under = np.zeros((1, 2, 2, 2))
    under[0, 0, 0] = [3.0, 4.0]   # distance 5 for input 0 at value 0; 0 elsewhere
    under[0, 1, 1] = [0.0, 2.0]   # distance 2 for input 1 at value 1
    np.testing.assert_allclose(output_distance(base, under), [(5.0 + 0 + 0 + 2.0) / 4])


def test_decoded_effects_closed_form_on_the_identity_vae():
    x = np.array([[1.0, -2.0], [3.0, 0.5]], dtype=np.float32)
    grid = (-1.0, 2.0)
    eff = decoded_effects(IdentityVAE("gaussian"), x, grid=grid)
    # do(z_i = c) moves only coordinate i of the output: distance |c - x_i|, averaged over inputs and c
    expected = [np.mean([abs(c - v) for c in grid for v in x[:, i]]) for i in range(2)]
    np.testing.assert_allclose(eff.grid_distance, expected, rtol=1e-6)
    np.testing.assert_allclose(eff.zero_profiles, np.diag((x.astype(np.float64) ** 2).mean(axis=0)), rtol=1e-6)
    assert eff.n_output == 2
    # calibrated: each latent's own quantiles of its marginal
    q = np.quantile(x.astype(np.float64), [0.5], axis=0)[0]
    calibrated = decoded_effects(IdentityVAE("gaussian"), x, grid=grid, quantiles=(0.5,)).calibrated_distance
    np.testing.assert_allclose(calibrated, [np.mean(np.abs(q[i] - x[:, i])) for i in range(2)], rtol=1e-6)


def test_decoded_effects_refuse_a_model_that_is_not_a_vae():
    import pytest

    with pytest.raises(TypeError, match="need a causalvae VAE"):
        decoded_effects(nn.Linear(2, 2), np.zeros((2, 2), dtype=np.float32))
