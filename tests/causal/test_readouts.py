import numpy as np
import pytest

from causalvae.causal.effect_graph import causal_unit_graph
from causalvae.causal.readouts import fit_readouts, readouts
from causalvae.data.dataset import FactorDataset
import networkx as nx


def render(v, rng, noise=0.05):
    """Tiny 'images' (1x8x8): factor 0 (continuous) sets a left ramp, factor 1 (discrete 0/1/2) a right block."""
    n = len(v)
    img = np.zeros((n, 1, 8, 8))
    img[:, 0, :, :4] = v[:, :1, None] * np.linspace(0, 1, 4)[None, None, :]
    img[:, 0, :4, 4:] = v[:, 1, None, None]
    return img + noise * rng.normal(size=img.shape)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    v = np.stack([rng.uniform(-1, 1, 600), rng.integers(0, 3, 600)], axis=1).astype(float)
    return v, fit_readouts(render(v, rng), v, factor_names=["pos", "shape"], factor_kinds=["continuous", "discrete"],
                           n_components=16, seed=0)


def test_held_out_scores_are_reported_and_high_on_learnable_factors(fitted):
    _, r = fitted
    s = r.scores.set_index("factor")
    assert s.loc["pos", "metric"] == "r2" and s.loc["pos", "test"] > 0.95
    assert s.loc["shape", "metric"] == "accuracy" and s.loc["shape", "test"] > 0.95
    assert s.loc["shape", "baseline"] < 0.5


def test_unlearnable_factor_scores_near_chance():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(400, 1))
    r = fit_readouts(rng.normal(size=(400, 20)), v, factor_names=["noise"], factor_kinds=["continuous"], seed=0)
    assert r.scores["test"].iloc[0] < 0.1


def test_effect_matrix_b_puts_each_latent_on_its_factor(fitted):
    v, r = fitted
    rng = np.random.default_rng(2)
    base_v = v[:100]
    moved_pos = base_v + [0.5, 0]             # latent 0 moves the continuous factor
    moved_shape = base_v.copy(); moved_shape[:, 1] = (moved_shape[:, 1] + 1) % 3   # latent 1 changes shape
    B = r.effects(render(base_v, rng, 0), {"latent.mu[0]": render(moved_pos, rng, 0),
                                           "latent.mu[1]": render(moved_shape, rng, 0)})
    assert B.targets == ("factor.pos", "factor.shape") and B.sources == ("latent.mu[0]", "latent.mu[1]")
    assert B.value("latent.mu[0]", "factor.pos") == pytest.approx(0.5 / r.factor_std[0], rel=0.1)
    assert B.value("latent.mu[0]", "factor.shape") < 0.1 < B.value("latent.mu[1]", "factor.shape")
    signed = r.effects(render(base_v, rng, 0), {"latent.mu[0]": render(moved_pos, rng, 0)}, statistic="mean")
    assert signed.value("latent.mu[0]", "factor.pos") == pytest.approx(0.5 / r.factor_std[0], rel=0.1)
    G = causal_unit_graph([signed], stages={"latent.mu": "latent"})
    assert ("latent.mu[0]", "readout.pos") in G.edges and G.nodes["readout.pos"]["role"] == "readout"


def test_readouts_from_a_factor_dataset_and_bad_input(fitted):
    rng = np.random.default_rng(3)
    v = np.stack([rng.uniform(-1, 1, 200), rng.integers(0, 3, 200)], axis=1)
    dag = nx.DiGraph(); dag.add_nodes_from(("pos", "shape"))
    ds = FactorDataset(name="toy", x=render(v, rng).astype(np.float32), factors=v, factor_names=("pos", "shape"),
                       factor_kinds=("continuous", "discrete"), factor_dag=dag)
    r = readouts(ds, n=150, n_components=8, seed=0)
    assert r.predict(ds.images(np.arange(5))).shape == (5, 2)
    assert r.cross_talk is None and set(r.scores["status"]) <= {"unchecked", "weak"}  # no pairs: leaks unmeasured
    _, fitted_r = fitted
    with pytest.raises(ValueError, match="observations must have shape"):
        fitted_r.predict(np.zeros((3, 64)))
    with pytest.raises(ValueError, match="factors must have shape"):
        fit_readouts(np.zeros((20, 4)), np.zeros((20, 3)), factor_names=["a", "b"], factor_kinds=["continuous"] * 2)
    with pytest.raises(ValueError, match="NaN"):
        fit_readouts(np.full((20, 4), np.nan), np.zeros((20, 1)), factor_names=["a"], factor_kinds=["continuous"])
    with pytest.raises(ValueError, match="kind must be"):
        fit_readouts(np.random.default_rng(0).normal(size=(20, 4)), np.zeros((20, 1)), factor_names=["a"],
                     factor_kinds=["ordinal"])
    with pytest.raises(ValueError, match="paired with baseline"):
        fitted_r.effects(np.zeros((4, 1, 8, 8)), {"latent.mu[0]": np.zeros((3, 1, 8, 8))})


