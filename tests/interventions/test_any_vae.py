"""Any VAE works, its roles declared, not guessed: dict / tuple / distribution outputs, sampling forward
passes, every floating dtype, ``nn.Sequential`` ids, latents named ``mu`` or ``to_mean``, functional
fx-node sites, user datasets."""

import numpy as np
import pytest
import torch
from torch import distributions, nn
from torch.utils.data import TensorDataset

from causalvae.data import FactorDataset
from causalvae.interventions import (ModelSpec, ablate_outside, ablation_effects, capture, declared, edge_effects,
                                     factor_effects, intervene, latent_effects, latent_output_profiles,
                                     mediation_outcomes, node_site_names, patching_effects, site_roles, sites, zero)
from causalvae.interventions.spec import model_spec
from causalvae.units import SiteRole, parse_unit

GEN = torch.Generator().manual_seed(0)
X16 = torch.rand(10, 16, generator=GEN)


class DictVAE(nn.Module):
    """forward -> {"mean", "logvar", "x_hat"}: the first value is the 6 latent means, not the reconstruction."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(16, 8)
        self.to_mean, self.logvar = nn.Linear(8, 6), nn.Linear(8, 6)
        self.dec = nn.Linear(6, 16)

    def forward(self, x):
        h = torch.relu(self.enc(x))
        mean = self.to_mean(h)
        return {"mean": mean, "logvar": self.logvar(h), "x_hat": self.dec(mean)}


class TutorialVAE(nn.Module):
    """The common tutorial VAE: z = mu + sigma * eps even in eval mode; forward -> (x_hat, mu, logvar)."""

    def __init__(self):
        super().__init__()
        self.enc, self.mu, self.logvar, self.dec = nn.Linear(16, 8), nn.Linear(8, 3), nn.Linear(8, 3), nn.Linear(3, 16)

    def forward(self, x):
        h = torch.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.dec(z), mu, logvar


class Functional(nn.Module):
    """Functional ReLU, a ``chunk`` into halves and a residual ``add``: sites only the fx graph shows."""

    def __init__(self):
        super().__init__()
        self.fc, self.proj, self.out = nn.Linear(4, 6), nn.Linear(3, 3), nn.Linear(3, 4)

    def forward(self, x):
        left, right = torch.relu(self.fc(x)).chunk(2, dim=1)
        return self.out(self.proj(left) + right)


class NormalVAE(nn.Module):
    """Returns torch.distributions objects: p(x | z) and q(z | x)."""

    def __init__(self, deterministic: nn.Module):
        super().__init__()
        self.inner = deterministic

    def forward(self, x):
        x_hat, mu, logvar = self.inner(x)
        return distributions.Normal(x_hat, 1.0), distributions.Normal(mu, torch.exp(0.5 * logvar))


class MeanVAE(nn.Module):
    """A deterministic tuple-output VAE (z = mu) with latent ``mu``."""

    def __init__(self):
        super().__init__()
        self.enc, self.mu, self.logvar, self.dec = nn.Linear(16, 8), nn.Linear(8, 3), nn.Linear(8, 3), nn.Linear(3, 16)

    def forward(self, x):
        h = torch.relu(self.enc(x))
        mu = self.mu(h)
        return self.dec(mu), mu, self.logvar(h)


MEAN_SPEC = ModelSpec(latent_site="mu", reconstruction=0, logvar_site="logvar")


def _seeded(cls, seed=0):
    torch.manual_seed(seed)
    return cls()


# -- the reconstruction is declared ---------------------------------------------------------------------------
def test_dict_output_without_a_declaration_is_refused_naming_the_keys():
    with pytest.raises(ValueError, match=r"dict of 3 values.*'x_hat': tensor 16.*ModelSpec\(reconstruction=<key>\)"):
        patching_effects(_seeded(DictVAE), X16, X16.flip(0), targets=["output"])


@pytest.mark.parametrize("reconstruction", ["x_hat", lambda out: out["x_hat"]])
def test_dict_output_reconstruction_by_key_or_callable(reconstruction):
    model = _seeded(DictVAE)
    m = patching_effects(model, X16, X16.flip(0), sites=["to_mean"], targets=["output"], statistic="mean",
                         spec=ModelSpec(reconstruction=reconstruction))
    assert m.targets == tuple(f"output[{i}]" for i in range(16))  # the reconstruction, not the 6 means
    with torch.no_grad():
        mean, donor = model.to_mean(torch.relu(model.enc(X16))), model.to_mean(torch.relu(model.enc(X16.flip(0))))
        w = model.dec.weight.double()
    expected = np.stack([((donor - mean)[:, u].double()[:, None] * w[:, u]).mean(0).numpy() for u in range(6)])
    np.testing.assert_allclose(m.values, expected, atol=1e-6)


def test_tuple_output_by_index_and_bad_declarations_are_named():
    model = _seeded(MeanVAE)
    with pytest.raises(ValueError, match=r"tuple of 3 values.*ModelSpec\(reconstruction=<index>\)"):
        ablation_effects(model, X16)
    with pytest.raises(IndexError, match="reconstruction=5 indexes the model output.*3 values"):
        ablation_effects(model, X16, spec=ModelSpec(reconstruction=5))
    with pytest.raises(KeyError, match=r"reconstruction='x' is not a key.*\['mean', 'logvar', 'x_hat'\]"):
        ablation_effects(_seeded(DictVAE), X16, spec=ModelSpec(reconstruction="x"))
    with pytest.raises(ValueError, match="ModelSpec.stochastic must be one of"):
        ModelSpec(stochastic="sometimes")


def test_distribution_outputs_stand_for_their_mean():
    deterministic = _seeded(MeanVAE)
    with pytest.warns(UserWarning, match="could not be traced"):  # Normal(...) is untraceable: the hook loop runs
        dist = ablation_effects(NormalVAE(deterministic), X16, sites=["inner.mu"], targets=["output", "recon_error"],
                                spec=ModelSpec(reconstruction=0))
    plain = ablation_effects(deterministic, X16, sites=["mu"], targets=["output", "recon_error"], spec=MEAN_SPEC)
    np.testing.assert_allclose(dist.values, plain.values, atol=1e-6)


# -- a forward pass must be deterministic ---------------------------------------------------------------------
def test_sampling_in_eval_mode_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"not deterministic in eval mode.*z = mu.*stochastic='fixed-seed'"):
        ablation_effects(_seeded(TutorialVAE), X16, spec=ModelSpec(reconstruction=0))


def test_fixed_seed_reseeds_every_pass_and_leaves_the_rng_alone():
    model, spec = _seeded(TutorialVAE), ModelSpec(latent_site="mu", reconstruction=0, stochastic="fixed-seed", seed=3)
    state = torch.random.get_rng_state()
    first = ablation_effects(model, X16, sites=["mu"], targets=["output"], spec=spec)
    second = ablation_effects(model, X16, sites=["mu"], targets=["output"], spec=spec)
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_array_equal(first.values, second.values)
    assert first.meta["method"] == "naive"  # the cached replay cannot redraw the noise
    with torch.no_grad(), torch.random.fork_rng():  # by hand: zero mu_0 under the clean pass's noise draw
        model.eval()
        torch.manual_seed(3)
        clean = model(X16)[0]
        torch.manual_seed(3)
        with intervene(model, {"mu": zero([0])}):
            ablated = model(X16)[0]
    np.testing.assert_allclose(first.values[0], (ablated - clean).abs().double().mean(0).numpy(), atol=1e-6)


# -- every floating dtype --------------------------------------------------------------------------------------
def _grid_dataset():
    levels = np.stack(np.meshgrid(np.arange(3.0), np.arange(2.0), indexing="ij"), -1).reshape(-1, 2)
    x = np.concatenate([levels, levels ** 2, np.ones((6, 12))], axis=1) / 4
    return FactorDataset.from_arrays(np.repeat(x, 3, 0), np.repeat(levels, 3, 0), factor_names=["a", "b"])


def _declared_capture(model, x):
    with declared(model, MEAN_SPEC):  # the hook primitives take the declaration in force
        return capture(model, x.to(next(model.parameters()).dtype), ["dec"])["dec"].double().numpy()


ENTRY_POINTS = {
    "ablation_exact": lambda m, x: ablation_effects(m, x, kind="mean", spec=MEAN_SPEC).values,
    "ablation_naive": lambda m, x: ablation_effects(m, x, kind="mean", method="naive", spec=MEAN_SPEC).values,
    "ablation_attribution": lambda m, x: ablation_effects(m, x, method="attribution", spec=MEAN_SPEC).values,
    "ablation_screen": lambda m, x: ablation_effects(m, x, method="screen", spec=MEAN_SPEC).values,
    "edge": lambda m, x: edge_effects(m, x, spec=MEAN_SPEC).values,
    "patching": lambda m, x: patching_effects(m, x, x.flip(0), spec=MEAN_SPEC).values,
    "factor": lambda m, x: factor_effects(m, _grid_dataset(), n_pairs=6, spec=MEAN_SPEC).values,
    "latent": lambda m, x: latent_effects(m, x, spec=MEAN_SPEC).values,
    "latent_calibrated": lambda m, x: latent_effects(m, x, calibrated=True, spec=MEAN_SPEC).values,
    "profiles": lambda m, x: latent_output_profiles(m, x, spec=MEAN_SPEC),
    "mediation": lambda m, x: mediation_outcomes(m, x, x.flip(0), mediators=["mu[0]"], outcome="output",
                                                 spec=MEAN_SPEC)["y_nie"],
    "ablate_outside": lambda m, x: ablate_outside(m, x, {"enc[1]"}, sites=["enc"], spec=MEAN_SPEC),
    "capture": lambda m, x: _declared_capture(m, x),
    "sites": lambda m, x: np.array([s.n_units for s in sites(m, x).values()], dtype=float),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=str)
def test_every_entry_point_runs_in_every_dtype_within_its_precision(entry, dtype):
    reference = _seeded(MeanVAE).double()
    model = _seeded(MeanVAE).to(dtype)
    x = torch.rand(8, 16, generator=torch.Generator().manual_seed(1))  # float32 inputs: cast to the model's dtype
    got, want = ENTRY_POINTS[entry](model, x), ENTRY_POINTS[entry](reference, x.double())
    tolerance = 64 * torch.finfo(dtype).eps * max(1.0, float(np.abs(want).max()))
    assert got.dtype == np.float64 and np.abs(got - want).max() <= tolerance


def test_float64_mean_ablation_is_exact_in_float64():
    model = _seeded(MeanVAE).double()
    x = torch.rand(8, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    m = ablation_effects(model, x, sites=["mu"], targets=["dec"], kind="mean", statistic="mean", spec=MEAN_SPEC)
    with torch.no_grad():
        mu = model.mu(torch.relu(model.enc(x)))
        expected = ((mu.mean(0) - mu)[:, :, None] * model.dec.weight.T[None]).mean(0).numpy()
    np.testing.assert_allclose(m.values, expected, rtol=0, atol=8 * torch.finfo(torch.float64).eps)


def test_mixed_dtypes_are_refused():
    model = _seeded(MeanVAE)
    model.dec.double()
    with pytest.raises(TypeError, match=r"mix dtypes.*model.to\(dtype\)"):
        ablation_effects(model, X16, spec=MEAN_SPEC)


# -- ids of nn.Sequential models round-trip ------------------------------------------------------------------
def test_sequential_ids_round_trip():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    m = ablation_effects(net, torch.rand(5, 3, generator=GEN), targets=["2", "output"])
    assert m.sources[:5] == ("0[0]", "0[1]", "0[2]", "0[3]", "1[0]")
    assert [parse_unit(u) for u in m.sources][:2] == [("0", 0), ("0", 1)]
    assert {parse_unit(t)[0] for t in m.targets} == {"2", "output"}


# -- the latent is declared, whatever its name -----------------------------------------------------------------
@pytest.mark.parametrize("model, spec", [(MeanVAE, MEAN_SPEC),
                                         (DictVAE, ModelSpec(latent_site="to_mean", reconstruction="x_hat",
                                                             logvar_site="logvar"))], ids=["mu", "to_mean"])
def test_latent_named_mu_or_to_mean_gets_the_latent_role(model, spec):
    model = _seeded(model)
    roles = site_roles(model, spec=spec)
    assert roles[spec.latent_site] == roles["logvar"] == SiteRole("latent", "latent")
    assert roles["x"] == SiteRole("input", "input") and roles["enc"] == SiteRole("hidden", "encoder")
    assert roles["dec"] == SiteRole("output", "decoder")
    m = latent_effects(model, X16, values=[0.0, 1.0], spec=spec)
    assert m.sources[0] == f"{spec.latent_site}[0]" and m.targets[0] == "dec[0]" and m.targets[-1] == "output_l2"


def test_an_undeclared_latent_is_an_error_saying_what_to_pass():
    with pytest.raises(ValueError, match=r"latent_effects needs the latent \(mean\) site.*"
                                         r"ModelSpec\(latent_site=<the site holding mu>\).*'mu'"):
        latent_effects(_seeded(MeanVAE), X16, spec=ModelSpec(reconstruction=0))


def test_our_vae_declares_its_roles_in_its_site_table(conv_vae):
    spec = model_spec(conv_vae)
    assert (spec.latent_site, spec.logvar_site, spec.reconstruction) == ("latent.mu", "latent.logvar", 0)
    roles = site_roles(conv_vae)
    assert roles["latent.z"] == SiteRole("latent", "latent") and roles["encoder.fc"] == SiteRole("hidden", "encoder")
    assert roles["decoder.deconv4"] == SiteRole("output", "decoder")


# -- every fx node is a site ------------------------------------------------------------------------------------
def test_functional_relu_add_and_chunk_halves_are_sites():
    model, x = _seeded(Functional), torch.rand(7, 4, generator=GEN)
    assert node_site_names(model) == ["x", "relu", "chunk", "getitem", "getitem_1", "add"]
    sites_ = ["relu", "getitem", "getitem_1", "add"]
    exact = ablation_effects(model, x, sites=sites_, targets=["output", "add"], statistic="mean")
    naive = ablation_effects(model, x, sites=sites_, targets=["output", "add"], statistic="mean", method="naive")
    np.testing.assert_allclose(exact.values, naive.values, atol=1e-6)
    with torch.no_grad():  # zeroing add[j] moves the output by -out.W[:, j] * add_j
        left, right = torch.relu(model.fc(x)).chunk(2, dim=1)
        add = model.proj(left) + right
        expected = -(add[:, :, None] * model.out.weight.T[None]).mean(0)
    rows = [exact.sources.index(f"add[{j}]") for j in range(3)]
    np.testing.assert_allclose(exact.values[rows, :4], expected.numpy(), atol=1e-6)
    roles = site_roles(model, spec=ModelSpec(latent_site="add"))
    assert roles["relu"] == SiteRole("hidden", "encoder") and roles["out"] == SiteRole("output", "decoder")


def test_fx_sites_in_mediation_and_a_tuple_node_is_refused_with_its_items():
    model, x = _seeded(Functional), torch.rand(7, 4, generator=GEN)
    out = mediation_outcomes(model, x, x.flip(0), mediators=["getitem_1[0]"], outcome="add[0]")
    np.testing.assert_allclose(out["y_nie"] - out["y"], (x.flip(0) @ model.fc.weight.T + model.fc.bias)[:, 3]
                               .relu().detach() - (x @ model.fc.weight.T + model.fc.bias)[:, 3].relu().detach(),
                               atol=1e-6)
    with pytest.raises(ValueError, match="chunk's: use its items, the getitem nodes"):
        ablation_effects(model, x, sites=["chunk"])


def test_unknown_sites_list_module_paths_and_fx_nodes():
    with pytest.raises(KeyError, match=r"unknown site\(s\) \['addd'\].*module paths.*'fc'.*fx node names.*'add'"):
        ablation_effects(_seeded(Functional), torch.rand(3, 4), sites=["addd"])


def test_a_container_module_with_fx_sites_is_refused():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))

        def forward(self, x):
            return torch.relu(self.body(x))

    with pytest.raises(ValueError, match=r"\['body'\] are not called whole.*containers torch.fx traces through"):
        ablation_effects(Wrapped(), torch.rand(3, 2), sites=["body", "relu"])


# -- datasets the user brings ---------------------------------------------------------------------------------
def test_tensor_dataset_inputs_and_factor_datasets_from_arrays():
    model = _seeded(MeanVAE)
    dataset = TensorDataset(X16, torch.zeros(10))
    np.testing.assert_array_equal(ablation_effects(model, dataset, spec=MEAN_SPEC).values,
                                  ablation_effects(model, X16, spec=MEAN_SPEC).values)
    with pytest.raises(TypeError, match=r"TensorDataset.*FactorDataset.from_arrays\(x, factors, factor_names="):
        factor_effects(model, dataset, spec=MEAN_SPEC)
    m = factor_effects(model, _grid_dataset(), sites=["mu"], n_pairs=6, spec=MEAN_SPEC)
    assert m.sources == ("factor.a", "factor.b") and np.all(np.isfinite(m.values))


@pytest.mark.parametrize("module", ["spec", "forward", "fxsites", "roles", "analysis", "batching", "sites", "ablation"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"causalvae.interventions.{module}"),
                             optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
