"""Known answers for the pipeline's image-space CES helpers."""

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from causalvae.pipeline.effect_stages import decoded_under_do, output_distance


class IdentityVAE(nn.Module):
    """encode(x) = (x, 0); decode(z) = z: decoded observations are the codes themselves."""

    def __init__(self, likelihood: str):
        super().__init__()
        self.config = SimpleNamespace(likelihood=likelihood)

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
