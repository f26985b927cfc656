"""The SCM-layer VAE (``scm-vae``): structural equations, DAG penalty, augmented Lagrangian, label
supervision, recovery of a chain (positive control) and of no graph from independent factors (negative
control), pruning, export and checkpoint round trips.

The trained tests use a tabular SCM rendered linearly to 8 dimensions (MLP encoder/decoder): the SCM
part of the objective is fitted on the labels, so a tabular dataset exercises exactly the machinery an
image model uses, in seconds.
"""

import copy
import math
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pytest
import torch
import torch.fx

from causalvae.causal.dags import cpdag, shd
from causalvae.causal.discovery import skeleton
from causalvae.data.scm import Additive, StructuralCausalModel
from causalvae.graph.export import read_graphml, write_graphml
from causalvae.models import load_model, make_vae, save_checkpoint, train
from causalvae.models.scm_layer import EDGE_THRESHOLD, SCMLayer, dag_penalty, topological_order

NAMES = ("a", "b", "c")
OBS = 8
MIX = np.random.default_rng(0).standard_normal((3, OBS))


def chain_scm():
    """a -> b -> c with nonlinear mechanisms (b = 1.5 a² - 1 + 0.5 u_b, c = 2 tanh(b) + 0.5 u_c)."""
    return StructuralCausalModel({"a": Additive(), "b": Additive(("a",), lambda pa: 1.5 * pa[:, 0] ** 2 - 1.0, 0.5),
                                  "c": Additive(("b",), lambda pa: 2.0 * np.tanh(pa[:, 0]), 0.5)})


def dataset(factors):
    return SimpleNamespace(x=(factors @ MIX).astype(np.float32), factors=factors)


def fit(factors, *, steps=700, seed=0, skeleton_alpha=0.01):
    """Train on ``factors``; ``skeleton_alpha > 0`` first restricts A to PC's skeleton of the labels."""
    torch.set_num_threads(1)
    model = make_vae("scm-vae", input_shape=(OBS,), latent_dim=4, hidden=(32,), n_concepts=3, seed=seed,
                     scm_lr=2e-2, dual_every=25)
    if skeleton_alpha > 0:
        model.restrict_support(skeleton(model.label_array(dataset(factors)), alpha=skeleton_alpha))
    result = train(model, dataset(factors), steps=steps, batch_size=128, lr=1e-3, seed=seed, progress=False)
    return model, result


@pytest.fixture(scope="module")
def chain_model():
    return fit(chain_scm().sample(2000, seed=0))


# the augmented Lagrangian alone (no CI-test skeleton) must also find the chain and no edge between
# independent factors: the skeleton only narrows its candidates
@pytest.fixture(scope="module", params=["skeleton", "no-skeleton"])
def chain_models(request, chain_model):
    return chain_model if request.param == "skeleton" else fit(chain_scm().sample(2000, seed=0), skeleton_alpha=0.0)


@pytest.fixture(scope="module", params=[0.01, 0.0], ids=["skeleton", "no-skeleton"])
def independent_model(request):
    return fit(np.random.default_rng(1).standard_normal((2000, 3)), skeleton_alpha=request.param)


def as_graph(edges):
    g = nx.DiGraph()
    g.add_nodes_from(NAMES)
    g.add_edges_from((NAMES[i], NAMES[j]) for i, j in edges)
    return g


# --- the layer ---------------------------------------------------------------------------------------

def test_dag_penalty_is_zero_on_dags_and_matches_the_closed_form_on_a_two_cycle():
    assert float(dag_penalty(torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, -3.0], [0.0, 0.0, 0.0]]))) == 0.0
    w = 0.7
    h = dag_penalty(torch.tensor([[0.0, w], [w, 0.0]], dtype=torch.float64))
    assert float(h) == pytest.approx(2 * math.cosh(w * w) - 2, rel=1e-12)  # tr exp([[0, w²], [w², 0]]) - 2
    with pytest.raises(ValueError, match="square"):
        dag_penalty(torch.zeros(2, 3))


