"""Sites, capture, intervene and ops: invariants, hook hygiene and bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from causalvae.interventions import (ablation_effects, add, capture, conditional_mean, intervene, mean, patch,
                                     patching_effects, scale, set_value, sites, zero)
from causalvae.interventions.ops import UnitOp


def _no_hooks(model):
    return all(not m._forward_hooks for m in model.modules())


def test_sites_of_plain_and_declared_models(planted_mlp, conv_vae, binary_images):
    info = sites(planted_mlp)
    assert list(info) == ["fc1", "act", "fc2", "skip"]
    assert (info["fc1"].kind, info["fc1"].n_units, info["act"].kind, info["act"].n_units) == ("linear", 4, "other", None)
    probed = sites(planted_mlp, torch.ones(2, 3))
    assert probed["act"].n_units == 4 and probed["act"].shape == (4,)
    assert [probed[k].order for k in ("fc1", "act", "fc2", "skip")] == [0, 1, 2, 3]
    vae = sites(conv_vae, binary_images[:1])
    assert list(vae) == list(conv_vae.site_names)
    assert vae["encoder.conv2"].kind == "conv" and vae["encoder.conv2"].shape == (32, 16, 16)
    assert vae["latent.z"].n_units == 10


def test_capture_reads_post_activation_block_outputs(conv_vae, binary_images):
    acts = capture(conv_vae, binary_images, ["encoder.conv1", "latent.mu"])
    assert list(acts) == ["encoder.conv1", "latent.mu"]
    assert acts["encoder.conv1"].min() >= 0  # the block's ReLU output
    conv_vae.eval()
    mu, _ = conv_vae.encode(binary_images)
    torch.testing.assert_close(acts["latent.mu"], mu.detach())


def test_ops_on_chosen_units():
    a = torch.arange(12.0).reshape(2, 3, 2)
    assert torch.equal(zero([1]).apply(a)[:, 1], torch.zeros(2, 2))
    assert torch.equal(zero([1]).apply(a)[:, [0, 2]], a[:, [0, 2]])
    assert torch.equal(set_value([0, 2], [5.0, 6.0, 7.0]).apply(a)[:, 2], torch.full((2, 2), 7.0))
    assert torch.equal(add([2], 1.0).apply(a)[:, 2], a[:, 2] + 1)
    assert torch.equal(scale(None, 2.0).apply(a), 2 * a)
    assert torch.equal(mean([0], a.mean(0)).apply(a)[:, 0], a.mean(0)[0].expand(2, 2))
    means = torch.stack([torch.zeros(3, 2), torch.ones(3, 2)])
    assert torch.equal(conditional_mean([1], means, [1, 0]).apply(a)[:, 1], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    assert torch.equal(patch([0], -a).apply(a)[:, 0], -a[:, 0])
    with pytest.raises(ValueError, match="'resample' is a sweep kind"):
        UnitOp("resample", None).apply(a)


def test_resample_has_one_meaning_a_seeded_permutation_of_all_inputs(planted_mlp, positive_inputs):
    """kind="resample" is patching from the inputs permuted by default_rng(seed), across chunk borders."""
    x = positive_inputs
    perm = np.random.default_rng(7).permutation(len(x))
    resampled = ablation_effects(planted_mlp, x, sites=["act"], targets=["output"], kind="resample", seed=7,
                                 statistic="mean", batch_size=3)
    patched = patching_effects(planted_mlp, x, x[perm], sites=["act"], targets=["output"], statistic="mean",
                               batch_size=3)
    np.testing.assert_array_equal(resampled.values, patched.values)


def test_intervene_changes_output_and_removes_hooks(planted_mlp, positive_inputs):
    clean = planted_mlp(positive_inputs)
    with intervene(planted_mlp, {"act": zero()}):
        assert not _no_hooks(planted_mlp)
        ablated = planted_mlp(positive_inputs)
    assert _no_hooks(planted_mlp)
    torch.testing.assert_close(ablated, planted_mlp.fc2.bias.expand(len(positive_inputs), 3)
                               + planted_mlp.skip(positive_inputs))
    assert not torch.allclose(clean, ablated)


def test_no_hook_survives_an_exception(planted_mlp, positive_inputs):
    with pytest.raises(ValueError, match="does not broadcast"):
        with intervene(planted_mlp, {"act": set_value([0], torch.ones(7)), "fc2": zero()}):
            planted_mlp(positive_inputs)
    assert _no_hooks(planted_mlp)
    with pytest.raises(RuntimeError, match="boom"):
        with intervene(planted_mlp, {"act": zero([1])}):
            raise RuntimeError("boom")
    assert _no_hooks(planted_mlp)
    with pytest.raises(ValueError, match="does not broadcast"):  # raised inside the pass, capture hooks on
        capture(planted_mlp, positive_inputs, ["fc1"], ops={"act": set_value([0], torch.ones(7))})
    assert _no_hooks(planted_mlp)


@settings(max_examples=25, deadline=None)
@given(units=st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
       seed=st.integers(0, 2 ** 16))
def test_identity_ops_change_nothing(units, seed):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(seed))
    clean = net(x)
    own = capture(net, x, ["1"])["1"]
    for op in (scale(units, 1.0), add(units, 0.0), patch(units, own), set_value(units, own[0]) if len(x) == 1
               else patch(units, own)):
        with intervene(net, {"1": op}):
            assert torch.equal(net(x), clean)


def test_patching_from_the_same_input_changes_nothing(conv_vae, binary_images):
    m = patching_effects(conv_vae, binary_images, binary_images.clone(), sites=["encoder.conv3", "decoder.fc1"],
                         targets=["latent.mu", "recon_error"])
    assert np.all(m.values == 0.0)
    assert m.meta["skipped_noops"] == m.shape[0]  # every swap is a provable no-op


def test_unknown_site_lists_the_valid_ones(planted_mlp, positive_inputs):
    with pytest.raises(KeyError, match=r"unknown site\(s\) \['fc9'\].*'fc1'"):
        ablation_effects(planted_mlp, positive_inputs, sites=["fc9"])
    with pytest.raises(KeyError, match="fc9"):
        intervene(planted_mlp, {"fc9": zero()}).__enter__()
    with pytest.raises(KeyError, match="unknown target"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["recon"])


def test_unit_index_out_of_range(planted_mlp, positive_inputs):
    with pytest.raises(IndexError, match=r"unit index 4 out of range for site 'act': expected 0 <= index < 4"):
        ablation_effects(planted_mlp, positive_inputs, sites={"act": [0, 4]})
    with pytest.raises(IndexError, match="out of range"):
        with intervene(planted_mlp, {"act": zero([9])}):
            planted_mlp(positive_inputs)
    with pytest.raises(IndexError, match="out of range"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2[3]"])


def test_shape_mismatch_between_clean_and_source(planted_mlp, positive_inputs):
    with pytest.raises(ValueError, match=r"same shape: x_clean \(12, 3\), x_source \(11, 3\)"):
        patching_effects(planted_mlp, positive_inputs, positive_inputs[:11])
    with pytest.raises(ValueError, match="patch source has shape"):
        patch([0], torch.zeros(2, 4)).apply(torch.zeros(3, 4))


def test_nan_weights_and_non_finite_activations_are_clear_errors(planted_mlp, positive_inputs):
    with torch.no_grad():
        planted_mlp.fc1.weight[1, 0] = float("nan")
    with pytest.raises(ValueError, match="model has non-finite weights: fc1.weight holds 1 NaN / inf value"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2"])
    with torch.no_grad():  # finite weights whose activation overflows float32 on every input (x > 0)
        planted_mlp.fc1.weight[1] = 3e38
        planted_mlp.fc1.bias[1] = 3e38
    with pytest.raises(FloatingPointError, match="non-finite activation at site 'fc1'"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2"])
    with pytest.raises(FloatingPointError, match="non-finite"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2"], method="naive")


def test_bad_options(planted_mlp, positive_inputs):
    with pytest.raises(ValueError, match="statistic must be one of"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], statistic="median")
    with pytest.raises(ValueError, match="unknown ablation kind"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], kind="noise")
    with pytest.raises(ValueError, match="needs labels"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], kind="conditional-mean")
    with pytest.raises(ValueError, match="method must be one of"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["fc2"], method="fast")
    with pytest.raises(ValueError, match="batch of shape"):
        ablation_effects(planted_mlp, torch.ones(3), sites=["act"])
    with pytest.raises(ValueError, match="output_l2"):
        ablation_effects(planted_mlp, positive_inputs, sites=["act"], targets=["output_l2"], method="attribution")
