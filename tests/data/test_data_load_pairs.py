"""The ``load`` / ``names`` entry point and factor-controlled pairs."""

import pickle
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from causalvae.data import FactorDataset, factor_pairs, load, names
from causalvae.data import dsprites as D


def test_names_and_load_every_dataset():
    assert names() == ["3dshapes", "causal-sprites", "dsprites", "mpi3d", "pendulum", "scm-linear", "scm-nonlinear",
                       "smallnorb"]
    for name in sorted(set(names()) - {"3dshapes", "mpi3d", "smallnorb"}):   # files only: test_data_benchmarks.py
        ds = load(name, n=7, seed=1)
        assert isinstance(ds, FactorDataset) and len(ds) == 7 and ds.name == name
        assert ds.images().shape == (7, *ds.obs_shape) and ds.images().dtype == np.float32
        np.testing.assert_array_equal(ds.factors, load(name, n=7, seed=1).factors)     # same seed, same sample
        assert not np.array_equal(ds.factors, load(name, n=7, seed=2).factors)


@pytest.mark.parametrize("name", ["dsprites", "scm-nonlinear", "causal-sprites"])
def test_lazy_datasets_pickle_for_worker_processes(name):
    ds = load(name, n=6, seed=0)
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.images(), ds.images())
    np.testing.assert_array_equal(clone.intervene(3, seed=1).images(), ds.intervene(3, seed=1).images())