def test_the_layer_solves_the_structural_equations_of_a_dag_in_any_index_order():
    torch.manual_seed(0)
    layer = SCMLayer(3, 5, hidden=8)
    with torch.no_grad():  # 2 -> 0 -> 1 and 2 -> 1: the topological order is not the index order
        layer.weights.copy_(torch.tensor([[0.0, 1.3, 0.0], [0.0, 0.0, 0.0], [0.8, -0.6, 0.0]]))
    assert topological_order(layer.adjacency().abs()) == [2, 0, 1]
    eps = torch.randn(16, 5)
    z = layer(eps)
    a = layer.adjacency()
    for j, m in enumerate(layer.mechanisms):  # every equation z_j = g_j(A[:, j] ∘ z) + ε_j holds
        torch.testing.assert_close(z[:, j], m.value(z[:, :3] * a[:, j]) + eps[:, j], rtol=0, atol=1e-6)
    assert torch.equal(z[:, 3:], eps[:, 3:])  # free latents pass unchanged


def test_a_swap_at_a_mechanism_site_is_a_do_intervention_propagated_to_descendants_only():
    torch.manual_seed(1)
    layer = SCMLayer(3, 3, hidden=8)
    with torch.no_grad():
        layer.weights.copy_(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))  # 0 -> 1 -> 2
    eps = torch.randn(8, 3)
    clean = layer(eps)
    handle = layer.m1.register_forward_hook(lambda _m, _i, out: torch.cat([out[:, :1], out[:, 1:2] + 5.0,
                                                                           out[:, 2:]], 1))
    try:
        swapped = layer(eps)
    finally:
        handle.remove()
    torch.testing.assert_close(swapped[:, :2], clean[:, :2] + torch.tensor([0.0, 5.0]))  # ancestor kept, z_1 set
    expected = layer.m2.value(swapped * layer.adjacency()[:, 2]) + eps[:, 2]  # child recomputed, base noise
    torch.testing.assert_close(swapped[:, 2], expected, rtol=0, atol=1e-6)
    assert not torch.allclose(swapped[:, 2], clean[:, 2])


