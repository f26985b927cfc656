"""The strict-IIA tolerance a network is scored with, and its chance level.

A collapsed network (its reconstructions all read out as the factor's mean) must not pass the strict
criterion by a tolerance wider than the factor's spread; a faithful one keeps its read-outs.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalvae.causal.abstraction import MAX_MATCH_CHANCE, match_chance, pair_scores
from causalvae.interventions.alignment_search import network_readouts


def brute_force(values, tol):
    i, j = np.triu_indices(len(values), k=1)
    return (np.abs(values[i] - values[j]) <= tol).mean(axis=0)


@pytest.mark.parametrize("seed", range(5))
def test_match_chance_counts_every_pair_exactly_with_ties(seed):
    rng = np.random.default_rng(seed)
    values = np.column_stack([rng.integers(0, 4, 60).astype(float), rng.normal(size=60), np.zeros(60)])
    tol = np.array([1.0, rng.uniform(0.05, 2.0), 0.0])
    np.testing.assert_allclose(match_chance(values, tol), brute_force(values, tol), rtol=0, atol=1e-12)
    assert match_chance(values, tol)[2] == 1.0  # a constant factor: every draw matches


def test_match_chance_agrees_with_the_closed_forms_of_uniform_and_gaussian_factors():
    rng = np.random.default_rng(0)
    n, t = 4000, 0.25
    values = np.column_stack([rng.uniform(size=n), rng.normal(size=n)])
    chance = match_chance(values, np.array([t, t]))
    se = np.sqrt(0.25 / n) * 4  # generous: U-statistic of n draws
    assert abs(chance[0] - (1 - (1 - t) ** 2)) < se                 # |U - U'| <= t
    assert abs(chance[1] - (2 * stats.norm.cdf(t / np.sqrt(2)) - 1)) < se  # V - V' ~ N(0, 2)


def readouts(tolerance, sd, status=("ok", "ok")):
    return SimpleNamespace(tolerance=np.asarray(tolerance, dtype=float), factor_std=np.asarray(sd, dtype=float),
                           usable=np.array([s == "ok" for s in status]),
                           scores=pd.DataFrame({"factor": ["a", "b"], "status": list(status)}))


def test_a_collapsed_network_loses_its_read_outs_and_a_faithful_one_keeps_them():
    rng = np.random.default_rng(1)
    factors = rng.uniform(size=(400, 2))
    r = readouts([0.02, 0.02], factors.std(axis=0))
    collapsed = np.tile(factors.mean(axis=0), (200, 1))         # every reconstruction reads as the mean
    spec, table = network_readouts(r, collapsed, factors[:200], factors)
    assert not spec.usable.any() and (table["match_chance"] > MAX_MATCH_CHANCE).all()
    # negative control of the old rule: with that tolerance a constant prediction "matches" most targets
    strict, _ = pair_scores(collapsed, factors[200:], tolerance=spec.tolerance, variance=np.ones(2))
    assert strict.mean() > 0.5
    faithful = factors[:200] + rng.normal(scale=0.01, size=(200, 2))
    spec, table = network_readouts(r, faithful, factors[:200], factors)
    assert spec.usable.all() and (table["match_chance"] < 0.1).all()
    assert table["used"].tolist() == [True, True] and list(spec.names) == ["a", "b"]


def test_a_weak_read_out_stays_unused_however_fine_the_network():
    factors = np.random.default_rng(2).uniform(size=(100, 2))
    spec, table = network_readouts(readouts([0.02, 0.02], [0.3, 0.3], status=("ok", "weak")), factors, factors, factors)
    assert spec.usable.tolist() == [True, False] and table["status"].tolist() == ["ok", "weak"]
