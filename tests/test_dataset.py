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
