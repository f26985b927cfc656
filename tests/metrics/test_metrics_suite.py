"""The suite: every key, shared cache, independence of encoding batch size, labelled back ends."""

import numpy as np
import pytest

import causalvae.metrics as metrics
from causalvae.metrics import CodeCache, suite

KEYS = {"mig", "sap", "modularity", "explicitness_train", "explicitness_test", "irs", "irs_active_dims",
        "gaussian_tc", "tc_latents", "n_active_latents", "factor_vae_train", "factor_vae_eval",
        "factor_vae_active_dims", "beta_vae_train", "beta_vae_eval"}
DCI = {"disentanglement", "completeness", "informativeness_train", "informativeness_test"}


def encoded_pool(grid, make_disentangled, batch_size):
    seen = []

    def represent(x):
        seen.extend(x[:, 0].astype(int).tolist())
        return make_disentangled(x[:, 1:])

    observations = np.hstack([np.arange(len(grid))[:, None], grid])
    return CodeCache(grid, observations=observations, represent=represent, batch_size=batch_size), seen


def test_suite_reports_every_metric_once_encoded(grid, make_disentangled):
    cache, seen = encoded_pool(grid, make_disentangled, batch_size=256)
    out = suite(cache, n_train=600, n_test=300, dci_backends=("lasso",))
    assert set(out) == KEYS | {f"dci.lasso.{k}" for k in DCI}
    assert all(isinstance(v, float) and np.isfinite(v) for v in out.values())
    assert len(seen) == len(set(seen)) == cache.n_encoded <= len(grid)
    assert out["mig"] > 0.98 and out["factor_vae_eval"] == 1.0
    assert out["n_active_latents"] == 5.0


def test_suite_does_not_depend_on_encoding_batch_size(grid, make_disentangled):
    a = suite(encoded_pool(grid, make_disentangled, 7)[0], n_train=300, n_test=150, dci_backends=("lasso",))
    b = suite(CodeCache(grid, codes=make_disentangled(grid)), n_train=300, n_test=150, dci_backends=("lasso",))
    assert a == b


def test_suite_backends_are_labelled_and_kl_is_used(grid, make_entangled):
    cache = CodeCache(grid, codes=make_entangled(grid))
    out = suite(cache, n_train=400, n_test=200, dci_backends=("lasso", "logistic"), sampled=False,
                kl=np.array([1.0, 0.0, 0.0, 0.5, 0.0]))
    assert out["dci.lasso.disentanglement"] != out["dci.logistic.disentanglement"]
    assert out["n_active_latents"] == 2.0 and "factor_vae_eval" not in out
    with pytest.raises(ValueError, match="unknown DCI importance back end"):
        suite(cache, dci_backends=("gbm",))


def test_small_pool_warns_and_samples_with_replacement(grid, make_disentangled):
    with pytest.warns(UserWarning, match="with replacement"):
        suite(CodeCache(grid, codes=make_disentangled(grid)), dci_backends=(), sampled=False)


def test_package_exports_resolve_lazily():
    assert metrics.mig.__module__ == "causalvae.metrics.information_gap"
    assert {"suite", "CodeCache", "dci", "factor_vae_score"} <= set(dir(metrics))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        metrics.nope  # noqa: B018


def test_interventional_metrics_are_re_exported():
    import importlib

    module = importlib.import_module("causalvae.metrics.interventional")
    assert module.__all__ and set(module.__all__) <= set(dir(metrics))
    for name in module.__all__:
        assert getattr(metrics, name) is getattr(module, name)


def test_every_suite_key_is_described_by_the_row_that_writes_it(grid, make_disentangled):
    from causalvae.metrics.suite_registry import SUITE, suite_metric_of

    out = suite(CodeCache(grid, codes=make_disentangled(grid)), n_train=300, n_test=150, dci_backends=("lasso",))
    assert {suite_metric_of(key).name for key in out} == {m.name for m in SUITE}   # every row ran, owns its keys
    assert suite_metric_of("mig").direction == "higher" and suite_metric_of("gaussian_tc").direction == "lower"
    assert suite_metric_of("no_such_metric") is None
    for m in SUITE:
        assert all(callable(getattr(metrics, name)) for name in (m.name, *m.exports))


def test_a_new_registry_row_runs_in_the_suite(grid, make_disentangled, monkeypatch):
    from causalvae.metrics import suite_registry

    row = suite_registry.SuiteMetric("mig", "information_gap", lambda fn, s: {"mig_5bins": fn(
        s.z_train, s.v_train, n_bins=5)["mig"]}, ("mig_5bins",), "higher", "MIG with 5 bins.")
    monkeypatch.setattr(suite_registry, "SUITE", (*suite_registry.SUITE, row))
    monkeypatch.setattr("causalvae.metrics.suite_runner.SUITE", suite_registry.SUITE)
    out = suite(CodeCache(grid, codes=make_disentangled(grid)), n_train=300, n_test=150, dci_backends=("lasso",),
                sampled=False)
    assert 0.9 < out["mig_5bins"] <= 1.0 and out["mig"] > 0.98
