"""VQ-VAE: quantisation, straight-through gradients, losses and EMA updates in closed form,
deterministic training, bit-identical checkpoint resume, diagnostics without a posterior, CLI."""

import math

import networkx as nx
import numpy as np
import pytest
import torch

import causalvae.data
from causalvae.data.dataset import FactorDataset
from causalvae.models import (active_latents, cli_train, code_entropy, code_usage, latent_kl, load_checkpoint,
                              load_model, make_vae, objective, reconstruction_quality, save_checkpoint, train)
from causalvae.models.losses import LossInputs, code_perplexity, evaluate_terms, vq_losses
from causalvae.models.vq import VQVAE, nearest_code
from vae_fixtures import blobs, tabular


def _vq(*, hidden=(8,), seed=0, **hyper):
    return make_vae("vq-vae", input_shape=(6,), latent_dim=2, hidden=hidden, seed=seed,
                    **{"codebook_size": 4.0, "code_dim": 3.0, **hyper})


def _same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantisation_picks_the_nearest_code_and_the_lowest_index_on_ties(dtype):
    codebook = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0]], dtype=dtype)  # code 3 = code 1
    pre = torch.tensor([[[0.9, 0.0], [1.1, 0.0], [1.0, 0.0], [2.0, 0.1], [1.0, 1.0], [0.0, 5.0]]], dtype=dtype)
    # (1, 0) is equidistant from codes 0 and 1, (1, 1) from 0, 1 and 2; (2, 0.1) from the duplicates 1 and 3
    assert nearest_code(pre, codebook).tolist() == [[0, 1, 0, 1, 0, 2]]
    flipped = codebook.flip(0)  # codes 3, 2, 1, 0: ties now go to the other vectors' lowest index
    assert nearest_code(pre, flipped).tolist() == [[3, 0, 0, 0, 0, 1]]
    gen = torch.Generator().manual_seed(0)
    random, codebook = torch.randn(200, 3, 4, dtype=dtype, generator=gen), torch.randn(9, 4, dtype=dtype, generator=gen)
    brute = torch.stack([((random - e) ** 2).sum(-1) for e in codebook], -1)
    assert torch.equal(nearest_code(random, codebook), brute.argmin(-1))


def test_straight_through_gradient_reaches_the_encoder_and_the_losses_reach_their_tensors():
    model = _vq(ema=0.0).train()
    x = torch.from_numpy(tabular(16))
    inputs = model.loss_inputs(x)
    recon = evaluate_terms(("recon",), inputs)["recon"]
    g_pre, g_z = torch.autograd.grad(recon, [inputs.pre, inputs.z], retain_graph=True)
    assert torch.equal(g_pre, g_z) and g_pre.abs().sum() > 0  # the quantiser is skipped backwards
    assert torch.autograd.grad(recon, model.latent.codebook, allow_unused=True, retain_graph=True)[0] is None
    assert all(p.grad is None for p in model.parameters())
    recon.backward(retain_graph=True)
    assert model.encoder.fc1.layer.weight.grad.abs().sum() > 0 and model.latent.pre.linear.weight.grad.abs().sum() > 0
    terms = evaluate_terms(("commitment", "codebook"), inputs)
    commitment_to_codebook = torch.autograd.grad(terms["commitment"], model.latent.codebook, allow_unused=True,
                                                 retain_graph=True)[0]
    codebook_to_pre = torch.autograd.grad(terms["codebook"], inputs.pre, allow_unused=True, retain_graph=True)[0]
    assert commitment_to_codebook is None and codebook_to_pre is None
    assert torch.autograd.grad(terms["codebook"], model.latent.codebook)[0].abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_commitment_codebook_and_perplexity_equal_their_closed_forms(dtype):
    pre = torch.tensor([[[1.0, 2.0], [0.5, 0.0]], [[0.0, -1.0], [3.0, 1.0]]], dtype=dtype, requires_grad=True)
    quantised = torch.tensor([[[0.0, 2.0], [0.5, 0.5]], [[1.0, 1.0], [3.0, 1.0]]], dtype=dtype, requires_grad=True)
    # per sample: 1 + 0.25 = 1.25 and 1 + 4 = 5; batch mean 3.125
    terms = vq_losses(pre, quantised)
    assert terms["commitment"].item() == terms["codebook"].item() == 3.125
    (g_pre,) = torch.autograd.grad(terms["commitment"], pre)
    assert torch.equal(g_pre, (pre - quantised).detach())  # d/dz_e of mean_n sum (z_e - e)^2 = 2 (z_e - e) / 2
    codes = torch.tensor([[0, 0, 0, 1], [1, 2, 2, 2]])  # frequencies 3/8, 2/8, 3/8
    p = np.array([3, 2, 3]) / 8
    assert code_perplexity(codes).item() == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-15)
    with pytest.raises(ValueError, match="shapes"):
        vq_losses(pre, quantised[:, :1])


