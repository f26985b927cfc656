"""Per-latent KL, active latents, reconstruction quality and traversals on planted models."""

import numpy as np
import pytest
import torch

from causalvae.models import (active_latents, encode_dataset, latent_kl, latent_traversal, make_vae,
                              plot_traversals, reconstruction_quality)
from vae_fixtures import blobs, mlp_vae, tabular


def _planted(d: int = 6):
    """Encoder whose latent 0 has mu = x_0 / 2, logvar = 0; latents 1, 2 sit exactly at the prior."""
    model = mlp_vae(d=d, latent_dim=3)
    with torch.no_grad():
        first = model.encoder.fc1.layer
        first.weight.zero_(); first.bias.zero_()
        first.weight[0, 0], first.weight[1, 0] = 1.0, -1.0       # ReLU pair carrying +x0 and -x0
        second = model.encoder.fc2.layer
        second.weight.copy_(torch.eye(16)); second.bias.zero_()
        for head in (model.latent.mu, model.latent.logvar):
            head.weight.zero_(); head.bias.zero_()
        model.latent.mu.weight[0, 0], model.latent.mu.weight[0, 1] = 0.5, -0.5   # (relu(x0) - relu(-x0)) / 2
    return model


def test_latent_kl_and_active_latents_on_a_planted_encoder():
    x = tabular(200)
    model = _planted()
    mu, logvar = encode_dataset(model, x, batch_size=64)
    np.testing.assert_allclose(mu[:, 0], x[:, 0] / 2, rtol=1e-6, atol=1e-7)
    assert np.all(mu[:, 1:] == 0) and np.all(logvar == 0)
    kl = latent_kl(model, x)
    assert kl == pytest.approx([0.5 * np.mean((x[:, 0].astype(np.float64) / 2) ** 2), 0.0, 0.0], rel=1e-5)
    assert active_latents(model, x).tolist() == [True, False, False]
    assert active_latents(model, x, threshold=10.0).tolist() == [False, False, False]
    assert latent_kl(model, x, indices=[0, 1]) == pytest.approx(
        [0.5 * np.mean((x[:2, 0].astype(np.float64) / 2) ** 2), 0, 0], rel=1e-5)


def test_reconstruction_quality_against_the_constant_image():
    x = blobs(24)
    model = make_vae("vae", input_shape=(1, 64, 64), latent_dim=2)
    with torch.no_grad():  # decoder emits the logit of the data mean everywhere: it *is* the baseline
        mean = torch.from_numpy(x.mean(0))
        for p in model.decoder.parameters():
            p.zero_()
        model.decoder.deconv4.bias.fill_(float(torch.logit(mean.mean())))
    q = reconstruction_quality(model, x, batch_size=10)
    assert q["n"] == 24
    expected_baseline_mse = float(((x - x.mean(0)) ** 2).mean())
    assert q["baseline_mse"] == pytest.approx(expected_baseline_mse, rel=1e-6)
    p = float(mean.mean())  # the constant model predicts p at every pixel: its error is the spatial-constant one
    assert q["mse"] == pytest.approx(float(((x - p) ** 2).mean()), rel=1e-5)
    assert q["mse"] > q["baseline_mse"] and q["nll"] > q["baseline_nll"]


def test_traversal_at_the_posterior_mean_is_the_reconstruction(tmp_path):
    x = blobs(2)
    model = make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=3)
    mu = model.encode(torch.from_numpy(x[:1]))[0][0].detach()
    grid = latent_traversal(model, x[0], values=[-1.0, float(mu[1]), 1.0], latents=[1, 2])
    assert grid.shape == (2, 3, 1, 64, 64)
    recon = model.reconstruct(torch.from_numpy(x[:1]))[0].detach().numpy()
    np.testing.assert_allclose(grid[0, 1], recon, rtol=1e-5, atol=1e-6)
    assert not np.allclose(grid[0, 0], grid[0, 2])
    path = plot_traversals(model, x[0], tmp_path / "t.png", latent_kl=np.array([0.1, 2.0, 0.5]), title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"latents\[0\] must be an integer >= 0 and <= 2, got 3"):
        latent_traversal(model, x[0], latents=[3])
    with pytest.raises(ValueError, match=r"one observation of shape \(1, 64, 64\), got \(2, 1, 64, 64\)"):
        latent_traversal(model, x)


def test_empty_selection_is_an_error():
    with pytest.raises(ValueError, match="indices must hold at least 1 of integer indices, got 0"):
        latent_kl(mlp_vae(), tabular(10), indices=[])
