"""CodeCache and the fixed-factor scores (FactorVAE, beta-VAE): planted codes, caching, seeds."""

import numpy as np
import pytest

from causalvae.metrics import CodeCache, FactorGroups, beta_vae_score, factor_vae_score

SMALL = dict(batch_size=32, n_train=600, n_eval=300)


class CountingEncoder:
    """A representation function that records every observation index it encodes."""

    def __init__(self, transform):
        self.transform, self.seen = transform, []

    def __call__(self, x):
        self.seen.extend(x[:, 0].astype(int).tolist())
        return self.transform(x[:, 1:])


def pool(grid, transform):
    observations = np.hstack([np.arange(len(grid))[:, None], grid])
    encoder = CountingEncoder(transform)
    return CodeCache(grid, observations=observations, represent=encoder, batch_size=97), encoder


def test_same_value_draws_share_the_fixed_factor(grid):
    groups, rng = FactorGroups(grid), np.random.default_rng(0)
    factor = rng.integers(grid.shape[1], size=200)
    anchors = rng.integers(len(grid), size=200)
    members = groups.same_value(factor, anchors, 16, rng)
    fixed = grid[members, factor[:, None]]
    assert np.all(fixed == grid[anchors, factor][:, None])
    assert np.all(grid[members].std(axis=1)[np.arange(200), (factor + 1) % grid.shape[1]] > 0)


def test_factor_vae_perfect_code_and_rotation(grid, make_disentangled, make_entangled):
    good = factor_vae_score(CodeCache(grid, codes=make_disentangled(grid)), **SMALL)
    assert good == {"factor_vae_train": 1.0, "factor_vae_eval": 1.0, "factor_vae_active_dims": 5.0}
    bad = factor_vae_score(CodeCache(grid, codes=make_entangled(grid)), **SMALL)
    assert bad["factor_vae_eval"] < 0.8


def test_factor_vae_prunes_collapsed_latents(grid, make_disentangled):
    codes = np.hstack([make_disentangled(grid), np.full((len(grid), 2), 0.5)])
    out = factor_vae_score(CodeCache(grid, codes=codes), **SMALL)
    assert out["factor_vae_active_dims"] == 5.0 and out["factor_vae_eval"] == 1.0
    collapsed = factor_vae_score(CodeCache(grid, codes=np.zeros((len(grid), 3)) + 1e-3 * grid[:, :3]), **SMALL)
    assert collapsed == {"factor_vae_train": 0.0, "factor_vae_eval": 0.0, "factor_vae_active_dims": 0.0}


def test_beta_vae_perfect_code_and_noise(grid, make_disentangled):
    assert beta_vae_score(CodeCache(grid, codes=make_disentangled(grid)), **SMALL)["beta_vae_eval"] > 0.99
    noise = np.random.default_rng(0).normal(size=(len(grid), 5))
    assert beta_vae_score(CodeCache(grid, codes=noise), **SMALL)["beta_vae_eval"] < 0.4


def test_scores_are_stable_across_seeds(grid, make_disentangled):
    codes = make_disentangled(grid) + np.random.default_rng(0).normal(scale=0.8, size=(len(grid), 5))
    cache = CodeCache(grid, codes=codes)
    fvae = [factor_vae_score(cache, seed=s, **SMALL)["factor_vae_eval"] for s in range(3)]
    bvae = [beta_vae_score(cache, seed=s, **SMALL)["beta_vae_eval"] for s in range(3)]
    assert np.ptp(fvae) < 0.08 and np.ptp(bvae) < 0.08
    assert len(set(fvae)) > 1  # the seed is used


def test_pool_items_are_encoded_once_and_batch_size_does_not_matter(grid, make_disentangled):
    lift = lambda f: make_disentangled(f)  # noqa: E731  (same transform for every batch)
    cache, encoder = pool(grid, lift)
    first = factor_vae_score(cache, **SMALL)
    beta_vae_score(cache, **SMALL)
    factor_vae_score(cache, **SMALL)
    assert len(encoder.seen) == len(set(encoder.seen)) == cache.n_encoded <= len(grid)
    precomputed = factor_vae_score(CodeCache(grid, codes=make_disentangled(grid)), **SMALL)
    assert first == precomputed


def test_from_dataset_subsamples_lazily():
    import networkx as nx

    from causalvae.data.dataset import FactorDataset

    dag = nx.DiGraph()
    dag.add_node("a")
    ds = FactorDataset(name="toy", x=np.arange(40, dtype=np.float32)[:, None],
                       factors=np.repeat(np.arange(10.0), 4)[:, None], factor_names=("a",),
                       factor_kinds=("discrete",), factor_dag=dag)
    cache = CodeCache.from_dataset(ds, lambda x: x.astype(np.float64) * 2, pool_size=12, seed=0)
    assert len(cache) == 12 and cache.n_encoded == 0
    z = cache.codes(np.arange(12))
    np.testing.assert_array_equal(z[:, 0] // 8, cache.factors[:, 0])


def test_cache_errors_are_clear(grid):
    with pytest.raises(ValueError, match="codes= or both"):
        CodeCache(grid)
    cache = CodeCache(grid, observations=grid, represent=lambda x: x[:, :1] * np.nan)
    with pytest.raises(ValueError, match="non-finite"):
        cache.codes(np.arange(3))
    cache = CodeCache(grid, observations=grid, represent=lambda x: x[:2])
    with pytest.raises(ValueError, match="represent must return"):
        cache.codes(np.arange(3))
    with pytest.raises(IndexError, match="pool indices"):
        CodeCache(grid, codes=grid).codes(np.array([len(grid)]))


def test_continuous_factors_are_flagged(grid):
    values = np.random.default_rng(0).normal(size=(len(grid), 1))
    with pytest.warns(UserWarning, match=r"columns \[5\] look continuous.*discretised into 20 equal-width bins"):
        factor_vae_score(CodeCache(np.hstack([grid, values]), codes=grid), **SMALL)


def test_factors_whose_values_rarely_repeat_are_flagged():
    rare = np.r_[np.arange(14.0), np.full(16, 99.0)][:, None]  # 15 classes (discrete), 14 of them single items
    with pytest.warns(UserWarning, match="occur once in the pool"):
        factor_vae_score(CodeCache(rare, codes=rare), batch_size=4, n_train=20, n_eval=20, n_variance=20)