# --- factorial read-outs: tolerance, cross-talk, status ------------------------------------------------

def correlated_sampler():
    """``b = a + 0.1 e`` (strongly correlated with a); a is drawn only as sin(3a) (hard for a linear
    read-out), b plainly, c independent and plain."""
    from causalvae.data.scm import Additive, Linear, SCMSampler, StructuralCausalModel

    scm = StructuralCausalModel({"a": Additive(), "b": Additive(("a",), Linear((1.0,)), 0.1), "c": Additive()})
    observe = lambda v: np.stack([np.sin(3 * v[:, 0]), v[:, 1], v[:, 2], np.zeros(len(v))], axis=1)  # noqa: E731
    return SCMSampler(name="toy-correlated", scm=scm, observe=observe, obs_shape=(4,), factor_dag=scm.dag("toy"))


def test_observational_readout_leaks_where_a_correlated_factor_stands_in_and_factorial_fitting_does_not():
    from causalvae.causal.readouts import cross_talk

    ds = correlated_sampler()(1000, seed=0)
    observational = fit_readouts(ds.images(), ds.factors, factor_names=ds.factor_names,
                                 factor_kinds=ds.factor_kinds, n_components=4, seed=0)
    assert observational.scores.set_index("factor").loc["a", "test"] > 0.95  # b stands in for a
    flagged = observational.with_cross_talk(cross_talk(observational, ds, n_pairs=300, seed=0))
    s = flagged.scores.set_index("factor")
    assert s.loc["a", "status"] == "leaks" and s.loc["a", "leak"] > s.loc["a", "tolerance"] / flagged.factor_std[0]
    assert flagged.cross_talk[1, 0] == s.loc["a", "leak"]  # changing only b moves read-out a
    assert s.loc["c", "status"] == "ok" and flagged.usable.tolist() == [False, s.loc["b", "status"] == "ok", True]
    factorial = readouts(ds, n=1000, n_components=4, n_pairs=300, seed=0).scores.set_index("factor")
    assert factorial.loc["a", "status"] == "weak" and factorial.loc["a", "leak"] < 0.1  # honest: a is hard to read
    assert factorial.loc["b", "status"] == factorial.loc["c", "status"] == "ok"


def test_tolerance_is_the_held_out_95th_percentile_error_and_status_waits_for_cross_talk(fitted):
    v, r = fitted
    assert r.tolerance.shape == (2,) and np.all(r.tolerance > 0) and np.all(r.tolerance < 0.5 * r.factor_std)
    assert r.scores["status"].tolist() == ["unchecked", "unchecked"] and not r.usable.any()
    with pytest.raises(ValueError, match="cross_talk must have shape"):
        r.with_cross_talk(np.zeros((3, 3)))
    assert r.with_cross_talk(np.eye(2)).usable.all()


def test_factorial_sample_breaks_the_dependence_and_needs_a_generator_or_independent_factors():
    from causalvae.causal.readouts import factorial_sample

    ds = correlated_sampler()(2000, seed=1)
    v, x = factorial_sample(ds, n=2000, seed=0)
    assert abs(np.corrcoef(v[:, 0], v[:, 1])[0, 1]) < 0.1 < np.corrcoef(ds.factors[:, 0], ds.factors[:, 1])[0, 1]
    np.testing.assert_array_equal(x[:, 1], v[:, 1].astype(np.float32))
    frozen = FactorDataset(name="file", x=ds.images(), factors=ds.factors, factor_names=ds.factor_names,
                           factor_kinds=ds.factor_kinds, factor_dag=ds.factor_dag)
    with pytest.raises(ValueError, match="need a generator"):
        factorial_sample(frozen, n=10)


def test_exported_parameters_reproduce_predict_in_torch(fitted):
    import torch

    from causalvae.interventions.interchange import torch_readout

    v, r = fitted
    x = render(v[:50], np.random.default_rng(5))
    ours = torch_readout(r.parameters(), r.factor_names)(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(ours, r.predict(x), atol=1e-4)
