"""The SCM layer's structure learning: ``|A|`` bounds each mechanism's sensitivity (so the DAG penalty
cannot be met by rescaling), the augmented Lagrangian stops and prunes as NOTEARS does, and
:func:`fit_structure` is exactly what training does to the layer."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from causalvae.data.scm import Additive, StructuralCausalModel
from causalvae.models import make_vae, train
from causalvae.models.scm_layer import SCMLayer, dag_penalty
from causalvae.causal.discovery import skeleton
from causalvae.models.training import fit_structure
from tests.models.test_scm_vae import OBS, dataset

#: the tests' schedule: dual updates every 5 steps and a low rho_max, so a short run reaches the stop
#: (too early to learn the graph well: recovery is tested in test_scm_vae.py with the default schedule)
FAST_DUAL = dict(scm_lr=2e-2, dual_every=5, rho_mult=10.0, rho_max=100.0)


def collider_labels(n=1024, seed=0):
    """a -> c <- b with a strong nonlinear mechanism (c = 2 tanh(a) + b² + 0.3 u_c)."""
    scm = StructuralCausalModel({"a": Additive(), "b": Additive(),
                                 "c": Additive(("a", "b"), lambda pa: 2 * np.tanh(pa[:, 0]) + pa[:, 1] ** 2, 0.3)})
    return scm.sample(n, seed=seed)


def scm_vae(seed=0, **hyper):
    return make_vae("scm-vae", input_shape=(OBS,), latent_dim=4, hidden=(16,), n_concepts=3, seed=seed,
                    **{**FAST_DUAL, **hyper})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_mechanism_moves_at_most_abs_A_per_unit_of_a_parent_however_large_its_weights(dtype):
    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        layer = SCMLayer(4, 4, hidden=8).to(dtype)
        with torch.no_grad():
            layer.weights.copy_(torch.randn(4, 4, generator=gen, dtype=dtype) * 2)
            for m in layer.mechanisms:  # adversarial: weights that would scale an unnormalised MLP by 1e3
                m.inner.weight.mul_(1e3), m.outer.weight.mul_(1e3), m.inner.bias.normal_(generator=gen)
        u = (torch.randn(256, 4, generator=gen, dtype=dtype) * 3).requires_grad_(True)
        a = layer.adjacency().detach().abs()
        for j in range(4):
            grad = torch.autograd.grad(layer.predict(u)[:, j].sum(), u)[0].abs().amax(0)
            eps = torch.finfo(dtype).eps * 64
            assert torch.all(grad <= a[:, j] * (1 + eps) + eps), (trial, j, grad, a[:, j])
        # the bound is attained up to the ELU's slope: a strong edge needs a large |A|
        assert float(grad.max()) > 0


def test_fit_structure_is_exactly_what_training_does_to_the_scm_layer():
    torch.set_num_threads(1)
    factors = collider_labels()
    trained, alone = scm_vae(seed=3), scm_vae(seed=3)
    train(trained, dataset(factors), steps=60, batch_size=64, lr=1e-3, seed=5, progress=False)
    history = fit_structure(alone, dataset(factors), steps=60, batch_size=64, seed=5)
    assert trained.decoder.scm.pruned and alone.decoder.scm.pruned  # the stop was reached within the run
    for name, value in trained.decoder.scm.state_dict().items():
        assert torch.equal(value, alone.decoder.scm.state_dict()[name]), name
    for name in ("rho", "alpha", "dual_step", "label_mean", "label_std"):
        assert torch.equal(getattr(trained, name), getattr(alone, name)), name
    assert len(history) == 60 and history[-1]["dag_h"] == 0.0


def test_the_dual_ascent_stops_at_rho_max_then_the_pruned_graph_stays_fixed():
    torch.set_num_threads(1)
    model = scm_vae()
    history = fit_structure(model, dataset(collider_labels()), steps=200)
    scm = model.decoder.scm
    assert scm.pruned and float(model.rho) == FAST_DUAL["rho_max"]
    keep, alpha = scm.keep.clone(), model.alpha.clone()
    assert max(r["dag_h"] for r in history) > 0  # there were cycles to remove before the stop
    later = fit_structure(model, dataset(collider_labels()), steps=100)
    assert torch.equal(scm.keep, keep) and torch.equal(model.alpha, alpha)  # no further ascent, same graph
    assert all(r["dag_h"] == 0.0 for r in later) and float(dag_penalty(scm.adjacency().detach())) == 0.0


def test_the_stop_on_h_tol_prunes_without_waiting_for_rho_max():
    model = scm_vae(h_tol=1e30)  # any h is below it: the first dual update stops the ascent
    fit_structure(model, dataset(collider_labels()), steps=FAST_DUAL["dual_every"])
    assert model.decoder.scm.pruned and float(model.rho) == 1.0 and float(model.alpha) == 0.0


def test_fit_structure_rejects_what_it_cannot_fit():
    with pytest.raises(TypeError, match="SCMVAE"):
        fit_structure(make_vae("beta-vae", input_shape=(OBS,), latent_dim=2, hidden=(8,)), None, steps=1)
    with pytest.raises(ValueError, match="factor labels"):
        fit_structure(scm_vae(), SimpleNamespace(factors=None), steps=1)
    with pytest.raises(ValueError, match="steps"):
        fit_structure(scm_vae(), dataset(collider_labels()), steps=-1)


def test_the_skeleton_of_the_labels_bounds_the_support_of_A():
    # a and b independent, c = a + b + noise: PC finds a - c - b, so a -> b and b -> a are never candidates
    labels = StructuralCausalModel({"a": Additive(), "b": Additive(),
                                    "c": Additive(("a", "b"), lambda pa: pa[:, 0] + pa[:, 1], 0.5)}).sample(2000, seed=0)
    model = scm_vae()
    model.restrict_support(skeleton(model.label_array(dataset(labels))))
    keep = model.decoder.scm.keep
    assert keep[0, 1] == 0 and keep[1, 0] == 0
    assert keep[0, 2] == keep[2, 0] == keep[1, 2] == keep[2, 1] == 1  # a - c, b - c stay candidates both ways
    fit_structure(model, dataset(labels), steps=40)
    a = model.decoder.scm.adjacency()
    assert float(a[0, 1]) == float(a[1, 0]) == 0.0
    with pytest.raises(ValueError, match="already pruned"):  # the stop was reached: the graph is fixed
        model.restrict_support(np.ones((3, 3)))
    free = scm_vae()
    fit_structure(free, dataset(labels), steps=0)
    assert free.decoder.scm.keep.sum() == 6  # no restriction: every off-diagonal entry is a candidate
    with pytest.raises(ValueError, match="allowed must be 3 x 3"):
        free.restrict_support(np.ones((2, 2)))