def test_load_errors_are_clear():
    with pytest.raises(KeyError, match=r"unknown dataset 'mnist'; expected one of \['3dshapes', 'causal-sprites', 'dsprites'"):
        load("mnist")
    with pytest.raises(TypeError, match=r"path= only applies to 'dsprites'"):
        load("scm-linear", path="x.npz")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['dim'\] for dataset 'dsprites'"):
        load("dsprites", dim=3)
    for bad, error in ((0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="n must be an integer >= 1, got"):
            load("scm-linear", n=bad)
    with pytest.raises(ValueError, match="at most the grid size 737280"):
        load("dsprites", n=737_281)
    with pytest.raises(KeyError, match=r"unknown factor 'color'.*\['shape', 'scale'"):
        load("dsprites", n=3).factor_index("color")


def test_import_is_light():
    code = ("import sys, causalvae.data, causalvae.data.pairs, causalvae.data.dsprites_npz\n"
            "heavy = [m for m in ('torch', 'dowhy', 'pgmpy', 'matplotlib', 'sklearn') if m in sys.modules]\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def _differs(pairs):
    return {name for k, name in enumerate(pairs.factor_names) if not np.allclose(pairs.factors[:, k],
                                                                                 pairs.factors_prime[:, k])}


@pytest.mark.parametrize("factor", D.FACTOR_NAMES)
def test_dsprites_pairs_change_only_one_grid_factor(factor):
    pairs = factor_pairs("dsprites", factor, n=64, seed=3)
    k = pairs.factor_index
    assert len(pairs) == 64 and pairs.x.shape == pairs.x_prime.shape == (64, 1, 64, 64)
    assert np.all(pairs.delta != 0) and _differs(pairs) == {factor}
    sampler = D.sampler()
    idx, idx_prime = sampler.factors_to_index(pairs.factors), sampler.factors_to_index(pairs.factors_prime)
    classes = D.latents_classes(idx)[:, 1:]
    step = (D.latents_classes(idx_prime)[:, 1:] - classes)[:, k]
    np.testing.assert_array_equal(idx_prime - idx, step * D.LATENT_BASES[1:][k])       # index arithmetic
    grid = load("dsprites")
    np.testing.assert_array_equal(pairs.x_prime, grid.images(idx_prime))
    np.testing.assert_array_equal(pairs.x, grid.images(idx))
    again = factor_pairs("dsprites", factor, n=64, seed=3)
    np.testing.assert_array_equal(again.factors_prime, pairs.factors_prime)


def test_pairs_with_a_given_value_skip_rows_already_there():
    ds = load("dsprites", n=400, seed=0)
    pairs = factor_pairs(ds, "shape", n=300, seed=1, value=3)
    assert np.all(pairs.factors_prime[:, 0] == 3) and np.all(pairs.factors[:, 0] != 3)
    np.testing.assert_array_equal(pairs.factors, ds.factors[pairs.rows])
    with pytest.raises(ValueError, match="not on its grid"):
        factor_pairs(ds, "scale", n=3, value=0.55)


def test_causal_sprites_counterfactual_pairs():
    ds = load("causal-sprites", n=500, seed=0)
    pairs = factor_pairs(ds, "shape", n=200, seed=2)
    assert np.all(pairs.delta != 0)
    assert _differs(pairs) == {"shape", "scale", "brightness"}                          # shape and descendants
    np.testing.assert_array_equal(pairs.x, ds.images(pairs.rows))
    np.testing.assert_allclose(pairs.x_prime, ds.intervene.observe(pairs.factors_prime))
    scm = ds.intervene.scm
    np.testing.assert_allclose(scm.abduct(pairs.factors_prime)[:, 1:], scm.abduct(pairs.factors)[:, 1:],
                               atol=1e-8)                                               # same exogenous noise
    bigger = pairs.factors_prime[:, 0] > pairs.factors[:, 0]
    assert np.all((pairs.factors_prime[:, 1] > pairs.factors[:, 1]) == bigger)        # scale rises with shape
    controlled = factor_pairs(ds, "shape", n=200, seed=2, hold="factors")
    assert _differs(controlled) == {"shape"}
    upstream = factor_pairs(ds, "posY", n=50, seed=0)
    assert _differs(upstream) == {"posY"}                                               # posX is not downstream


def test_linear_scm_pairs_closed_form():
    pairs = factor_pairs("scm-linear", "a", n=100, seed=4, value=1.5)
    col = {n: k for k, n in enumerate(pairs.factor_names)}
    delta_a = 1.5 - pairs.factors[:, col["a"]]
    np.testing.assert_allclose(pairs.factors_prime[:, col["a"]], 1.5)
    np.testing.assert_allclose(pairs.factors_prime[:, col["c"]] - pairs.factors[:, col["c"]], 0.72 * delta_a)
    assert _differs(pairs) == {"a", "b", "c", "d", "e"}
    ds = load("scm-linear", n=10)
    np.testing.assert_allclose(pairs.x_prime, ds.intervene.observe(pairs.factors_prime))
    leaf = factor_pairs("scm-linear", "e", n=100, seed=4, dim=8)
    assert _differs(leaf) == {"e"} and leaf.x.shape == (100, 8)
    assert np.corrcoef(leaf.factors[:, col["e"]], leaf.factors_prime[:, col["e"]])[0, 1] < 0.3   # fresh draws


def test_more_pairs_than_rows_resamples():
    ds = load("scm-nonlinear", n=10, seed=0)
    pairs = factor_pairs(ds, "b", n=25, seed=0)
    assert len(pairs) == 25 and set(pairs.rows) <= set(range(10))


def test_pair_errors():
    ds = load("scm-linear", n=20)
    with pytest.raises(KeyError, match="unknown factor 'z'"):
        factor_pairs(ds, "z")
    with pytest.raises(ValueError, match=r"hold must be one of \('noise', 'factors'\)"):
        factor_pairs(ds, "a", hold="exogenous")
    with pytest.raises(TypeError, match="only apply when the dataset is given by name"):
        factor_pairs(ds, "a", dim=8)
    with pytest.raises(ValueError, match="finite"):
        factor_pairs(ds, "a", value=np.nan)
    with pytest.raises(ValueError, match=r"must lie in \[0.5, 1.0\]"):
        factor_pairs("causal-sprites", "scale", n=5, value=0.2)
    dag = nx.DiGraph()
    dag.add_node("u")
    plain = FactorDataset(name="plain", x=np.zeros((4, 2), np.float32), factors=np.zeros((4, 1)),
                          factor_names=("u",), factor_kinds=("continuous",), factor_dag=dag)
    with pytest.raises(ValueError, match="need a grid dataset .* or an SCM dataset"):
        factor_pairs(plain, "u", n=2)
