"""Known-answer tests: planted networks whose effects are closed-form; every method must match."""

import numpy as np
import pytest
import torch

from causalvae.interventions import ablation_effects, latent_effects, patching_effects

EXACT_METHODS = ["exact", "naive"]
ALL_LINEAR_METHODS = ["exact", "naive", "attribution"]


@pytest.mark.parametrize("method", ALL_LINEAR_METHODS)
@pytest.mark.parametrize("statistic", ["mean_abs", "mean", "rms"])
def test_zero_ablation_of_hidden_units_matches_closed_form(planted_mlp, positive_inputs, method, statistic):
    pre, h, w2, _ = planted_mlp.numpy_parts(positive_inputs)
    m = ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2", "output"], method=method,
                         statistic=statistic)
    change = -h[:, :, None] * w2.T[None]  # (N, hidden j, out k): removing h_j changes y_k by -W2[k, j] h_j
    expected = {"mean_abs": np.abs(change).mean(0), "mean": change.mean(0),
                "rms": np.sqrt((change ** 2).mean(0))}[statistic]
    assert m.sources == ("act[0]", "act[1]", "act[2]", "act[3]")
    np.testing.assert_allclose(m.values[:, :3], expected, atol=1e-6)
    np.testing.assert_allclose(m.values[:, 3:], expected, atol=1e-6)  # the skip path does not change the answer
    assert np.all(m.values[3] == 0.0)  # unit 3 is dead on these inputs
    assert m.intervention == "zero-ablation" and m.statistic == statistic and m.n_samples == len(positive_inputs)


@pytest.mark.parametrize("method", ALL_LINEAR_METHODS)
def test_pre_activation_ablation_through_relu(planted_mlp, positive_inputs, method):
    pre, h, w2, _ = planted_mlp.numpy_parts(positive_inputs)
    m = ablation_effects(planted_mlp, positive_inputs, sites=["fc1"], targets=["fc2"], method=method, statistic="mean")
    # zeroing a positive pre-activation removes h_j; zeroing a negative one changes nothing after the ReLU
    np.testing.assert_allclose(m.values, (-h[:, :, None] * w2.T[None]).mean(0), atol=1e-6)


@pytest.mark.parametrize("method", EXACT_METHODS)
def test_recon_error_change_in_float64(planted_mlp, positive_inputs, method):
    _, h, w2, y = planted_mlp.numpy_parts(positive_inputs)
    x = positive_inputs.double().numpy()
    m = ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["recon_error"], method=method,
                         statistic="mean")
    base = ((y - x) ** 2).sum(1)
    expected = [(((y - h[:, [j]] * w2[:, j]) - x) ** 2).sum(1) - base for j in range(4)]
    np.testing.assert_allclose(m.values[:, 0], np.mean(expected, axis=1), atol=1e-5)


@pytest.mark.parametrize("method", EXACT_METHODS + ["attribution"])
def test_mean_set_and_patch_alternatives(planted_mlp, positive_inputs, method):
    _, h, w2, _ = planted_mlp.numpy_parts(positive_inputs)
    src = positive_inputs.flip(0) * 2.0
    _, h_src, _, _ = planted_mlp.numpy_parts(src)
    cases = {"mean": (h.mean(0) - h, {}), "set": (1.5 - h, {"value": 1.5}), "patch": (h_src - h, {"x_source": src}),
             "add": (np.full_like(h, 0.7), {"value": 0.7}), "scale": (h * 2.0, {"value": 3.0})}
    for kind, (dh, kw) in cases.items():
        m = ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2"], kind=kind, method=method,
                             statistic="mean_abs", **kw)
        np.testing.assert_allclose(m.values, np.abs(dh[:, :, None] * w2.T[None]).mean(0), atol=1e-5, err_msg=kind)


def test_conditional_mean_uses_group_means(planted_mlp, positive_inputs):
    _, h, w2, _ = planted_mlp.numpy_parts(positive_inputs)
    labels = np.arange(len(positive_inputs)) % 3
    group_mean = np.stack([h[labels == g].mean(0) for g in range(3)])[labels]
    for method in EXACT_METHODS:
        m = ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2"], kind="conditional-mean",
                             labels=labels, method=method, statistic="mean")
        np.testing.assert_allclose(m.values, ((group_mean - h)[:, :, None] * w2.T[None]).mean(0), atol=1e-6)


