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
    G = causal_unit_graph([signed], rule="fdr")
    assert ("latent.mu[0]", "readout.pos") in G.edges and G.nodes["readout.pos"]["role"] == "readout"


def test_readouts_from_a_factor_dataset_and_bad_input(fitted):
    rng = np.random.default_rng(3)
    v = np.stack([rng.uniform(-1, 1, 200), rng.integers(0, 3, 200)], axis=1)
    ds = FactorDataset(name="toy", x=render(v, rng).astype(np.float32), factors=v, factor_names=("pos", "shape"),
                       factor_kinds=("continuous", "discrete"), factor_dag=nx.DiGraph([("pos", "shape")]))
    r = readouts(ds, n=150, n_components=8, seed=0)
    assert r.predict(ds.images(np.arange(5))).shape == (5, 2)
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
