"""The paper-study analysis on tiny checkpoints trained here: cells found with their step, unfinished cells
left out, numbers from the functions ``causalvae run`` uses, cache reuse, atomic outputs."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from causalvae import data, models
from causalvae.pipeline import latent_measures as lm
from causalvae.sweep import study, study_report

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = study.StudySettings(n_analysis=16, n_train=120, n_test=60, seed=0)
N = 400


def _dataset(name="scm-linear"):
    return data.load(name, n=N, seed=0)


def _train(folder: Path, variant: str, seed: int, steps: int) -> None:
    ds = _dataset()
    extra = {"codebook_size": 8, "code_dim": 2} if variant == "vq-vae" else {}
    model = models.make_vae(variant, input_shape=ds.obs_shape, latent_dim=3, seed=seed, **extra)
    models.train(model, ds, steps=steps, batch_size=32, lr=1e-3, seed=seed, checkpoint_dir=folder, progress=False)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    for variant, seed, steps in (("vae", 0, 3), ("vae", 1, 3), ("vq-vae", 0, 3), ("beta-vae", 0, 2)):
        _train(root / "scm-linear" / f"{variant}_seed{seed}", variant, seed, steps)
    (root / "scm-linear" / "notes").mkdir()  # not a cell
    return root


@pytest.mark.slow
def test_cells_are_found_with_their_step(study_dir):
    cells = study.find_cells(study_dir)
    assert [(c.variant, c.seed, c.step) for c in cells] == [("beta-vae", 0, 2), ("vae", 0, 3), ("vae", 1, 3),
                                                            ("vq-vae", 0, 3)]
    with pytest.raises(FileNotFoundError, match="study folder not found"):
        study.find_cells(study_dir / "absent")


@pytest.mark.slow
def test_a_cell_is_measured_by_the_run_functions(study_dir):
    cell = next(c for c in study.find_cells(study_dir) if c.variant == "vq-vae")
    ds = _dataset()
    values = study.measure_cell(cell, ds, SETTINGS)
    model = models.load_model(cell.checkpoint).eval()
    x = ds.images(np.sort(np.random.default_rng(0).choice(N, size=16, replace=False)))
    information = models.code_entropy(model, x)
    quality = models.reconstruction_quality(model, x)
    expected = lm.paper_measures(model, x, information=information, recon_error=quality["nll"]).scores(information)
    assert values["ces.paper"] == expected["ces.paper"] and values["recon.nll"] == quality["nll"]
    assert values["n_active_latents"] == float((information > 0.01).sum())
    assert {"dci.disentanglement", "dci.completeness", "mig", "ces.active_only", "specificity.bounded",
            "circuit_modularity.mean"} <= set(values)
    assert 0.0 <= values["dci.disentanglement"] <= 1.0 and 0.0 <= values["mig"] <= 1.0


@pytest.mark.slow
def test_the_script_excludes_unfinished_cells_and_reuses_its_cache(study_dir, tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import paper_study_analyse as script
    finally:
        sys.path.remove(str(ROOT / "examples"))
    out = tmp_path / "analysis"
    argv = ["--study", str(study_dir), "--out", str(out), "--target-step", "3", "--n", str(N), "--n-analysis", "16",
            "--n-train", "120", "--n-test", "60"]
    assert script.main(argv) == 0
    summary = json.loads((out / "study.json").read_text())
    assert summary["unfinished"] == ["scm-linear/beta-vae_seed0 (step 2)"]
    assert summary["finished"] == ["scm-linear/vae_seed0", "scm-linear/vae_seed1", "scm-linear/vq-vae_seed0"]
    vae = {r["key"]: r for r in summary["table"] if r["variant"] == "vae"}
    cells = [json.loads((out / "cells" / "scm-linear" / f"vae_seed{s}.json").read_text()) for s in (0, 1)]
    xs = [c["metrics"]["ces.paper"] for c in cells]
    assert vae["ces.paper"]["n"] == 2 and vae["ces.paper"]["mean"] == pytest.approx(np.mean(xs), abs=1e-15)
    assert not any(r["variant"] == "beta-vae" for r in summary["table"])
    assert max(c["n"] for c in summary["correlations"]) == 3  # the finished cells only (fewer where a value is NaN)
    md = (out / "study.md").read_text()
    assert "beta-vae_seed0 (step 2)" in md and "CES–DCI" in md
    for name in ("cells.csv", "table.csv", "correlations.csv"):
        assert (out / name).stat().st_size > 0

    measured = []
    monkeypatch.setattr(study, "measure_cell", lambda cell, *a, **k: measured.append(cell.name) or {})
    assert script.main(argv) == 0
    assert measured == []  # every finished cell came from the cache
    _train(study_dir / "scm-linear" / "vae_seed1", "vae", 1, 4)  # trained further: measured again
    monkeypatch.setattr(study, "measure_cell", lambda cell, *a, **k: measured.append(cell.name) or {"mig": 0.5})
    assert script.main([*argv[:5], "3", *argv[6:]]) == 0
    assert measured == ["scm-linear/vae_seed1"]

    assert script.main([*argv, "--measure-unfinished"]) == 0  # provisional numbers, still out of the statistics
    assert measured[-1] == "scm-linear/beta-vae_seed0"
    summary = json.loads((out / "study.json").read_text())
    assert "scm-linear/beta-vae_seed0 (step 2)" in summary["unfinished"]
    assert not any(r["variant"] == "beta-vae" for r in summary["table"])
    assert "| scm-linear/beta-vae_seed0 | 2 |" in (out / "study.md").read_text()


def test_correlation_rows_cover_both_ces_forms_and_every_covariate_set():
    records = {f"d/v{i}": {"dataset": "d", "variant": f"v{i % 2}", "seed": i, "step": 10,
                           "metrics": {"dci.disentanglement": float(i), "ces.paper": float(-i),
                                       "ces.active_only": float(i % 3), "n_active_latents": float(i % 2),
                                       "recon.nll": float(i * i)}} for i in range(8)}
    rows = study_report.correlation_rows(records)
    assert len(rows) == 2 * 4 * 2
    marginal = next(r for r in rows if r["ces"] == "CES (all latents)" and r["covariates"] == "none"
                    and r["method"] == "pearson")
    assert marginal["r"] == pytest.approx(-1.0, abs=1e-12) and marginal["n"] == 8
