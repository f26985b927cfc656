"""Code interventions on a hand-built VQ-VAE: exact zeros below the quantisation margin, code swaps in
closed form ||W_i (e_j - e_k)||_2, in float32 and float64."""

import itertools

import numpy as np
import pytest
import torch

from causalvae.interventions import (add, code_effects, code_margin, code_swap_profile, latent_effects, set_value,
                                     used_codes)
from causalvae.interventions.hooks import forward_capture
from causalvae.models import make_vae

CODEBOOK = np.array([[0.5, 0.5, 0.5], [1.5, 0.25, 0.0], [0.0, 1.25, 2.0], [1.0, 2.0, 0.5]])  # K = 4, D = 3
W = np.random.default_rng(7).normal(size=(6, 6))  # decoder output = W vec(q); position i reads columns 3i..3i+2
PAIRS = list(itertools.product(range(4), range(4)))  # the codes (k_0, k_1) of the 16 inputs
N_TERMS = 6  # length of the decoder's dot products
DTYPES = [torch.float32, torch.float64]


def planted(dtype=torch.float32):
    """Identity encoder (z_e = x), the codebook above, identity hidden decoder layer, output layer W.

    Everything is non-negative where a ReLU sits, so the model is exactly x -> W vec(codebook[codes(x)]).
    """
    model = make_vae("vq-vae", input_shape=(6,), latent_dim=2, hidden=(6,), codebook_size=4, code_dim=3).to(dtype)
    with torch.no_grad():  # W is rounded to the dtype once, the closed forms use the float64 W
        for layer in (model.encoder.fc1.layer, model.latent.pre.linear, model.decoder.fc1.layer):
            layer.weight.copy_(torch.eye(6))
            layer.bias.zero_()
        model.decoder.out.weight.copy_(torch.from_numpy(W))
        model.decoder.out.bias.zero_()
        model.latent.codebook.copy_(torch.from_numpy(CODEBOOK))
    return model.eval()


def inputs(dtype=torch.float32) -> torch.Tensor:
    """One input per code pair, sitting exactly on its codebook vectors (representable in float32)."""
    return torch.from_numpy(np.stack([np.concatenate([CODEBOOK[a], CODEBOOK[b]]) for a, b in PAIRS])).to(dtype)


def swap_effect(k: int, i: int, j: int) -> float:
    """Closed form ||W_i (e_j - e_k)||_2 of swapping position i from code k to code j."""
    return float(np.linalg.norm(W[:, 3 * i:3 * i + 3] @ (CODEBOOK[j] - CODEBOOK[k])))


def rounding(dtype, k: int, i: int, j: int, other: int) -> np.ndarray:
    """Per output element, a bound on the rounding error of D(q') - D(q) (a difference of two N_TERMS-term
    dot products): 8 eps N_TERMS (|W| (|q| + |q'|)), q' = q with position i's code k -> j."""
    q, q_new = np.zeros(6), np.zeros(6)
    q[3 * i:3 * i + 3], q_new[3 * i:3 * i + 3] = CODEBOOK[k], CODEBOOK[j]
    q[3 - 3 * i:6 - 3 * i] = q_new[3 - 3 * i:6 - 3 * i] = CODEBOOK[other]
    return 8 * torch.finfo(dtype).eps * N_TERMS * (np.abs(W) @ (q + q_new))


def tolerance(dtype, k: int, i: int, j: int, other: int) -> float:
    """Bound on the error of ||D(q') - D(q)||_2: the norm of the element-wise bounds."""
    return float(np.linalg.norm(rounding(dtype, k, i, j, other)))


def output(model, x, ops=None) -> torch.Tensor:
    return forward_capture(model, x, [], ops=ops or {})[1]


