"""SAP, DCI (every back end) and explicitness: closed forms, planted codes, back-end equivalence."""

import numpy as np
import pytest

from causalvae.metrics import BACKENDS, dci, dci_from_importance, explicitness, importance_matrix, sap


def test_sap_continuous_closed_form():
    v = np.array([0.0, 1.0, 2.0, 3.0])[:, None]
    z = np.stack([v[:, 0], [1, 0, 0, 1], [0, 0, 1, 1]], axis=1).astype(float)
    # scores: 1, cov 0 -> 0, (2/3)^2 / (1/3 * 5/3) = 0.8  -> gap 1 - 0.8
    assert sap(z, v, z, v, continuous_factors=True)["sap"] == pytest.approx(0.2, abs=1e-9)


def test_sap_binary_factors_perfect_and_swapped():
    rng = np.random.default_rng(0)
    v = rng.integers(2, size=(400, 2)).astype(float)
    z = v[:, ::-1] * np.array([3.0, -2.0])
    # best latent: accuracy 1; runner-up (independent of the factor): chance, about 1/2
    assert sap(z, v, z, v)["sap"] == pytest.approx(0.5, abs=0.06)
    mixed = np.stack([v[:, 0] + v[:, 1], v[:, 0] - v[:, 1]], axis=1)
    assert sap(mixed, v, mixed, v)["sap"] < 0.1


def test_sap_planted_codes_and_n_jobs_invariance(split, make_disentangled, make_entangled):
    train, test = split
    good = sap(make_disentangled(train), train, make_disentangled(test), test, n_jobs=2)["sap"]
    assert good == sap(make_disentangled(train), train, make_disentangled(test), test, n_jobs=1)["sap"]
    bad = sap(make_entangled(train), train, make_entangled(test), test)["sap"]
    assert good > bad + 0.2


def test_dci_from_importance_hand_computed():
    out = dci_from_importance(np.array([[1.0, 1.0], [1.0, 0.0]]))
    assert out["disentanglement"] == pytest.approx(1 / 3, abs=1e-9)
    assert out["completeness"] == pytest.approx(1 / 3, abs=1e-9)
    perfect = dci_from_importance(np.diag([0.2, 0.3, 0.5])[[2, 0, 1]])
    # disentanglement_lib adds 1e-11 to every importance before the entropy
    def one_minus_h3(a):
        q = np.array([a + 1e-11, 1e-11, 1e-11]) / (a + 3e-11)
        return 1 + np.sum(q * np.log(q)) / np.log(3)
    expected = sum(w * one_minus_h3(w) for w in (0.2, 0.3, 0.5))
    assert perfect == pytest.approx({"disentanglement": expected, "completeness": expected}, abs=1e-12)
    assert expected == pytest.approx(1.0, abs=2e-9)
    assert dci_from_importance(np.zeros((3, 2))) == pytest.approx({"disentanglement": 0.0, "completeness": 0.0},
                                                                  abs=1e-9)


def test_dci_from_importance_degenerate_bases_are_one():
    assert dci_from_importance(np.array([[0.4, 0.6]]))["completeness"] == 1.0
    assert dci_from_importance(np.array([[0.4], [0.6]]))["disentanglement"] == 1.0


@pytest.mark.parametrize("backend,top,low", [("lasso", 0.99, 0.4), ("logistic", 0.99, 0.5),
                                             ("random-forest", 0.85, 0.5)])
def test_dci_fast_backends_on_planted_codes(split, make_disentangled, make_entangled, backend, top, low):
    train, test = split
    good = dci(make_disentangled(train), train, make_disentangled(test), test, backend=backend)
    bad = dci(make_entangled(train), train, make_entangled(test), test, backend=backend)
    assert good["disentanglement"] > top and good["completeness"] > top
    assert bad["disentanglement"] < low and bad["completeness"] < low


def test_backends_are_labelled_variants_with_different_numbers(split, make_entangled):
    train, test = split
    z_train, z_test = make_entangled(train), make_entangled(test)
    values = {b: dci(z_train, train, z_test, test, backend=b)["disentanglement"] for b in BACKENDS if b != "gbt"}
    assert len({round(v, 6) for v in values.values()}) == len(values)


@pytest.mark.slow
def test_gbt_parallel_matches_sequential_reference():
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    v = rng.integers(2, size=(90, 3)).astype(float)
    z = np.hstack([v + rng.normal(scale=0.3, size=v.shape), rng.normal(size=(90, 1))])
    imp, train_acc, test_acc = importance_matrix(z[:60], v[:60], z[60:], v[60:], backend="gbt", seed=7, n_jobs=2)
    for k in range(3):
        ref = GradientBoostingClassifier(random_state=7).fit(z[:60], v[:60, k])
        np.testing.assert_array_equal(imp[:, k], ref.feature_importances_)
        assert train_acc[k] == np.mean(ref.predict(z[:60]) == v[:60, k])
        assert test_acc[k] == np.mean(ref.predict(z[60:]) == v[60:, k])
    assert np.argmax(imp[:3], axis=0).tolist() == [0, 1, 2]


@pytest.mark.parametrize("metric", [
    lambda *a, n_jobs: dci(*a, backend="logistic", n_jobs=n_jobs),
    lambda *a, n_jobs: explicitness(*a, n_jobs=n_jobs)], ids=["dci-logistic", "explicitness"])
def test_single_threaded_fits_give_the_same_numbers_in_workers(metric, split, make_entangled):
    # per-factor fits run here (n_jobs=1) or in worker processes, most classes first (n_jobs=2):
    # the same numbers, in factor order
    train, test = split
    z_train, z_test = make_entangled(train), make_entangled(test)
    assert metric(z_train, train, z_test, test, n_jobs=1) == metric(z_train, train, z_test, test, n_jobs=2)


def test_map_largest_first_returns_results_in_task_order():
    from causalvae.metrics.parallel import map_largest_first

    tasks = [(k,) for k in range(5)]
    sizes = [1, 9, 3, 7, 5]
    for n_jobs in (1, 2):
        assert map_largest_first(lambda k: k * k, tasks, sizes, n_jobs=n_jobs) == [0, 1, 4, 9, 16]


def test_random_forest_is_seed_stable(split, make_entangled):
    train, test = split
    train, test = train[:500], test[:200]
    z_train, z_test = make_entangled(train, seed=1), make_entangled(test, seed=1)
    scores = [dci(z_train, train, z_test, test, seed=s)["disentanglement"] for s in (0, 1)]
    assert abs(scores[0] - scores[1]) < 0.03


def test_explicitness_planted_and_constant_latent(split, make_disentangled):
    train, test = split
    z_train, z_test = make_disentangled(train), make_disentangled(test)
    good = explicitness(z_train, train, z_test, test)
    assert good["explicitness_test"] > 0.95
    noise = np.random.default_rng(0).normal(size=(len(train), 5))
    noise_test = np.random.default_rng(1).normal(size=(len(test), 5))
    assert explicitness(noise, train, noise_test, test)["explicitness_test"] < 0.6
    with_constant = explicitness(np.hstack([z_train, np.ones((len(train), 1))]), train,
                                 np.hstack([z_test, np.ones((len(test), 1))]), test)
    assert with_constant == pytest.approx(good, abs=1e-6)


def test_unknown_backend_is_named():
    z = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="expected one of"):
        dci(z, z.round(), z, z.round(), backend="xgboost")