def test_objective_is_recon_plus_beta_commitment_plus_codebook_and_reports_perplexity():
    model = _vq(beta=0.5, ema=0.0).eval()
    x = torch.from_numpy(tabular(32))
    total, terms, z = objective(model, x)
    assert set(terms) == {"recon", "perplexity", "commitment", "codebook"}
    assert total.item() == pytest.approx((terms["recon"] + 0.5 * terms["commitment"] + terms["codebook"]).item(),
                                         rel=1e-6)
    quantised, codes, pre = model.encode(x)
    assert torch.equal(z, pre + (quantised - pre))  # the straight-through decoder input
    out = model(x)  # the analysis (eval) pass decodes the codebook vectors themselves
    assert torch.equal(out.z, model.latent.codebook[out.codes]) and torch.equal(out.logits, model.decode(quantised))
    assert terms["commitment"].item() == pytest.approx(((pre - quantised) ** 2).sum((1, 2)).mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match="loss term 'kl' needs mu from a Gaussian model"):
        evaluate_terms(("kl",), model.loss_inputs(x))
    with pytest.raises(ValueError, match="needs pre from a vector-quantised model"):
        evaluate_terms(("commitment",), LossInputs(x=x, logits=x, likelihood="gaussian", obs_std=0.1))


@pytest.mark.parametrize("decay", [0.0, 0.75])
def test_ema_step_moves_used_codes_to_their_running_mean(decay):
    model = _vq(decay=decay, dead_threshold=0.1).double()
    head = model.latent
    with torch.no_grad():
        head.codebook.copy_(torch.arange(12, dtype=torch.float64).reshape(4, 3))
        head.ema_count.copy_(torch.tensor([2.0, 1.0, 4.0, 3.0]))
        head.ema_sum.copy_(head.codebook * head.ema_count[:, None])
    count, total, old = head.ema_count.clone(), head.ema_sum.clone(), head.codebook.clone()
    pre = torch.tensor([[[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], [[3.0, 2.0, 1.0], [7.0, 7.0, 9.0]]], dtype=torch.float64)
    codes = torch.tensor([[0, 2], [0, 2]])  # codes 1 and 3 unused
    head.ema_update(pre, codes)
    assigned_sum = {0: pre[0, 0] + pre[1, 0], 2: pre[0, 1] + pre[1, 1]}
    for k, s in assigned_sum.items():  # n_k <- g n_k + (1 - g) c_k, m_k <- g m_k + (1 - g) s_k, e_k = m_k / n_k
        expected = (decay * total[k] + (1 - decay) * s) / (decay * count[k] + (1 - decay) * 2)
        torch.testing.assert_close(head.codebook[k], expected, rtol=4 * torch.finfo(torch.float64).eps, atol=0)
    expected_count = decay * count + (1 - decay) * torch.tensor([2.0, 0.0, 2.0, 0.0], dtype=torch.float64)
    if decay == 0.0:  # the plain mean of the assigned vectors; unused codes died (count 0) and restarted
        torch.testing.assert_close(head.codebook[0], (pre[0, 0] + pre[1, 0]) / 2, rtol=0, atol=0)
        expected_count[[1, 3]] = 1.0
    else:  # unused codes keep their vector (count and sum decay together) and stay alive
        torch.testing.assert_close(head.codebook[[1, 3]], old[[1, 3]], rtol=4 * torch.finfo(torch.float64).eps,
                                   atol=0)
    assert torch.equal(head.ema_count, expected_count)


def test_dead_codes_restart_at_batch_vectors_deterministically():
    def step(seed):
        model = _vq(decay=0.0, dead_threshold=0.5).double()
        pre = torch.randn(5, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        codes = torch.zeros(5, 2, dtype=torch.long)  # only code 0 is used: 1, 2, 3 die at decay 0
        model.latent.ema_update(pre, codes, generator=torch.Generator().manual_seed(seed))
        return model.latent, pre.reshape(-1, 3)
    head, flat = step(0)
    assert head.ema_count.tolist() == [10.0, 1.0, 1.0, 1.0]
    sum_error = len(flat) * torch.finfo(torch.float64).eps * float(flat.abs().mean(0).max())  # 10-term sums
    torch.testing.assert_close(head.codebook[0], flat.mean(0), rtol=0, atol=sum_error)
    for k in (1, 2, 3):
        assert any(torch.equal(head.codebook[k], v) for v in flat) and torch.equal(head.ema_sum[k], head.codebook[k])
    assert torch.equal(step(0)[0].codebook, head.codebook)
    assert not torch.equal(step(5)[0].codebook, head.codebook)
    with pytest.raises(ValueError, match="ema_update needs a head built with ema=1"):
        _vq(ema=0.0).latent.ema_update(flat.reshape(5, 2, 3), torch.zeros(5, 2, dtype=torch.long))


def test_codebook_loss_trains_a_parameter_codebook_and_ema_keeps_it_out_of_the_optimiser():
    learned, ema = _vq(ema=0.0), _vq(ema=1.0)
    assert isinstance(learned.latent.codebook, torch.nn.Parameter)
    assert "latent.codebook" in dict(learned.named_parameters())
    assert "latent.codebook" not in dict(ema.named_parameters()) and "latent.ema_sum" in ema.state_dict()
    before = learned.latent.codebook.detach().clone()
    train(learned, tabular(128), steps=5, batch_size=32, lr=1e-2, seed=0, progress=False)
    assert not torch.equal(before, learned.latent.codebook)


@pytest.mark.parametrize("bad, message", [
    ({"codebook_size": 1.0}, "codebook_size must be an integer >= 2, got 1"),
    ({"code_dim": 2.5}, "code_dim must be an integer >= 1, got 2.5"),
    ({"ema": 0.5}, "ema must be 0 .* or 1 .*, got 0.5"),
    ({"decay": 1.0}, "decay must lie in"),
    ({"dead_threshold": 0.0}, "dead_threshold be > 0"),
])
def test_bad_hyper_parameters_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        _vq(**bad)


def test_conv64_shapes_sites_and_training_determinism():
    def run(seed):
        model = make_vae("vq-vae", input_shape=(1, 64, 64), latent_dim=3, seed=0, codebook_size=16, code_dim=4,
                         decay=0.5, dead_threshold=0.5)
        result = train(model, blobs(32), steps=3, batch_size=8, lr=1e-3, seed=seed, progress=False)
        return model, result
    a, ra = run(1)
    b, rb = run(1)
    c, _ = run(2)
    assert _same_state(a, b) and ra.history == rb.history and not _same_state(a, c)
    assert isinstance(a, VQVAE) and a.decoder.fc1.layer.in_features == 12
    site = {s.name: s for s in a.sites}
    assert [site[n].n_units for n in ("latent.pre", "latent.code", "latent.z")] == [3, 3, 3]
    assert {site[n].unit for n in ("latent.pre", "latent.code", "latent.z")} == {"position"}
    recon = a.reconstruct(torch.from_numpy(blobs(2)))
    assert recon.shape == (2, 1, 64, 64) and 0 <= recon.min() and recon.max() <= 1


def test_checkpoint_resume_is_bit_identical_with_ema_buffers_and_restarts(tmp_path):
    def fresh():  # a high dead threshold makes restarts (generator draws) happen after the resume point
        return _vq(decay=0.8, dead_threshold=0.5, codebook_size=8.0)
    x = tabular(96)
    full = fresh()
    train(full, x, steps=10, batch_size=32, lr=1e-3, seed=3, progress=False)
    first = fresh()
    train(first, x, steps=4, batch_size=32, lr=1e-3, seed=3, checkpoint_dir=tmp_path, progress=False)
    resumed = fresh()
    train(resumed, x, steps=10, batch_size=32, lr=1e-3, seed=3, checkpoint_dir=tmp_path, progress=False)
    assert _same_state(full, resumed)
    assert not torch.equal(fresh().latent.ema_count, resumed.latent.ema_count)
    loaded = load_model(save_checkpoint(tmp_path / "m.safetensors", resumed))
    assert _same_state(loaded, resumed) and loaded.latent.ema and not loaded.training
    assert torch.equal(loaded(torch.from_numpy(x[:4])).logits, resumed.eval()(torch.from_numpy(x[:4])).logits)


def _planted_codes(model, codes_per_input):
    """Inputs whose encoder outputs are exactly the codebook vectors of ``codes_per_input`` (identity encoder)."""
    with torch.no_grad():
        for layer in (model.encoder.fc1.layer, model.latent.pre.linear):
            layer.weight.copy_(torch.eye(6))
            layer.bias.zero_()
        model.latent.codebook.copy_(torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [3.0, 3.0, 3.0]]))
    return model.latent.codebook[torch.tensor(codes_per_input)].reshape(len(codes_per_input), 6).numpy()