def test_the_planted_model_is_the_linear_map_of_its_codes():
    model, x = planted(torch.float64), inputs(torch.float64)
    codes = model.encode(x).codes
    assert codes.tolist() == [list(p) for p in PAIRS]
    q = CODEBOOK[np.array(PAIRS)].reshape(16, 6)
    np.testing.assert_allclose(output(model, x).numpy(), q @ W.T, rtol=0, atol=1e-14)
    assert used_codes(model, x).tolist() == [0, 1, 2, 3]
    assert used_codes(model, x[:1]).tolist() == [0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_code_swap_has_the_closed_form_effect(dtype):
    model, x = planted(dtype), inputs(dtype)
    clean = output(model, x).double()
    for i, j in itertools.product(range(2), range(4)):
        changed = output(model, x, {"latent.code": set_value([i], j)}).double()
        effect = (changed - clean).norm(dim=1)
        for row, pair in enumerate(PAIRS):
            expected = swap_effect(pair[i], i, j)
            assert abs(effect[row].item() - expected) <= tolerance(dtype, pair[i], i, j, pair[1 - i]), (pair, i, j)
            assert (effect[row].item() == 0) == (pair[i] == j)  # a swap to the current code is exactly nothing


@pytest.mark.parametrize("dtype", DTYPES)
def test_code_swap_profile_is_the_mean_closed_form(dtype):
    model, x = planted(dtype), inputs(dtype)
    profile = code_swap_profile(model, x, batch_size=5, max_batch=7)  # chunks and decoder batches not aligned
    assert profile.codes == (0, 1, 2, 3) and profile.n_samples == 16
    for i in range(2):
        cases = [(p[i], i, j, p[1 - i]) for p in PAIRS for j in range(4)]
        expected = np.mean([swap_effect(k, i, j) for k, i, j, _ in cases])
        bound = np.mean([tolerance(dtype, *case) for case in cases])
        assert abs(profile.distance[i] - expected) <= bound
        changes = [W[:, 3 * i:3 * i + 3] @ (CODEBOOK[j] - CODEBOOK[k]) for k, i, j, _ in cases]
        errors = [rounding(dtype, *case) for case in cases]  # |a^2 - b^2| <= (2 |b| + e) e when |a - b| <= e
        square_bound = np.mean([(2 * np.abs(c) + e) * e for c, e in zip(changes, errors)], axis=0)
        assert np.all(np.abs(profile.profiles[i] - np.mean(np.square(changes), axis=0)) <= square_bound)
    subset = code_swap_profile(model, x, codes=[3])
    expected = np.mean([swap_effect(p[0], 0, 3) for p in PAIRS])
    assert subset.codes == (3,) and abs(subset.distance[0] - expected) <= 1e-5 * expected
    report = profile.ces(information=[0.0, 1.0])
    assert report.paper == pytest.approx(profile.distance.mean()) and report.active_only == profile.distance[1]
    assert np.isfinite(profile.specificity().bounded).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_code_effects_sweep_equals_the_closed_form_and_the_profile(dtype):
    model, x = planted(dtype), inputs(dtype)
    exact = code_effects(model, x, targets=["output_l2"], statistic="mean")
    naive = code_effects(model, x, targets=["output_l2"], statistic="mean", method="naive")
    assert exact.sources == ("latent.code[0]", "latent.code[1]") and exact.intervention == "do(code=j)"
    assert exact.meta["codes"] == [0, 1, 2, 3] and exact.meta["averaged_over"] == "codes"
    profile = code_swap_profile(model, x)
    for i in range(2):
        expected = np.mean([swap_effect(p[i], i, j) for p in PAIRS for j in range(4)])
        bound = np.mean([tolerance(dtype, p[i], i, j, p[1 - i]) for p in PAIRS for j in range(4)])
        assert abs(exact.values[i, 0] - expected) <= bound and abs(naive.values[i, 0] - expected) <= bound
        assert abs(exact.values[i, 0] - profile.distance[i]) <= 2 * bound
    units = code_effects(model, x, codes=[1, 2], targets=["decoder.fc1"], statistic="mean")
    assert units.targets == tuple(f"decoder.fc1[{u}]" for u in range(6))
    # position 0 only feeds decoder.fc1 units 0-2 (identity layer): mean change sum_j (e_j - e_k) / 2 there
    expected = np.mean([(CODEBOOK[j] - CODEBOOK[p[0]]) for p in PAIRS for j in (1, 2)], axis=0)
    np.testing.assert_allclose(units.values[0, :3], expected, rtol=0, atol=8 * torch.finfo(dtype).eps * 2)
    assert np.all(units.values[0, 3:] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pre_quantisation_perturbations_below_half_the_code_distance_change_nothing(dtype):
    model, x = planted(dtype), inputs(dtype)
    gaps = np.linalg.norm(CODEBOOK[:, None] - CODEBOOK[None], axis=-1) + np.diag([np.inf] * 4)
    half = gaps.min(axis=1) / 2  # per code: half the distance to its nearest other code
    np.testing.assert_allclose(code_margin(model, x), half[np.array(PAIRS)], rtol=1e-14)
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(16, 2, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    radius = 0.99 * half[np.array(PAIRS)][..., None]
    delta = torch.from_numpy(direction * radius).to(dtype)
    clean = output(model, x)
    assert torch.equal(output(model, x, {"latent.pre": add(None, delta)}), clean)  # CES exactly 0
    nearest = gaps.argmin(axis=1)  # past the margin towards the nearest code, the code swaps
    towards = CODEBOOK[nearest[np.array(PAIRS)]] - CODEBOOK[np.array(PAIRS)]
    beyond = torch.from_numpy(0.51 * towards).to(dtype)
    moved = output(model, x, {"latent.pre": add(None, beyond)})
    swapped = output(model, x, {"latent.code": set_value(None, torch.from_numpy(nearest[np.array(PAIRS)]))})
    assert torch.equal(moved, swapped) and not torch.equal(moved, clean)


def test_paper_grid_before_quantisation_is_zero_inside_the_cell_and_a_code_swap_outside():
    """do(z_e,i = c 1) with |c - 0.5| sqrt(3) < half the gap of e_0 = 0.5 * 1: the code becomes 0 for every input."""
    model, x = planted(), inputs()
    position_0_on_code_0 = x[[r for r, p in enumerate(PAIRS) if p[0] == 0]]
    grid = [0.3, 0.5, 0.7]
    m = latent_effects(model, position_0_on_code_0, latent="latent.pre", values=grid, targets=["output_l2"],
                       statistic="mean")
    assert m.values[0, 0] == 0.0  # position 0 stays on code 0: nothing changes, exactly
    expected = np.mean([swap_effect(k, 1, 0) for k in range(4)])  # position 1 jumps to code 0 from k = 0..3
    assert m.values[1, 0] == pytest.approx(expected, rel=1e-5)


def test_margin_is_the_distance_to_the_cell_boundary_off_the_codes():
    model = planted(torch.float64)
    z = torch.tensor([[0.9, 0.6, 0.3, 1.0, 1.8, 0.9]], dtype=torch.float64)
    margin = code_margin(model, z)[0]
    k = model.encode(z).codes[0]
    for i in range(2):  # step straight towards each bisector: just inside keeps the code, just outside does not
        point, e_k = z[0, 3 * i:3 * i + 3].numpy(), CODEBOOK[k[i]]
        others = [j for j in range(4) if j != k[i]]
        dist = [(np.sum((point - CODEBOOK[j]) ** 2) - np.sum((point - e_k) ** 2))
                / (2 * np.linalg.norm(CODEBOOK[j] - e_k)) for j in others]  # to the bisector of e_k and e_j
        j = others[int(np.argmin(dist))]
        unit = (CODEBOOK[j] - e_k) / np.linalg.norm(CODEBOOK[j] - e_k)
        assert margin[i] == pytest.approx(min(dist), rel=1e-12)
        for scale, same in ((0.999, True), (1.001, False)):
            moved = z.clone()
            moved[0, 3 * i:3 * i + 3] += torch.from_numpy(scale * margin[i] * unit)
            assert (model.encode(moved).codes[0, i] == k[i]).item() == same


def test_bad_codes_and_models_are_clear_errors():
    model, x = planted(), inputs()
    with pytest.raises(ValueError, match=r"codes\[0\] must be an integer >= 0 and <= 3, got 4"):
        code_swap_profile(model, x, codes=[4])
    with pytest.raises(ValueError, match="distinct"):
        code_effects(model, x, codes=[1, 1])
    with pytest.raises(TypeError, match="need a vector-quantised model"):
        used_codes(make_vae("vae", input_shape=(6,), hidden=(6,)), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_edges_from_code_positions_resample_codes_while_decoder_units_are_mean_ablated(dtype):
    """Position i feeds decoder.fc1 units 3i..3i+2 (identity): resampling its code moves unit 3i+c by
    |e_{k'}[c] - e_k[c]| (k' the permuted input's code), a codebook difference; mean ablation would
    decode the mean vector, which no code has."""
    from causalvae.interventions import edge_effects

    model, x = planted(dtype), inputs(dtype)
    kinds = {"latent.z": "resample", "decoder.fc1": "mean"}
    edges = edge_effects(model, x, sites=["latent.z", "decoder.fc1", "decoder.out"], kind=kinds, seed=5)
    assert edges.meta["kinds"] == kinds
    perm = np.random.default_rng(5).permutation(16)  # the documented resample draw
    codes = np.array(PAIRS)
    for i in range(2):
        row = edges.values[edges.sources.index(f"latent.z[{i}]")]
        for unit in range(6):
            value = row[edges.targets.index(f"decoder.fc1[{unit}]")]
            if unit // 3 != i:
                assert value == 0.0  # the other position's units never move
                continue
            c = unit % 3
            expected = np.mean(np.abs(CODEBOOK[codes[perm, i], c] - CODEBOOK[codes[:, i], c]))
            assert abs(value - expected) <= 4 * torch.finfo(dtype).eps * np.abs(CODEBOOK).max()
    mean_row = edge_effects(model, x, sites=["latent.z", "decoder.fc1"], kind="mean").values[0]
    mean_vector = CODEBOOK[codes[:, 0]].mean(axis=0)
    np.testing.assert_allclose(mean_row[:3], np.abs(mean_vector - CODEBOOK[codes[:, 0]]).mean(axis=0),
                               rtol=0, atol=8 * torch.finfo(dtype).eps * np.abs(CODEBOOK).max())
    assert not np.any(np.all(np.isclose(CODEBOOK, mean_vector), axis=1))  # the mean vector is no code
    with pytest.raises(ValueError, match=r"no intervention for the source site\(s\) \['decoder.fc1'\]"):
        edge_effects(model, x, sites=["latent.z", "decoder.fc1", "decoder.out"], kind={"latent.z": "resample"})
