"""SCM datasets: statistics match the structural equations; do() cuts incoming edges; counterfactuals."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalvae.data import causal_sprites, load, synthetic
from causalvae.data.scm import Additive, Categorical, Linear, StructuralCausalModel

N = 40_000


def _ols(y, *xs):
    """Least-squares coefficients of y on xs (with intercept, dropped from the result)."""
    design = np.column_stack([np.ones_like(y), *xs])
    return np.linalg.lstsq(design, y, rcond=None)[0][1:]


@pytest.fixture(scope="module")
def linear():
    ds = load("scm-linear", n=N, seed=0)
    return ds, {name: ds.factors[:, k] for k, name in enumerate(ds.factor_names)}


def test_dag_has_chain_fork_and_collider():
    for name in ("scm-linear", "scm-nonlinear"):
        dag = load(name, n=10).factor_dag
        assert len(dag) >= 5 and nx.is_directed_acyclic_graph(dag)
        assert dag.has_edge("a", "b") and dag.has_edge("b", "c")                   # chain a -> b -> c
        assert dag.has_edge("b", "c") and dag.has_edge("b", "d")                   # fork c <- b -> d
        assert dag.has_edge("c", "e") and dag.has_edge("d", "e") and not dag.has_edge("c", "d")  # collider
        assert dag.degree("f") == 0


def test_linear_regressions_recover_structural_coefficients(linear):
    _, v = linear
    np.testing.assert_allclose(_ols(v["b"], v["a"]), [0.9], atol=0.02)
    np.testing.assert_allclose(_ols(v["c"], v["a"], v["b"]), [0.0, 0.8], atol=0.02)    # a -> c only via b
    np.testing.assert_allclose(_ols(v["d"], v["b"]), [-0.7], atol=0.02)
    np.testing.assert_allclose(_ols(v["e"], v["c"], v["d"], v["b"]), [0.6, 0.5, 0.0], atol=0.03)
    residual = v["e"] - 0.6 * v["c"] - 0.5 * v["d"]
    assert residual.std() == pytest.approx(0.5, rel=0.03)
    assert np.var(v["b"]) == pytest.approx(0.81 + 0.36, rel=0.05)                     # closed form
    assert abs(np.corrcoef(v["f"], v["e"])[0, 1]) < 0.02


def test_linear_intervention_cuts_incoming_edges():
    sampler = load("scm-linear", n=10).intervene
    rng = np.random.default_rng(1)
    forced = rng.normal(0, 1, N)
    ds = sampler(N, {"c": forced}, seed=3)
    v = {name: ds.factors[:, k] for k, name in enumerate(ds.factor_names)}
    np.testing.assert_array_equal(v["c"], forced)
    assert abs(np.corrcoef(v["b"], v["c"])[0, 1]) < 0.02                               # b -> c cut
    np.testing.assert_allclose(_ols(v["e"], v["c"], v["d"]), [0.6, 0.5], atol=0.02)  # outgoing edges kept
    np.testing.assert_allclose(_ols(v["b"], v["a"]), [0.9], atol=0.02)               # upstream unchanged
    const = sampler(N, {"b": 2.0}, seed=4)
    c = const.factors[:, const.factor_index("c")]
    assert c.mean() == pytest.approx(1.6, abs=0.02) and c.std() == pytest.approx(0.6, rel=0.03)
    a = const.factors[:, 0]
    assert a.std() == pytest.approx(1.0, rel=0.03)                                      # a's law unchanged
    assert const.meta["do"] == {"b": 2.0}


def test_nonlinear_residuals_match_structural_equations():
    ds = load("scm-nonlinear", n=N, seed=1)
    v = {name: ds.factors[:, k] for k, name in enumerate(ds.factor_names)}
    residuals = {
        "b": (v["b"] - 2 * np.tanh(v["a"]), 0.5),
        "c": (v["c"] - (0.5 * v["b"] ** 2 - 1), 0.5),
        "d": (v["d"] - np.sin(1.5 * v["b"]), 0.4),
        "e": (v["e"] - (np.tanh(v["c"]) - 0.8 * v["d"] + 0.3 * v["c"] * v["d"]), 0.3),
    }
    for name, (res, sigma) in residuals.items():
        assert abs(res.mean()) < 0.02, name
        assert res.std() == pytest.approx(sigma, rel=0.03), name
        assert abs(np.corrcoef(res, v["a"])[0, 1]) < 0.02, name                         # noise independent
    under = load("scm-nonlinear", n=10).intervene(N, {"a": 1.0}, seed=2)
    b = under.factors[:, 1]
    assert b.mean() == pytest.approx(2 * np.tanh(1.0), abs=0.01)


def test_observation_mixing_is_fixed_deterministic_and_injective():
    a = load("scm-nonlinear", n=500, seed=0, dim=12)
    b = load("scm-nonlinear", n=500, seed=0, dim=12)
    assert a.x.shape == (500, 12) and a.x.dtype == np.float32
    np.testing.assert_array_equal(a.images(), b.images())
    other = load("scm-nonlinear", n=500, seed=0, dim=12, mixing_seed=1)
    assert not np.allclose(a.images(), other.images())
    # the mixing is injective and piecewise linear: distinct factors never collide
    x = a.images().astype(np.float64)
    dist = np.linalg.norm(x[:, None] - x[None], axis=-1)[np.triu_indices(500, 1)]
    assert dist.min() > 1e-3
    # nonlinear: not an affine function of the factors
    design = np.column_stack([np.ones(500), a.factors])
    fit = design @ np.linalg.lstsq(design, x, rcond=None)[0]
    assert np.abs(fit - x).max() > 0.05
    # the same mixing maps interventional samples
    sampler = a.intervene
    ds = sampler(5, {"a": 0.0}, seed=9)
    np.testing.assert_allclose(ds.images(), sampler.observe(ds.factors))


def test_bad_dim_and_options():
    with pytest.raises(ValueError, match=r"dim must be an integer >= the number of factors \(6\)"):
        load("scm-linear", n=10, dim=4)
    with pytest.raises(TypeError, match="unknown option"):
        load("scm-linear", n=10, width=3)


def test_do_errors_are_clear():
    lin = load("scm-linear", n=10).intervene
    with pytest.raises(KeyError, match=r"unknown factor 'z'.*\['a', 'b'"):
        lin(10, {"z": 1.0})
    with pytest.raises(ValueError, match="finite"):
        lin(10, {"a": np.inf})
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        lin(10, {"a": np.zeros(3)})
    cs = causal_sprites.sampler()
    with pytest.raises(ValueError, match=r"must be one of \[1.0, 2.0, 3.0\]"):
        cs(10, {"shape": 4})
    with pytest.raises(ValueError, match=r"must lie in \[0.5, 1.0\]"):
        cs(10, {"scale": 1.5})
    with pytest.raises(ValueError, match=r"n must be an integer >= 1, got 0"):
        cs(0)


def test_causal_sprites_follow_their_dag():
    ds = load("causal-sprites", n=20_000, seed=0)
    f = ds.frame()
    assert ds.factor_kinds == ("discrete", "continuous", "continuous", "continuous", "continuous", "continuous")
    assert set(ds.factor_dag.edges) == {("shape", "scale"), ("scale", "brightness"), ("posX", "posY")}
    means = f.groupby("shape")["scale"].mean()
    assert means[1.0] < means[2.0] < means[3.0]                                        # shape -> scale
    assert np.corrcoef(f["scale"], f["brightness"])[0, 1] > 0.5                        # scale -> brightness
    assert np.corrcoef(f["posX"], f["posY"])[0, 1] > 0.6                               # posX -> posY
    assert abs(np.corrcoef(f["orientation"], f["scale"])[0, 1]) < 0.03
    # brightness depends on shape only through scale: logit residual is independent of shape
    logit = np.log((f["brightness"] - 0.3) / (1 - f["brightness"])) - 6 * (f["scale"] - 0.75)
    assert logit.std() == pytest.approx(0.5, rel=0.03)
    assert abs(np.corrcoef(logit, f["shape"])[0, 1]) < 0.03
    imgs = ds.images(np.arange(20))
    assert imgs.shape == (20, 1, 64, 64)
    np.testing.assert_allclose(imgs.reshape(20, -1).max(axis=1), f["brightness"][:20], rtol=1e-6)
    under = ds.intervene(5000, {"scale": 0.55}, seed=1)
    assert abs(np.corrcoef(under.factors[:, 0], under.factors[:, 2])[0, 1]) < 0.04     # shape -/-> brightness


def test_counterfactual_keeps_non_descendants_and_noise():
    scm = synthetic.scm_nonlinear()
    v = scm.sample(2000, seed=5)
    np.testing.assert_allclose(scm.solve(scm.abduct(v)), v, atol=1e-10)               # exact abduction
    cf = scm.counterfactual(v, {"b": 0.3})
    changed = {name for k, name in enumerate(scm.factor_names) if not np.allclose(cf[:, k], v[:, k])}
    assert changed == {"b"} | scm.descendants("b") == {"b", "c", "d", "e"}
    noise = scm.abduct(v)
    np.testing.assert_allclose(scm.abduct(cf)[:, 2:4], noise[:, 2:4], atol=1e-10)     # c, d keep their noise


@settings(max_examples=25, deadline=None)
@given(value=st.floats(-3, 3), seed=st.integers(0, 10_000))
def test_linear_counterfactual_closed_form(value, seed):
    scm = synthetic.scm_linear()
    v = scm.sample(20, seed=seed)
    cf = scm.counterfactual(v, {"a": value})
    col = {name: k for k, name in enumerate(scm.factor_names)}
    delta_a = value - v[:, col["a"]]
    np.testing.assert_allclose(cf[:, col["b"]] - v[:, col["b"]], 0.9 * delta_a, atol=1e-9)
    np.testing.assert_allclose(cf[:, col["e"]] - v[:, col["e"]], (0.6 * 0.8 - 0.5 * 0.7) * 0.9 * delta_a, atol=1e-9)
    np.testing.assert_array_equal(cf[:, col["f"]], v[:, col["f"]])


def test_scm_definition_errors():
    with pytest.raises(ValueError, match="unknown parents"):
        StructuralCausalModel({"a": Additive(("z",), Linear((1.0,)))})
    with pytest.raises(ValueError, match="cyclic"):
        StructuralCausalModel({"a": Additive(("b",), Linear((1.0,))), "b": Additive(("a",), Linear((1.0,)))})
    scm = StructuralCausalModel({"s": Categorical((1.0, 2.0))})
    with pytest.raises(ValueError, match=r"shape \(n, 1\)"):
        scm.abduct(np.zeros((3, 2)))