def test_code_usage_entropy_and_active_positions_without_a_posterior():
    model = _vq(hidden=(6,))
    x = _planted_codes(model, [[0, 1], [0, 2], [0, 1], [0, 2]])  # position 0 constant, position 1 two codes
    usage = code_usage(model, x, batch_size=3)
    assert usage.tolist() == [[4, 0, 0, 0], [0, 2, 2, 0]]
    entropy = code_entropy(model, x)
    assert entropy.tolist() == [0.0, pytest.approx(math.log(2), rel=1e-15)]
    assert active_latents(model, x).tolist() == [False, True]
    with pytest.raises(ValueError, match="vector-quantised: it has no posterior"):
        latent_kl(model, x)
    with pytest.raises(ValueError, match="code_usage needs a vector-quantised model"):
        code_usage(make_vae("vae", input_shape=(6,), hidden=(8,)), x)
    quality = reconstruction_quality(model, x)  # decodes the quantised vectors
    expected = model.decode(model.latent.codebook[torch.tensor([[0, 1], [0, 2], [0, 1], [0, 2]])]).detach()
    assert quality["mse"] == pytest.approx(float(((expected.double() - torch.from_numpy(x).double()) ** 2).mean()),
                                           rel=1e-6)


def test_cli_trains_a_vq_vae(tmp_path, monkeypatch, capsys):
    def load(name, *, n=None, seed=0):
        x, dag = tabular(n or 64, seed=seed), nx.DiGraph()
        dag.add_node("f")
        return FactorDataset(name=name, x=x, factors=np.zeros((len(x), 1)), factor_names=("f",),
                             factor_kinds=("continuous",), factor_dag=dag)
    monkeypatch.setattr(causalvae.data, "load", load)
    argv = ["--dataset", "toy", "--n", "64", "--variant", "vq-vae", "--latent-dim", "2", "--steps", "3",
            "--batch-size", "16", "--hyper", "codebook_size=8", "--hyper", "ema=0", "--out", str(tmp_path),
            "--no-progress"]
    assert cli_train(argv) == 0
    assert "trained vq-vae on toy to step 3" in capsys.readouterr().out
    ckpt = load_checkpoint(tmp_path / "last.safetensors")
    assert ckpt.config.hyper["codebook_size"] == 8.0 and ckpt.config.hyper["ema"] == 0.0
    assert ckpt.model_state["latent.codebook"].shape == (8, 16)
