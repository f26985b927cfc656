"""examples/scm_vae_alignment.py: the pooled table (t-intervals over seeds) and the cause factors, known answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import networkx as nx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import scm_vae_alignment as example  # noqa: E402


def test_causes_are_the_factors_with_a_child():
    assert example._causes(nx.DiGraph([("a", "b"), ("b", "c"), ("d", "c")])) == ["a", "b", "d"]


def test_ci_is_the_t_interval_and_skips_missing_values():
    # mean 2, sd 1, n = 3: half-width t_{0.975,2} / sqrt(3) = 4.303 / 1.732 = 2.48
    assert example._ci([1.0, 2.0, 3.0, None, float("nan")]) == "2 ± 2.5"
    assert example._ci([0.5]) == "0.5" and example._ci([]) == "n/a"


def test_table_pools_seeds_per_dataset_and_model(tmp_path):
    for seed, (shd, iia) in enumerate([(0, 0.5), (2, 0.7), (1, 0.6)]):
        folder = tmp_path / "pendulum" / f"scm-vae-seed{seed}"
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({
            "dataset": "pendulum", "variant": "scm-vae", "seed": seed, "g_star": {"coordinates": "dag", "das": None},
            "shd_A_cpdag": shd, "iia_causes.coordinates.dag": iia}))
    rows = example.table(tmp_path).splitlines()
    assert len(rows) == 3 and rows[2].startswith("| pendulum | scm-vae | 3 | dag / None, dag / None, dag / None |")
    cells = dict(zip([c.strip() for c in rows[0].split("|")], [c.strip() for c in rows[2].split("|")]))
    assert cells["shd_A_cpdag"] == "1 ± 2.5" and cells["iia_causes.coordinates.dag"] == "0.6 ± 0.25"
    assert cells["recon"] == "–"  # a column no result carries
    narrow = example.table(tmp_path, ["shd_A_cpdag"]).splitlines()
    assert narrow[0].endswith("| shd_A_cpdag |") and narrow[2].endswith("| 1 ± 2.5 |")


def test_dataset_is_required_without_table():
    with pytest.raises(SystemExit):
        example.main([])


def test_scm_structure_labels_writes_one_result_per_seed_and_pc_reference_and_resumes(tmp_path):
    import scm_structure_labels as structure

    argv = ["--datasets", "scm-linear", "--configs", "hybrid", "--seeds", "0", "1", "--steps", "30", "--n", "600",
            "--out", str(tmp_path)]
    assert structure.main(argv) == 0
    rows = [json.loads((tmp_path / f"scm-linear-hybrid-steps30-seed{s}.json").read_text()) for s in (0, 1)]
    for row in rows:
        assert row["steps"] == 30 and row["shd_dag"] >= 0 and len(row["A"]) == 6
    pc = json.loads((tmp_path / "scm-linear-pc.json").read_text())
    assert {"shd_dag", "shd_cpdag", "edges"} <= set(pc) and pc["shd_cpdag"] >= 0
    table = (tmp_path / "table.md").read_text()
    assert f"| scm-linear | hybrid | 30 | 2 | {rows[0]['shd_dag']}, {rows[1]['shd_dag']} |" in table
    stamp = (tmp_path / "scm-linear-hybrid-steps30-seed0.json").stat().st_mtime_ns
    assert structure.main(argv) == 0 and (tmp_path / "scm-linear-hybrid-steps30-seed0.json").stat().st_mtime_ns == stamp


def test_the_empty_graph_control_has_the_scm_vae_architecture_with_no_candidate_edge():
    import numpy as np
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    a = rng.standard_normal(500)
    ds = SimpleNamespace(factor_names=("a", "b", "c"), x=np.zeros((500, 6), np.float32),
                         factors=np.stack([a, 2 * a + 0.3 * rng.standard_normal(500), rng.standard_normal(500)], 1))
    control, _ = example.build_model("scm-vae-empty", ds, seed=0)
    hybrid, hyper = example.build_model("scm-vae", ds, seed=0)
    assert type(control) is type(hybrid) and hyper["n_concepts"] == 3
    assert control.scm.keep.sum().item() == 0
    assert hybrid.scm.keep[0, 1].item() == 1 and hybrid.scm.keep[0, 2].item() == 0  # PC's skeleton: a - b only


def test_checkable_projects_the_graph_on_the_factors_with_a_read_out():
    g = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "d")])
    assert sorted(example.checkable(g, ["a", "c", "d"]).edges) == [("a", "c"), ("a", "d")]  # a -> c through b
    assert sorted(example.checkable(g, ["a", "b", "c"]).edges) == [("a", "b"), ("b", "c")]  # no a -> c: b is read
    assert set(example.checkable(g, []).nodes) == {"a", "b", "c", "d"} and not example.checkable(g, ["c"]).edges


def test_the_factorial_control_trains_on_renders_of_independent_factors():
    import numpy as np

    from causalvae.data import load

    ds = load("scm-linear", n=2000)
    assert example.training_set("beta-vae", ds, seed=0) is ds
    data = example.training_set("beta-vae-factorial", ds, seed=0)
    observed, factorial = np.corrcoef(ds.factors.T), np.corrcoef(data.factors.T)
    assert np.abs(observed - np.eye(6)).max() > 0.5 > 0.1 > np.abs(factorial - np.eye(6)).max()
    np.testing.assert_allclose(np.sort(data.factors, 0), np.sort(ds.factors, 0))  # the same marginals
    np.testing.assert_allclose(data.x, ds.intervene.observe(data.factors), rtol=1e-6)  # rendered from them
