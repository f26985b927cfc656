"""A new stage that writes a new table touches two files: its stage module (body + artifact declaration)
and its row of ``STAGE_TABLE`` — here both live in this test, the row monkeypatched into the table.

Export writes the declared table and the report shows it with its title and caption; an output the
stage does not declare is still refused, with the error saying where to declare it.
"""

import json

import pandas as pd
import pytest

import causalvae.pipeline as pipeline
from causalvae.pipeline import RunConfig, Stage, run
from causalvae.pipeline import model_stages as m
from causalvae.pipeline import output_stages as o
from causalvae.report.artifacts import ArtifactSpec

#: The throwaway stage's artifact declaration (what its module would hold next to its body).
TOY_ARTIFACTS = (ArtifactSpec.table("toy_factor_ranges", "Factor ranges (toy stage)",
                                    "Smallest and largest value of each factor over the dataset.", expected=True),)


def toy_factor_ranges(ctx):
    """The throwaway stage's body: one table of the dataset's factor ranges."""
    ds = ctx.dataset
    ctx.tables["toy_factor_ranges"] = pd.DataFrame({"factor": ds.factor_names, "low": ds.factors.min(axis=0),
                                                    "high": ds.factors.max(axis=0)})


def toy_with_an_undeclared_table(ctx):
    toy_factor_ranges(ctx)
    ctx.tables["toy_undeclared"] = pd.DataFrame({"a": [1]})


def run_with(body, monkeypatch, out):
    table = (Stage("data", m.load_data, (), m.DATA_ARTIFACTS), Stage("toy", body, ("data",), TOY_ARTIFACTS),
             Stage("export", o.export, ("data",)), Stage("report", o.report, ("export",)))
    monkeypatch.setattr(pipeline, "STAGE_TABLE", table)
    return run(RunConfig.resolve(dataset="scm-linear", quick=True, out=str(out)))


def test_a_declared_table_of_a_new_stage_is_exported_and_reported_with_its_caption(tmp_path, monkeypatch):
    ctx = run_with(toy_factor_ranges, monkeypatch, tmp_path / "run")
    assert {s: r["state"] for s, r in ctx.folder.status.items()} == dict.fromkeys(("data", "toy", "export", "report"),
                                                                                   "done")
    written = pd.read_csv(tmp_path / "run" / "tables" / "toy_factor_ranges.csv")
    assert list(written["factor"]) == list(ctx.dataset.factor_names)
    assert (written["low"] <= written["high"]).all()
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<h3>Factor ranges (toy stage)</h3>" in page
    assert "Smallest and largest value of each factor over the dataset." in page
    assert ctx.artifacts.spec("table", "toy_factor_ranges").stage == "toy"


def test_an_undeclared_table_is_refused_naming_where_to_declare_it(tmp_path, monkeypatch):
    ctx = run_with(toy_with_an_undeclared_table, monkeypatch, tmp_path / "run")
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["toy"]["state"] == "done" and status["export"]["state"] == "failed"
    assert ("table 'toy_undeclared' is not in the run-folder registry: add it to the artifacts of the stage that "
            "produces it (its stage module, carried by its row of STAGE_TABLE)") in status["export"]["error"]
    assert not (tmp_path / "run" / "tables").exists()  # refused before anything was written
    assert ctx.folder.status["report"]["state"] == "skipped"


def test_export_without_the_runs_registry_is_a_clear_error(tmp_path):
    from causalvae.pipeline.context import RunContext
    from causalvae.pipeline.runner import RunWorkspace

    ctx = RunContext(RunConfig.resolve(dataset="scm-linear", quick=True), RunWorkspace(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"ctx.artifacts is None: export and report need the run's artifact "
                                         r"registry \(causalvae.pipeline.run_artifacts\(\)"):
        o.export(ctx)