@pytest.mark.parametrize("method", ALL_LINEAR_METHODS)
def test_conv_channel_ablation_through_strided_transposed_conv(planted_conv, method):
    x = torch.rand(5, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    xn = x.double().numpy()[:, 0]
    h = np.stack([np.maximum(xn, 0), np.maximum(-xn + 0.25, 0)], axis=1)  # (N, 2, 6, 6)
    kernel = np.array([[1.0, -2.0], [0.5, 0.0]])
    scale = np.array([1.0, 3.0])
    m = ablation_effects(planted_conv, x, sites=["block"], targets=["output"], method=method, statistic="mean")
    # each input pixel of channel c writes -k_c * kernel * h_c into its own 2x2 output block
    np.testing.assert_allclose(m.values[:, 0], -h.mean((0, 2, 3)) * scale * kernel.mean(), atol=1e-6)
    if method != "attribution":  # attribution reads conv targets as spatial means (documented)
        m = ablation_effects(planted_conv, x, sites=["block"], targets=["output"], method=method)
        np.testing.assert_allclose(m.values[:, 0], h.mean((0, 2, 3)) * scale * np.abs(kernel).mean(), atol=1e-6)
    if method == "exact":
        assert m.meta["linear_path_units"] == 2


def test_dead_channel_is_skipped_and_exactly_zero(planted_conv):
    x = 0.3 + torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(4))  # channel 1 = relu(0.25 - x) = 0
    m = ablation_effects(planted_conv, x, sites=["block"], targets=["output", "output_l2"])
    assert m.meta["skipped_noops"] == 1
    assert np.all(m.values[1] == 0.0) and np.all(m.values[0] > 0)


@pytest.mark.parametrize("method", EXACT_METHODS)
def test_latent_grid_effects_closed_form(linear_vae, linear_vae_spec, method):
    model, a, d = linear_vae
    x = torch.rand(9, 4, generator=torch.Generator().manual_seed(5))
    mu = x.double().numpy() @ a.T
    grid = np.array([-1.0, 0.5, 2.0])
    m = latent_effects(model, x, values=grid, statistic="mean", method=method, spec=linear_vae_spec)
    assert m.sources == ("latent.mu[0]", "latent.mu[1]")
    assert m.targets == ("decoder[0]", "decoder[1]", "decoder[2]", "decoder[3]", "output[0]", "output[1]",
                         "output[2]", "output[3]", "output_l2")
    shift = grid[:, None, None] - mu[None]  # (values, N, latents)
    ces = np.linalg.norm(d, axis=0) * np.abs(shift).mean((0, 1))
    np.testing.assert_allclose(m.values[:, -1], ces, atol=1e-5)
    np.testing.assert_allclose(m.values[:, 4:8], (shift.mean((0, 1))[:, None] * d.T), atol=1e-5)


def test_latent_calibrated_values_are_posterior_quantiles(linear_vae, linear_vae_spec):
    model, a, d = linear_vae
    x = torch.rand(20, 4, generator=torch.Generator().manual_seed(6))
    mu = x.double().numpy() @ a.T
    q = np.array([0.1, 0.9])
    m = latent_effects(model, x, values=q, calibrated=True, targets=["output_l2"], statistic="mean",
                       spec=linear_vae_spec)
    c = np.quantile(mu.astype(np.float32), q, axis=0)  # (values, latents)
    expected = np.linalg.norm(d, axis=0) * np.abs(c[:, None, :] - mu[None]).mean((0, 1))
    np.testing.assert_allclose(m.values[:, 0], expected, rtol=1e-5)
    assert m.intervention == "do(z=quantile)" and m.meta["calibrated"] is True


@pytest.mark.parametrize("mode", ["noising", "denoising"])
def test_patching_modes_closed_form(planted_mlp, positive_inputs, mode):
    src = positive_inputs * 0.5
    _, h, w2, _ = planted_mlp.numpy_parts(positive_inputs)
    _, hs, _, _ = planted_mlp.numpy_parts(src)
    m = patching_effects(planted_mlp, positive_inputs, src, sites=["act"], targets=["fc2"], mode=mode,
                         statistic="mean")
    dh = hs - h if mode == "noising" else h - hs
    np.testing.assert_allclose(m.values, (dh[:, :, None] * w2.T[None]).mean(0), atol=1e-6)
    assert m.intervention == f"patch-{mode}"
