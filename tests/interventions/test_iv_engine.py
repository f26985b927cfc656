"""The optimised engine equals the plain per-unit hook loop on the conv VAE, in every mode."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from causalvae.interventions import ablate_outside, ablation_effects, capture, edge_effects, mediation_outcomes
from causalvae.interventions.alternatives import prepare_alternative
from causalvae.interventions.analysis import analysis
from causalvae.interventions.effect_plumbing import resolve
from causalvae.interventions.engine import exact_scan
from causalvae.interventions.trace import trace

TARGETS = ["latent.mu", "decoder.deconv2", "output", "recon_error", "output_l2"]


def _pick(model, x):
    """First and last unit of every site, plus one unit that is zero on every input at two sites."""
    acts = capture(model, x, ["encoder.fc", "decoder.fc2"])
    units = {s.name: sorted({0, s.n_units - 1}) for s in model.sites}
    for site, a in acts.items():
        dead = torch.nonzero(a.abs().amax(0) == 0).ravel()[:1].tolist()
        units[site] = sorted(set(units[site]) | set(dead))
    return units


@pytest.mark.slow
def test_engine_equals_hook_loop_on_conv_vae(conv_vae, binary_images):
    units = _pick(conv_vae, binary_images)
    exact = ablation_effects(conv_vae, binary_images, sites=units, targets=TARGETS, batch_size=2)
    naive = ablation_effects(conv_vae, binary_images, sites=units, targets=TARGETS, method="naive")
    assert exact.sources == naive.sources and exact.targets == naive.targets
    assert np.abs(exact.values - naive.values).max() <= 1e-5
    assert np.abs(naive.values).max() > 1.0  # the comparison is not vacuous
    meta = exact.meta
    assert meta["skipped_noops"] > 0 and meta["linear_path_units"] > 0 and meta["recomputed_units"] > 0


@pytest.mark.parametrize("kind", ["mean", "resample"])
def test_engine_equals_hook_loop_for_other_alternatives(conv_vae, binary_images, kind):
    units = {"encoder.conv2": [0, 17], "decoder.fc1": [3, 200], "decoder.deconv3": [0, 31]}
    kw = dict(sites=units, targets=["latent.mu", "recon_error"], kind=kind, seed=2)
    exact = ablation_effects(conv_vae, binary_images, **kw)
    naive = ablation_effects(conv_vae, binary_images, method="naive", **kw)
    assert np.abs(exact.values - naive.values).max() <= 1e-5


@pytest.mark.slow
def test_stacked_interventions_linear_path_and_chunks_agree(conv_vae, binary_images):
    units = {"encoder.conv1": [0, 31], "encoder.fc": [5, 6], "latent.mu": [0, 9], "decoder.fc2": [1, 2, 3],
             "decoder.deconv2": [4, 5], "decoder.deconv3": [7]}
    with analysis(conv_vae, binary_images) as an:
        _, sources, targets = resolve(an, binary_images, units, TARGETS)
        alt = prepare_alternative(conv_vae, binary_images, list(sources), kind="zero")
        traced = trace(conv_vae, list(sources) + ["latent.mu", "decoder.deconv2"])
        runs = [exact_scan(an, traced, binary_images, sources=sources, targets=targets, alternative=alt,
                           **kw)[0].result("rms")
                for kw in ({}, {"units_per_pass": 4}, {"linear_path": False, "skip_noops": False}, {"batch_size": 1})]
    for other in runs[1:]:
        assert np.abs(other - runs[0]).max() <= 1e-5


def test_mu_only_sweep_stops_at_mu(conv_vae, binary_images):
    traced = trace(conv_vae, ["encoder.conv1", "latent.mu"])
    downstream = traced.downstream("encoder.conv1", ("latent.mu",))
    assert not any("decoder" in str(n.target) for n in downstream)
    assert downstream[-1] is traced.site_nodes["latent.mu"]


@pytest.mark.slow
def test_screen_then_verify_reports_measured_agreement(conv_vae, binary_images):
    units = {"encoder.conv3": list(range(0, 64, 4)), "encoder.fc": list(range(0, 256, 16))}
    exact = ablation_effects(conv_vae, binary_images, sites=units, targets=["latent.mu"])
    screen = ablation_effects(conv_vae, binary_images, sites=units, targets=["latent.mu"], method="screen",
                              verify_fraction=0.1)
    rows = screen.meta["verified_rows"]
    assert len(rows) == screen.meta["n_verified"] == 4
    np.testing.assert_allclose(screen.values[rows], exact.values[rows], atol=1e-6)
    rho = screen.meta["verified_rank_correlation"]
    assert np.isfinite(rho) and -1 <= rho <= 1


def test_edge_effects_are_consecutive_blocks(conv_vae, binary_images):
    order = ["encoder.conv4", "encoder.fc", "latent.mu"]
    m = edge_effects(conv_vae, binary_images, sites=order)
    assert m.shape == (64 + 256, 256 + 10) and m.meta["pairs"] == [order[:2], order[1:]]
    block = ablation_effects(conv_vae, binary_images, sites=["encoder.fc"], targets=["latent.mu"])
    np.testing.assert_allclose(m.select(sources=block.sources, targets=block.targets).values, block.values)
    assert np.all(m.values[:64, 256:] == 0.0)


class _Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        h = self.fc(x)
        if h.sum() > 0:  # data-dependent control flow defeats torch.fx
            h = torch.relu(h)
        return self.out(h)


def test_untraceable_model_falls_back_to_the_hook_loop(positive_inputs):
    torch.manual_seed(0)
    model = _Untraceable()
    with pytest.warns(UserWarning, match="falling back to the per-unit hook loop"):
        m = ablation_effects(model, positive_inputs, sites=["fc"], targets=["out"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        naive = ablation_effects(model, positive_inputs, sites=["fc"], targets=["out"], method="naive")
    assert m.meta["method"] == "naive"
    np.testing.assert_array_equal(m.values, naive.values)


@pytest.mark.slow
def test_mediation_through_a_complete_mediator(conv_vae, binary_images):
    x, xp = binary_images, binary_images.flip(-1)
    r = mediation_outcomes(conv_vae, x, xp, mediators=["latent.mu"], outcome="output")
    assert r["y"].shape == (3, 4096) and r["y"].dtype == np.float64
    np.testing.assert_array_equal(r["y_nie"], r["y_prime"])  # everything flows through mu
    np.testing.assert_array_equal(r["y_nde"], r["y"])
    partial = mediation_outcomes(conv_vae, x, xp, mediators=["encoder.fc[3]", "encoder.conv4[1]"],
                                 outcome="latent.mu[2]")
    assert partial["y"].shape == (3,)
    assert not np.array_equal(partial["y_nie"], partial["y"])
    idle = mediation_outcomes(conv_vae, x, xp, mediators=["latent.logvar"], outcome="recon_error")
    np.testing.assert_array_equal(idle["y_nie"], idle["y"])  # logvar does not feed the analysis forward


@pytest.mark.slow
def test_ablate_outside_keeps_and_removes(conv_vae, binary_images):
    full = {f"encoder.fc[{i}]" for i in range(256)} | {"factor.scale"}
    kept = ablate_outside(conv_vae, binary_images, full, sites=["encoder.fc"], outcome="latent.mu")
    clean = mediation_outcomes(conv_vae, binary_images, binary_images, mediators=["encoder.fc"],
                               outcome="latent.mu")["y"]
    np.testing.assert_array_equal(kept, clean)
    none = ablate_outside(conv_vae, binary_images, set(), sites=["encoder.fc"], kind="zero", outcome="latent.mu")
    np.testing.assert_allclose(none, np.broadcast_to(conv_vae.latent.mu.bias.detach().double().numpy(), none.shape),
                               atol=1e-6)
    with pytest.raises(IndexError, match="out of range"):
        ablate_outside(conv_vae, binary_images, {"encoder.fc[999]"}, sites=["encoder.fc"])


def test_default_edge_pairs_follow_the_graph(conv_vae):
    from causalvae.interventions.ablation import _next_site_pairs

    pairs = dict(_next_site_pairs(conv_vae, list(conv_vae.site_names)))
    assert pairs["latent.mu"] == "latent.z" and "latent.logvar" not in pairs
    assert pairs["encoder.fc"] == "latent.mu" and pairs["decoder.deconv3"] == "decoder.deconv4"
    assert "decoder.deconv4" not in pairs
