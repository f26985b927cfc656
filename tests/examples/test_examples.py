"""The examples: each quick mode runs in a subprocess and writes what it promises; helpers have known answers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalvae.effects import EffectMatrix

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))



def run_example(name: str, out: Path, *extra: str) -> str:
    """Run ``examples/<name>.py --quick --out out``; returns stdout, fails with stderr's tail."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


def read_unit_graph(path: Path):
    from causalvae.graph import read_graphml

    G = read_graphml(path)
    assert G.graph["kind"] == "unit"
    return G


# --- helpers: known answers -------------------------------------------------------------------

def test_scm_helpers():
    import networkx as nx
    from scm_tabular import edges, strongest_mediators

    G = nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")])
    assert edges(G) == "a--b, b->c"
    assert edges(nx.DiGraph()) == "(none)"
    table = pd.DataFrame({"treatment": ["factor.a", "factor.a", "factor.b", "factor.b"],
                          "mediator": ["latent.mu[0]", "latent.mu[1]", "latent.mu[0]", "latent.mu[0]"],
                          "outcome": ["readout.a", "readout.a", "readout.b", "readout.a"],
                          "estimand": ["NIE", "NIE", "NIE", "NIE"], "estimate": [0.1, -0.5, 0.3, 9.0]})
    top = strongest_mediators(table, top=2)
    assert top["estimate"].tolist() == [-0.5, 0.3]  # the off-diagonal 9.0 (b on readout.a) is not counted


# --- the quick modes, end to end --------------------------------------------------------------

@pytest.mark.slow
def test_own_vae_quick(tmp_path):
    stdout = run_example("own_vae", tmp_path)
    assert "causal unit graph:" in stdout and "most responsive latent per factor" in stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["unit_graph_edges"] > 0 and len(summary["ces_per_latent"]) == 6
    assert set(summary["best_latent_per_factor"]) == {f"factor.{k}" for k in "abcdef"}
    assert all(v.startswith("mu[") for v in summary["best_latent_per_factor"].values())
    G = read_unit_graph(tmp_path / "unit.graphml")
    assert G.number_of_edges() == summary["unit_graph_edges"]
    assert {d["site"] for _, d in G.nodes(data=True)} >= {"factor", "encoder.1", "encoder.3", "mu"}
    responses = EffectMatrix.load(tmp_path / "factor_latent.npz")
    assert responses.sources == tuple(f"factor.{k}" for k in "abcdef")
    assert np.all(np.isfinite(responses.values)) and responses.statistic == "mean"
    assert responses.stderr is not None and np.all(responses.stderr >= 0)  # from the replicate batches
    assert G.graph["error"] == "fdr" and G.graph["min_effect"] == 0.1
    assert (tmp_path / "unit.dot").read_text().startswith('digraph "unit"')


@pytest.mark.slow
def test_dsprites_quick(tmp_path):
    stdout = run_example("dsprites_end_to_end", tmp_path)
    assert "unit graph:" in stdout and "MIG" in stdout
    scores = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("mig", "dci.disentanglement", "ces.paper", "n_active_latents", "recon.nll"):
        assert key in scores, key
    assert 0 <= scores["mig"] <= 1 and 0 <= scores["dci.disentanglement"] <= 1
    assert math.isfinite(scores["ces.paper"]) and scores["ces.paper"] >= 0
    factor_unit = EffectMatrix.load(tmp_path / "effects" / "factor_unit.npz")
    assert factor_unit.sources == tuple(f"factor.{k}" for k in ("shape", "scale", "orientation", "posX", "posY"))
    assert factor_unit.targets[0] == "encoder.conv1[0]"
    G = read_unit_graph(tmp_path / "graphs" / "unit.graphml")
    assert G.number_of_edges() > 0
    assert (tmp_path / "graphs" / "computational.svg").is_file()
    assert (tmp_path / "effects" / "factor_unit.csv").is_file()
    assert any((tmp_path / "checkpoint").iterdir())


@pytest.mark.slow
def test_scm_tabular_quick(tmp_path):
    stdout = run_example("scm_tabular", tmp_path)
    assert "true factor DAG:    a->b, b->c, b->d, c->e, d->e" in stdout
    assert "learned (PC, pgmpy):" in stdout and "vs true: shd" in stdout
    for name in ("report.html", "metrics.json", "config.json", "status.json", "tables/mediation.csv"):
        assert (tmp_path / name).is_file(), name
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["dataset"] == "scm-linear" and config["steps"] == 200
    mediation = pd.read_csv(tmp_path / "tables" / "mediation.csv")
    assert set(mediation["estimand"]) >= {"TE", "NIE", "NDE"}
    assert "strongest mediators" in stdout


def test_examples_reject_bad_options(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / "scm_tabular.py"), "--dataset", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
