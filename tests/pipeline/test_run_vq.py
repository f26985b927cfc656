"""``causalvae run`` on a VQ-VAE: trained or from a checkpoint, every stage done or skipped with its reason."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from causalvae.pipeline import RunConfig, run, run_command
from causalvae.pipeline.runner import NotApplicable, RunWorkspace

#: Stages defined on a Gaussian latent's coordinates only (their reason names VQ-VAE codes): none since
#: circuits and alignment are defined on code positions (docs/metrics.md, "Circuits and alignment on codes").
SKIPPED_FOR_CODES: set[str] = set()


def test_a_stage_that_does_not_apply_is_skipped_with_its_reason_and_so_are_its_dependants(tmp_path):
    folder = RunWorkspace(tmp_path / "run")
    try:
        def not_here():
            raise NotApplicable("not defined for this model: because")

        assert folder.run_stage("a", not_here) is None
        folder.run_stage("b", lambda: 1, needs=("a",))
        assert folder.run_stage("c", lambda: 2) == 2
    finally:
        folder.close()
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["a"] == {"state": "skipped", "reason": "not defined for this model: because"}
    assert status["b"] == {"state": "skipped", "reason": "needs a"} and status["c"]["state"] == "done"
    assert "- a: skipped (not defined for this model: because)" in (tmp_path / "run" / "log.txt").read_text()


def _args(**options):
    names = ("dataset", "path", "variant", "latent_dim", "steps", "n", "batch_size", "lr", "seed", "device",
             "checkpoint", "out", "quick", "n_analysis", "n_pairs", "overwrite")
    return SimpleNamespace(**{**dict.fromkeys(names), "hyper": [], "quick": False, "overwrite": False, **options})


def _check_vq_run(out):
    status = json.loads((out / "status.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert {name for name, s in status.items() if s["state"] == "skipped"} == SKIPPED_FOR_CODES
    assert all(s["state"] == "done" for name, s in status.items() if name not in SKIPPED_FOR_CODES)
    assert all("VQ-VAE codes" in status[name]["reason"] for name in SKIPPED_FOR_CODES)
    assert metrics["ces.paper"] > 0 and 0 <= metrics["specificity.bounded"] <= 1
    assert "disentanglement.mig" in metrics and "disentanglement.gaussian_tc" not in metrics
    assert "ces.calibrated" not in metrics  # quantiles of a latent mean: there is none
    table = (out / "tables" / "latent_code_entropy.csv").read_text().splitlines()
    assert table[0] == "latent,code_entropy" and table[1].startswith("latent.code[0],")
    assert (out / "effects" / "ces_per_latent.csv").exists()
    circuits = pd.read_csv(out / "tables" / "circuits.csv")  # both parts of every factor, found or with a reason
    assert sorted(circuits.groupby("factor")["part"].apply(sorted).iloc[0]) == ["decoder", "encoder"]
    assert circuits["status"].eq("found").any() and circuits["reason"].notna().eq(circuits["status"] != "found").all()
    iia = pd.read_csv(out / "tables" / "alignment_iia.csv")  # code swaps: coordinates, no DAS
    assert "coordinates" in set(iia["alignment"]) and "das" not in set(iia["alignment"])
    assert "alignment.iia.coordinates.empty" in metrics and "alignment.iia.das.empty" not in metrics
    log = (out / "log.txt").read_text()
    assert "traversals: not drawn" in log and "Traceback" not in log


@pytest.mark.slow
def test_vq_vae_runs_trained_and_from_its_checkpoint(tmp_path, capsys):
    trained = tmp_path / "trained"
    # 600 steps: the codes must render some factor finely enough for strict IIA, or alignment is skipped
    assert run_command(_args(dataset="scm-linear", variant="vq-vae", quick=True, steps=600, out=str(trained))) == 0
    _check_vq_run(trained)
    assert "skipped" not in capsys.readouterr().err

    loaded = tmp_path / "loaded"
    config = RunConfig.resolve(dataset="scm-linear", quick=True, steps=0, out=str(loaded),
                               checkpoint=str(trained / "checkpoint" / "model.safetensors"))
    run(config)
    _check_vq_run(loaded)
    first, again = (json.loads((d / "metrics.json").read_text()) for d in (trained, loaded))
    assert again["ces.paper"] == pytest.approx(first["ces.paper"], rel=1e-12)  # same model, same inputs
