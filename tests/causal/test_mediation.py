import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalvae.causal.mediation import compare_mediation, mediation, treatment_direction
from causalvae.causal.stats import benjamini_hochberg, holm, minimal_effect_pvalues, paired_t_pvalue

# planted linear network: M1 = a1 x + u1, M2 = a2 x + u2, Y = c x + b1 M1 + b2 M2 + uy
A1, A2, B1, B2, C = 1.5, -0.7, 2.0, 1.0, 0.8


def network(x, u, patch=None):
    m = {"m1": A1 * x + u[:, 0], "m2": A2 * x + u[:, 1]}
    m.update(patch or {})
    return C * x + B1 * m["m1"] + B2 * m["m2"] + u[:, 2], m


def mediation_outcomes(x, x_prime, u, mediators):
    """What the intervention helper returns: Y(x), Y(x'), Y(x; M<-M(x')), Y(x'; M<-M(x))."""
    y, m_x = network(x, u)
    y_prime, m_xp = network(x_prime, u)
    y_nie, _ = network(x, u, {k: m_xp[k] for k in mediators})
    y_nde, _ = network(x_prime, u, {k: m_x[k] for k in mediators})
    return {"y": y, "y_prime": y_prime, "y_nie": y_nie, "y_nde": y_nde}


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    n = 300
    x, delta, u = rng.normal(size=n), rng.uniform(0.5, 1.5, size=n), rng.normal(size=(n, 3))
    outs = {m: mediation_outcomes(x, x + delta, u, m) for m in (("m1",), ("m2",), ("m1", "m2"))}
    return delta.mean(), mediation(outs, n_boot=500, seed=1)


def est(df, mediator, estimand):
    return df.set_index(["mediator", "estimand"]).loc[(mediator, estimand), "estimate"]


def test_closed_form_nie_nde_te(planted):
    d, df = planted
    te = (C + A1 * B1 + A2 * B2) * d
    expected = {"m1": (A1 * B1 * d, (C + A2 * B2) * d), "m2": (A2 * B2 * d, (C + A1 * B1) * d),
                "m1+m2": ((A1 * B1 + A2 * B2) * d, C * d)}
    for mediator, (nie, nde) in expected.items():
        assert est(df, mediator, "TE") == pytest.approx(te, abs=1e-6)
        assert est(df, mediator, "NIE") == pytest.approx(nie, abs=1e-6)
        assert est(df, mediator, "NDE") == pytest.approx(nde, abs=1e-6)
        assert est(df, mediator, "fraction") == pytest.approx(nie / te, abs=1e-6)


def test_bootstrap_intervals_bracket_estimates_and_are_seeded(planted):
    _, df = planted
    assert ((df["ci_low"] <= df["estimate"] + 1e-12) & (df["estimate"] <= df["ci_high"] + 1e-12)).all()
    assert list(df.columns) == ["mediator", "outcome", "estimand", "estimate", "ci_low", "ci_high",
                                "p_value", "q_value", "n"]
    rng = np.random.default_rng(3)
    outs = {"m": {"y": rng.normal(size=50), "y_prime": rng.normal(size=50) + 1,
                  "y_nie": rng.normal(size=50), "y_nde": rng.normal(size=50)}}
    a, b, c = (mediation(outs, n_boot=200, seed=s) for s in (5, 5, 6))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])


def test_fdr_separates_real_from_null_mediators():
    rng = np.random.default_rng(0)
    n, outs = 200, {}
    y = rng.normal(size=n)
    for k in range(30):
        shift = 0.5 if k < 3 else 0.0
        outs[f"unit[{k}]"] = {"y": y, "y_prime": y + 1, "y_nie": y + shift + rng.normal(size=n),
                              "y_nde": y + 1 - shift + rng.normal(size=n)}
    df = mediation(outs, n_boot=100, seed=0)
    nie = df[df["estimand"] == "NIE"].set_index("mediator")
    assert (nie["q_value"] >= nie["p_value"] - 1e-15).all()
    significant = set(nie.index[nie["q_value"] < 0.05])
    assert {"unit[0]", "unit[1]", "unit[2]"} <= significant and len(significant) <= 4


def test_multiple_outcome_columns_and_sequence_input():
    y = np.zeros((6, 2))
    out = {"y": y, "y_prime": y + [1, 2], "y_nie": y + [1, 0], "y_nde": y + [0, 2]}
    df = mediation([out], outcome_names=["mu0", "mu1"], n_boot=20)
    frac = df[df["estimand"] == "fraction"].set_index("outcome")["estimate"]
    assert frac["mu0"] == 1.0 and frac["mu1"] == 0.0 and set(df["mediator"]) == {"m0"}
    # constant differences: p = 0 for nonzero effects, p = 1 for zero effects
    nie = df[df["estimand"] == "NIE"].set_index("outcome")["p_value"]
    assert nie["mu0"] == 0.0 and nie["mu1"] == 1.0


def test_bad_outcomes():
    y = np.zeros(5)
    with pytest.raises(ValueError, match="expected a dict with keys"):
        mediation({"m": {"y": y, "y_prime": y}})
    with pytest.raises(ValueError, match="share one shape"):
        mediation({"m": {"y": y, "y_prime": y, "y_nie": y, "y_nde": np.zeros(4)}})
    with pytest.raises(ValueError, match="NaN"):
        mediation({"m": {"y": y + np.nan, "y_prime": y, "y_nie": y, "y_nde": y}})
    with pytest.raises(ValueError, match="outcome_names has 2"):
        mediation({"y": y, "y_prime": y, "y_nie": y, "y_nde": y}, outcome_names=["a", "b"])


