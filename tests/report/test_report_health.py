"""Warnings of the report: each fires on its own planted problem, none on a healthy run (the negative control)."""

import json

import pandas as pd
import pytest

from causalvae.report.health import MIN_DCI, health_warnings
from causalvae.report.metric_info import METRIC_INFO, describe
from causalvae.report.run_folder import read_run_folder

from report_run_folder import ARTIFACTS

HEALTHY = {"disentanglement.dci.random-forest.disentanglement": 0.6, "disentanglement.mig": 0.4,
           "n_active_latents": 6, "recon.mse": 0.004, "recon.baseline_mse": 0.016,
           "alignment.iia.coordinates.dag": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95},
           "alignment.control.no-swap": 0.4}


@pytest.fixture()
def healthy(run_copy):
    (run_copy / "metrics.json").write_text(json.dumps(HEALTHY))
    tables = run_copy / "tables"
    pd.DataFrame({"latent": [f"latent.mu[{i}]" for i in range(6)], "kl": [2.0] * 6}).to_csv(tables / "latent_kl.csv",
                                                                                             index=False)
    scores = pd.read_csv(tables / "readout_scores.csv").assign(status="ok")
    scores.to_csv(tables / "readout_scores.csv", index=False)
    circuits = pd.read_csv(tables / "circuits.csv").assign(status="found")
    circuits.to_csv(tables / "circuits.csv", index=False)
    return run_copy


def warnings_of(run_dir):
    return health_warnings(read_run_folder(run_dir, ARTIFACTS))


def test_a_healthy_run_gets_no_warning(healthy):
    assert warnings_of(healthy) == []


def test_the_planted_run_gets_every_warning_it_deserves(complete_run):
    found = warnings_of(complete_run)
    assert [w.split(":")[0].split(" (")[0] for w in found] == [
        "The model is barely disentangled", "1 of 6 latents are collapsed", "Weak read-out of 1 of 4 factors",
        "1 of 3 circuits were not found"]


@pytest.mark.parametrize("change, expected", [
    ({"disentanglement.dci.random-forest.disentanglement": MIN_DCI - 1e-9}, "barely disentangled"),
    ({"disentanglement.dci.random-forest.disentanglement": MIN_DCI}, None),  # the threshold itself is fine
    ({"recon.mse": 0.0081}, "Reconstructions are poor: MSE 0.0081 is 51% of the best constant image's 0.016."),
    ({"recon.mse": 0.008}, None),
    ({"alignment.control.no-swap": 0.86}, "The alignment is not better than its control: best strict IIA 0.9"),
    ({"alignment.control.no-swap": 0.85}, None),
])
def test_each_warning_fires_exactly_past_its_threshold(healthy, change, expected):
    (healthy / "metrics.json").write_text(json.dumps({**HEALTHY, **change}))
    found = warnings_of(healthy)
    assert (found == []) if expected is None else (len(found) == 1 and expected in found[0])


def test_collapsed_latents_are_named_from_the_kl_table_or_counted_from_the_metric(healthy):
    table = healthy / "tables" / "latent_kl.csv"
    pd.DataFrame({"latent": ["latent.mu[0]", "latent.mu[1]"], "kl": [0.0099, 0.01]}).to_csv(table, index=False)
    assert warnings_of(healthy) == ["1 of 2 latents are collapsed (KL < 0.01 nats from the prior): latent.mu[0]. "
                                    "They carry no information; interventions on them measure the decoder, not "
                                    "the data."]
    table.unlink()
    (healthy / "metrics.json").write_text(json.dumps({**HEALTHY, "n_active_latents": 4}))
    assert warnings_of(healthy) == ["2 of 6 latents are collapsed (KL < 0.01 nats from the prior)."]


def test_every_metric_pattern_has_a_direction_and_a_one_line_definition():
    assert all(direction in "↑↓·" and definition and "\n" not in definition and len(definition) < 130
               for _, direction, definition in METRIC_INFO)
    assert describe("alignment.total.shd").definition.startswith("SHD of the total-effect")  # specific before general
    assert describe("alignment.iia_graded.das.dag").definition.startswith("Graded IIA")