def test_pruning_keeps_the_strongest_acyclic_edges_and_the_exported_dag_is_the_computation(tmp_path):
    layer = SCMLayer(3, 3)
    with torch.no_grad():  # a 2-cycle 0 <-> 1 (the weaker direction goes) and a sub-threshold edge
        layer.weights.copy_(torch.tensor([[0.0, 0.9, 0.1], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert layer.prune() == [(0, 1)]
    assert torch.equal(layer.adjacency() != 0, torch.tensor([[False, True, False], [False] * 3, [False] * 3]))
    model = make_vae("scm-vae", input_shape=(OBS,), latent_dim=4, hidden=(16,), n_concepts=3)
    model.decoder.scm.load_state_dict(layer.state_dict())
    g = model.learned_dag(NAMES, ["continuous"] * 3, dataset="toy")
    assert list(g.edges) == [("a", "b")] and g.edges["a", "b"]["weight"] == pytest.approx(0.9)
    back = read_graphml(write_graphml(g, tmp_path / "learned.graphml"))
    assert list(back.edges) == [("a", "b")] and back.edges["a", "b"]["threshold"] == EDGE_THRESHOLD


def test_sites_and_fx_trace_of_the_conv_model():
    model = make_vae("scm-vae", input_shape=(1, 64, 64), latent_dim=6, n_concepts=4).eval()
    names = model.site_names
    assert names[names.index("latent.z") + 1:names.index("decoder.fc1")] == tuple(f"decoder.scm.m{j}" for j in range(4))
    x = torch.rand(2, 1, 64, 64)
    assert torch.equal(torch.fx.symbolic_trace(model)(x).logits, model(x).logits)


def test_bad_configuration_and_missing_labels_are_clear_errors():
    with pytest.raises(ValueError, match="n_concepts"):
        make_vae("scm-vae", input_shape=(OBS,), latent_dim=4, hidden=(16,))  # n_concepts left at 0
    model = make_vae("scm-vae", input_shape=(OBS,), latent_dim=4, hidden=(16,), n_concepts=3)
    with pytest.raises(ValueError, match="factor labels, N x 3"):
        train(model, np.zeros((256, OBS), np.float32), steps=1, progress=False)
    with pytest.raises(ValueError, match="standardised labels of shape"):
        model.loss_inputs(torch.zeros(4, OBS))


# --- training: positive and negative control, augmented Lagrangian ---------------------------------

def test_a_chain_is_recovered_from_zero(chain_models):
    model, _ = chain_models
    learned = as_graph(model.decoder.scm.edges())
    truth = as_graph([(0, 1), (1, 2)])
    assert shd(cpdag(learned), cpdag(truth)) <= 1, (model.decoder.scm.adjacency(), learned.edges)  # the class
    assert shd(learned, truth) <= 1  # nonlinear mechanisms with additive noise also orient the chain here


def test_independent_factors_give_no_edges(independent_model):
    model, _ = independent_model
    a = model.decoder.scm.adjacency().detach().abs()
    assert model.decoder.scm.edges() == [] and float(a.max()) < EDGE_THRESHOLD, a


def test_the_augmented_lagrangian_drives_h_to_zero(chain_model):
    model, result = chain_model
    h = [r["dag_h"] for r in result.history]
    assert max(h) > 1e-3  # the mechanism fit alone proposes cycles ...
    # ... the penalty removes them; gradient steps leave |A| ~ 1e-2 off the DAG (h ~ 1e-3), pruning then
    # zeroes them and h is exactly 0
    assert h[-1] < min(1e-2, 0.1 * max(h)), (max(h), h[-1])
    pruned = copy.deepcopy(model.decoder.scm)
    pruned.prune()
    assert float(dag_penalty(pruned.adjacency())) == 0.0
    assert float(model.rho) > 1.0 and float(model.alpha) > 0.0  # ρ raised, α accumulated ρh
    assert float(model.dual_step) == len(result.history)


def test_concepts_are_the_labels_and_checkpoints_round_trip_with_the_pruned_graph(chain_model, tmp_path):
    model, _ = chain_model
    factors = chain_scm().sample(500, seed=5)
    x = torch.from_numpy(dataset(factors).x)
    concepts = model.concepts(x).detach().numpy()
    r2 = 1 - ((concepts - factors) ** 2).mean(0) / factors.var(0)
    # c's concept is g_c(b's concept) + ε_c: b's error reaches it through a slope of up to |A[b, c]| ≈ 2
    assert (r2 > 0.8).all() and r2[0] > 0.9, r2
    model = copy.deepcopy(model)
    model.decoder.scm.prune()
    path = save_checkpoint(tmp_path / "scm.safetensors", model)
    back = load_model(path)
    assert back.decoder.scm.edges() == model.decoder.scm.edges()
    for name in ("decoder.scm.keep", "decoder.scm.weights", "rho", "alpha", "label_mean", "label_std"):
        assert torch.equal(back.state_dict()[name], model.state_dict()[name]), name
    assert torch.equal(back.eval()(x).logits, model.eval()(x).logits)


def test_training_resumes_bit_identically(tmp_path):
    torch.set_num_threads(1)
    data = dataset(chain_scm().sample(512, seed=2))

    def run(steps, folder):
        model = make_vae("scm-vae", input_shape=(OBS,), latent_dim=4, hidden=(16,), n_concepts=3, dual_every=5)
        train(model, data, steps=steps, batch_size=64, lr=1e-3, checkpoint_dir=folder, checkpoint_every=7,
              progress=False)
        return model

    whole = run(30, tmp_path / "whole")
    run(14, tmp_path / "cut")
    resumed = run(30, tmp_path / "cut")
    for k, v in whole.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_mechanism_sites_are_declared_sites_of_the_model_and_only_an_scm_vae_has_them():
    from causalvae.pipeline.latent_measures import mechanism_sites

    model = make_vae("scm-vae", input_shape=(OBS,), latent_dim=4, hidden=(16,), n_concepts=3)
    assert mechanism_sites(model) == ["decoder.scm.m0", "decoder.scm.m1", "decoder.scm.m2"]
    assert set(mechanism_sites(model)) <= {s.name for s in model.sites}
    assert mechanism_sites(make_vae("vae", input_shape=(OBS,), latent_dim=4, hidden=(16,))) == []