def test_benjamini_hochberg_matches_scipy_and_hand_values():
    p = np.random.default_rng(0).uniform(size=50) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p), atol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(np.array([0.01, 0.04, 0.03, np.nan])),
                               [0.03, 0.04, 0.04, np.nan])
    with pytest.raises(ValueError, match="must lie in"):
        benjamini_hochberg(np.array([1.5]))


def test_paired_t_matches_scipy():
    d = np.random.default_rng(1).normal(0.2, 1, size=(40, 3))
    np.testing.assert_allclose(paired_t_pvalue(d), stats.ttest_1samp(d, 0).pvalue)


def test_holm_and_minimal_effect_tests_match_their_definitions():
    p = np.array([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(holm(p)[:3], [0.03, 0.06, 0.06])
    assert np.isnan(holm(p)[3])
    # floor 0 and a signed statistic: the two-sided one-sample t-test on the replicate means
    reps = np.random.default_rng(2).normal(0.3, 1, size=(4, 5))
    se = reps.std(axis=0, ddof=1) / 2
    np.testing.assert_allclose(minimal_effect_pvalues(reps.mean(0), se, dof=3, floor=0.0, signed=True),
                               stats.ttest_1samp(reps, 0).pvalue)
    # at the boundary of the interval null the test is exact: P(p <= 0.05) = 0.05 (simulated)
    draws = np.random.default_rng(3).normal(0.5, 1, size=(20000, 4))
    p_b = minimal_effect_pvalues(draws.mean(1), draws.std(1, ddof=1) / 2, dof=3, floor=0.5, signed=True)
    assert abs((p_b <= 0.05).mean() - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 20000) + 0.002
    with pytest.raises(ValueError, match="finite"):
        minimal_effect_pvalues(np.array([1.0]), np.array([-1.0]), dof=3, floor=0.0, signed=True)


def test_directed_treatment_gives_a_transmitted_factor_a_large_total_effect():
    # Y = 2 v exactly, mediated entirely by M = v; v' drawn from the marginal, so v' - v has either sign
    rng = np.random.default_rng(4)
    v, v_prime = rng.uniform(0, 1, 400), rng.uniform(0, 1, 400)
    out = {"y": 2 * v, "y_prime": 2 * v_prime, "y_nie": 2 * v_prime, "y_nde": 2 * v}
    undirected = mediation({"M": out}, n_boot=200, seed=0).set_index("estimand")
    df = mediation({"M": out}, direction=treatment_direction(v_prime - v), n_boot=200, seed=0).set_index("estimand")
    assert df.loc["TE", "estimate"] == pytest.approx(2 * np.abs(v_prime - v).mean())
    assert df.loc["TE", "ci_low"] > 0 and df.loc["TE", "q_value"] < 1e-10
    assert df.loc["fraction", "estimate"] == pytest.approx(1.0) and df.loc["NDE", "estimate"] == 0.0
    assert abs(undirected.loc["TE", "estimate"]) < 0.25 * df.loc["TE", "estimate"]  # the random contrast cancels


def test_dowhy_observational_within_5_percent_of_interventional():
    from causalvae.causal.dowhy_adapter import observational_mediation

    rng = np.random.default_rng(0)
    n = 5000
    w = rng.normal(size=n)                       # confounding factor w -> x, w -> y
    x = 0.5 * w + rng.normal(size=n)             # treatment factor
    z = 0.9 * x + rng.normal(size=n)             # descendant factor (absorbed into the treatment)
    u = rng.normal(size=(n, 3))
    m1, m2 = A1 * x + u[:, 0], A2 * x + 0.5 * z + u[:, 1]
    y = C * x + B1 * m1 + B2 * m2 + 0.3 * w + u[:, 2]
    frame = pd.DataFrame({"w": w, "x": x, "z": z, "m1": m1, "m2": m2, "y": y})
    dag = nx.DiGraph([("w", "x"), ("x", "z")])
    obs = observational_mediation(frame, dag=dag, treatment="x", mediators=["m1", "m2"], outcome="y")
    # interventional truth for a unit change of x (z follows x under do(x))
    truth = {("m1", "NIE"): A1 * B1, ("m1", "NDE"): C + (A2 + 0.5 * 0.9) * B2,
             ("m2", "NIE"): (A2 + 0.45) * B2, ("m2", "NDE"): C + A1 * B1}
    got = obs.set_index(["mediator", "estimand"])["estimate"]
    for key, value in truth.items():
        assert got[key] == pytest.approx(value, rel=0.05), key
    interventional = pd.DataFrame([{"mediator": m, "outcome": "y", "estimand": e, "estimate": v}
                                   for (m, e), v in truth.items()])
    cmp = compare_mediation(interventional, obs)
    assert len(cmp) == 4 and (cmp["relative_difference"] < 0.05).all()
    with pytest.raises(KeyError, match="missing from the frame"):
        observational_mediation(frame, dag=dag, treatment="x", mediators=["nope"], outcome="y")
    with pytest.raises(ValueError, match="cycle"):
        observational_mediation(frame, dag=nx.DiGraph([("w", "x"), ("x", "w")]), treatment="x",
                                mediators=["m1"], outcome="y")
