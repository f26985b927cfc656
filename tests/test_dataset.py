import networkx as nx
import numpy as np
import pytest

from causalvae.data.dataset import FactorDataset


def make(**kw):
    args = dict(name="toy", x=np.arange(12, dtype=np.float32).reshape(4, 3), factors=np.arange(8).reshape(4, 2),
                factor_names=["a", "b"], factor_kinds=["discrete", "continuous"], factor_dag=nx.DiGraph([("a", "b")]))
    args.update(kw)
    return FactorDataset(**args)


def test_basic_api():
    d = make()
    assert len(d) == 4 and d.n_factors == 2 and d.obs_shape == (3,)
    assert d.factors.dtype == np.float64
    assert d.factor_index("b") == 1
    sub = d.subset([3, 1])
    np.testing.assert_array_equal(sub.factors, [[6, 7], [2, 3]])
    np.testing.assert_array_equal(sub.x[0], [9, 10, 11])
    assert list(d.frame().columns) == ["a", "b"]


@pytest.mark.parametrize("kwargs, err, message", [
    (dict(factors=np.zeros((3, 2))), ValueError, r"factors must have shape \(N, K\) = \(4, 2\)"),
    (dict(factor_kinds=["discrete", "ordinal"]), ValueError, "factor kinds must be one of"),
    (dict(factor_dag=nx.DiGraph([("a", "c")])), ValueError, "must equal factor names"),
    (dict(factor_dag=nx.DiGraph([("a", "b"), ("b", "a")])), ValueError, "has a cycle"),
    (dict(factor_names=["a", "a"], factor_dag=nx.DiGraph([("a", "a")])), ValueError, "unique"),
])
def test_bad_construction(kwargs, err, message):
    with pytest.raises(err, match=message):
        make(**kwargs)


def test_bad_lookups():
    d = make()
    with pytest.raises(KeyError, match=r"unknown factor 'c'.*\['a', 'b'\]"):
        d.factor_index("c")
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        d.subset([0, 4])


def _grid_arrays():
    shape, size = np.meshgrid([0.0, 1.0, 2.0], [0.5, 1.5], indexing="ij")
    factors = np.stack([shape.ravel(), size.ravel()], axis=1)  # the full 3 x 2 grid
    x = np.concatenate([factors, factors.sum(1, keepdims=True)], axis=1).astype(np.float32)
    return x, factors


def test_from_arrays_infers_kinds_and_grids_and_pairs_work():
    from causalvae.data import factor_pairs

    x, factors = _grid_arrays()
    ds = FactorDataset.from_arrays(np.repeat(x, 2, 0), np.repeat(factors, 2, 0), factor_names=["shape", "size"])
    assert ds.factor_kinds == ("discrete", "discrete") and ds.name == "arrays"
    assert [v.tolist() for v in ds.factor_values] == [[0.0, 1.0, 2.0], [0.5, 1.5]]
    assert ds.x.dtype == np.float32 and set(ds.factor_dag.nodes) == {"shape", "size"}
    pairs = factor_pairs(ds, "shape", n=5, seed=0)
    np.testing.assert_array_equal(pairs.factors_prime[:, 1], pairs.factors[:, 1])  # only shape changes
    assert np.all(pairs.delta != 0)
    np.testing.assert_allclose(pairs.x_prime[:, :2], pairs.factors_prime)  # partners are the dataset's own rows


def test_from_arrays_continuous_factor_has_no_grid_and_pairs_say_why():
    from causalvae.data import factor_pairs

    rng = np.random.default_rng(0)
    ds = FactorDataset.from_arrays(rng.normal(size=(30, 3)), np.c_[rng.normal(size=30), np.arange(30) % 2],
                                   factor_names=["angle", "flag"])
    assert ds.factor_kinds == ("continuous", "discrete") and ds.factor_values[0] is None
    with pytest.raises(ValueError, match="grid dataset"):
        factor_pairs(ds, "flag", n=4)
    explicit = FactorDataset.from_arrays(np.zeros((4, 1)), np.zeros((4, 1)), factor_names=["a"], kinds=["continuous"])
    assert explicit.factor_kinds == ("continuous",) and explicit.factor_values == (None,)


def test_from_arrays_takes_tensors_and_keeps_the_callers_dag():
    torch = pytest.importorskip("torch")
    from torch.utils.data import TensorDataset

    x, factors = _grid_arrays()
    tensors = TensorDataset(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(factors))
    dag = nx.DiGraph([("shape", "size")])
    ds = FactorDataset.from_arrays(*tensors.tensors, factor_names=["shape", "size"], factor_dag=dag, name="mine")
    assert ds.x.dtype == np.float32 and ds.name == "mine" and list(ds.factor_dag.edges) == [("shape", "size")]
    assert ds.factor_dag is not dag


@pytest.mark.parametrize("kwargs, message", [
    (dict(factors=np.zeros((4, 3))), r"N x K array with K = len\(factor_names\) = 2, got shape \(4, 3\)"),
    (dict(factors=np.zeros(4)), "N x K array"),
    (dict(kinds=["discrete", "ordinal"]), "factor kinds must be one of"),
    (dict(factor_dag=nx.DiGraph([("a", "z")])), "must equal factor names"),
])
def test_from_arrays_bad_input_names_the_problem(kwargs, message):
    args = {"factors": np.zeros((4, 2)), "factor_names": ["a", "b"], **kwargs}
    with pytest.raises(ValueError, match=message):
        FactorDataset.from_arrays(np.zeros((4, 3)), args.pop("factors"), **args)


def test_data_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, causalvae.data.dataset; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"


def test_docstring_examples_run():
    import doctest

    import causalvae.data.dataset

    result = doctest.testmod(causalvae.data.dataset)
    assert result.attempted > 0 and result.failed == 0
