"""Known-answer and property tests of the loss terms."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from causalvae.models.losses import (aggregate_posterior_covariance, dip_penalties, discriminator_loss,
                                     discriminator_tc, evaluate_terms, kl_per_latent, mws_decomposition,
                                     permute_dims, reconstruction_nll)
from causalvae.models.variants import adversary_loss
from vae_fixtures import mlp_vae


def test_kl_of_known_gaussians():
    # KL(N(1, 1) || N(0, 1)) = 1/2;  KL(N(0, 4) || N(0, 1)) = (4 - 1 - log 4) / 2
    mu = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(4.0)]], dtype=torch.float64)
    kl = kl_per_latent(mu, logvar)
    assert kl.tolist() == pytest.approx([0.5, (3.0 - math.log(4.0)) / 2], abs=1e-12)


def test_kl_averages_over_the_batch():
    mu = torch.tensor([[2.0], [0.0]], dtype=torch.float64)
    assert kl_per_latent(mu, torch.zeros_like(mu)).item() == pytest.approx((2.0 + 0.0) / 2)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=1, max_size=8))
def test_kl_is_non_negative_and_zero_only_at_the_prior(pairs):
    mu = torch.tensor([[m for m, _ in pairs]], dtype=torch.float64)
    logvar = torch.tensor([[v for _, v in pairs]], dtype=torch.float64)
    kl = kl_per_latent(mu, logvar)
    assert (kl >= -1e-12).all()
    assert kl_per_latent(torch.zeros_like(mu), torch.zeros_like(mu)).abs().max() == 0


def test_reconstruction_nll_hand_values():
    x = torch.tensor([[1.0, 0.0]])
    # Bernoulli: -log sigmoid(0) - log(1 - sigmoid(2)) = log 2 + log(1 + e^2)
    nll = reconstruction_nll(x, torch.tensor([[0.0, 2.0]]), likelihood="bernoulli")
    assert nll.item() == pytest.approx(math.log(2) + math.log(1 + math.e ** 2), rel=1e-6)
    # Gaussian, std 0.5: sum_i (x_i - m_i)^2 / (2 * 0.25) + 2 * (log 0.5 + log(2 pi) / 2)
    g = reconstruction_nll(x, torch.tensor([[0.5, 0.0]]), likelihood="gaussian", obs_std=0.5)
    assert g.item() == pytest.approx(0.25 / 0.5 + 2 * (math.log(0.5) + 0.5 * math.log(2 * math.pi)), rel=1e-6)
    with pytest.raises(ValueError, match=r"expected \(1, 3\), got \(1, 2\)"):
        reconstruction_nll(x, torch.zeros(1, 3), likelihood="bernoulli")
    with pytest.raises(ValueError, match="likelihood must be"):
        reconstruction_nll(x, x, likelihood="poisson")


def _aggregate_sample(cov: np.ndarray, n: int, post_var: float, seed: int):
    """Posteriors N(mu_j, post_var I) with mu_j ~ N(0, cov - post_var I): aggregate q(z) = N(0, cov)."""
    rng = np.random.default_rng(seed)
    mu = rng.multivariate_normal(np.zeros(len(cov)), cov - post_var * np.eye(len(cov)), size=n)
    z = mu + math.sqrt(post_var) * rng.normal(size=mu.shape)
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
    return t(z), t(mu), t(np.full_like(mu, math.log(post_var)))


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_total_correlation_of_factorised_vs_correlated_gaussian(rho):
    # TC of a Gaussian with correlation matrix R is -1/2 log det R: 0 and -1/2 log(1 - rho^2) = 0.5108
    cov = np.array([[1.0, rho], [rho, 1.0]])
    expected = -0.5 * math.log(np.linalg.det(cov))
    z, mu, logvar = _aggregate_sample(cov, 2000, 0.05, seed=0)
    terms = mws_decomposition(z, mu, logvar)
    assert terms["tc"].item() == pytest.approx(expected, abs=0.06)


def test_mws_terms_sum_to_the_monte_carlo_kl():
    # MI + TC + dim-KL = E[log q(z|x) - log p(z)] exactly (the decomposition telescopes)
    z, mu, logvar = _aggregate_sample(np.eye(3) * 1.5, 200, 0.3, seed=1)
    terms = mws_decomposition(z, mu, logvar)
    log_q = -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp()).sum(1)
    log_p = -0.5 * (math.log(2 * math.pi) + z ** 2).sum(1)
    assert sum(terms.values()).item() == pytest.approx((log_q - log_p).mean().item(), abs=1e-9)


def test_dip_covariance_penalty_hand_computed():
    mu = torch.tensor([[1.0, 2.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, -2.0]], dtype=torch.float64)
    logvar = torch.full_like(mu, math.log(0.5))
    # Cov[mu] = [[1, 1], [1, 2]] (population), + E[diag var] = 0.5 I  ->  [[1.5, 1], [1, 2.5]]
    cov = aggregate_posterior_covariance(mu, logvar)
    assert cov.flatten().tolist() == pytest.approx([1.5, 1.0, 1.0, 2.5])
    pen = dip_penalties(mu, logvar)
    assert pen["offdiag"].item() == pytest.approx(2.0)          # 1^2 + 1^2
    assert pen["diag"].item() == pytest.approx(0.5 ** 2 + 1.5 ** 2)


def test_permute_dims_shuffles_each_column_independently():
    z = torch.arange(200.0).reshape(100, 2)
    p = permute_dims(z, generator=torch.Generator().manual_seed(0))
    assert torch.equal(p, permute_dims(z, generator=torch.Generator().manual_seed(0)))
    for j in range(2):
        assert torch.equal(p[:, j].sort().values, z[:, j])
    assert not torch.equal(p[:, 0] - z[p[:, 0].long() // 2, 0] * 0, z[:, 0])  # rows were moved
    pairs_kept = ((p[:, 1] - p[:, 0]) == 1).float().mean()
    assert pairs_kept < 0.2  # joint pairing (2k, 2k + 1) is broken


def test_factor_vae_discriminator_learns_the_total_correlation():
    # z ~ N(0, [[1, .9], [.9, 1]]): TC = -1/2 log(1 - .81) = 0.830; a trained density-ratio
    # discriminator beats chance (log 2) at telling z from permuted z and its mean logit estimates TC.
    model = mlp_vae("factor-vae", latent_dim=2)
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=1024).astype(np.float32))
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    first = adversary_loss(model, z, generator=gen).item()
    for _ in range(150):
        opt.zero_grad()
        loss = adversary_loss(model, z, generator=gen)
        loss.backward()
        opt.step()
    assert first == pytest.approx(math.log(2), abs=0.05)
    assert loss.item() < 0.6
    with torch.no_grad():
        assert discriminator_tc(model.discriminator, z).item() == pytest.approx(0.830, abs=0.25)
        assert discriminator_loss(model.discriminator, z, generator=gen).item() < 0.6


def test_evaluate_terms_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"unknown loss terms \['elbo'\]"):
        evaluate_terms(["elbo"], None)
