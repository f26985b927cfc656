"""``causalvae compare``: cells run once, resume reuses complete cells, the table uses complete cells only."""

import json

import numpy as np
import pytest
from scipy import stats

from causalvae.pipeline import RunConfig

pytestmark = pytest.mark.slow  # four tiny pipeline runs
from causalvae.sweep.compare import TABLE_METRICS, aggregate, cell_dir, compare, table_markdown, write_outputs


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    base = RunConfig.resolve(dataset="scm-linear", quick=True, out=str(out))
    table, missing = compare(base, variants=["vae", "beta-vae"], seeds=2, out=out)
    return out, base, table, missing


def test_table_is_mean_and_t_interval_over_seeds(compared):
    out, _, table, missing = compared
    assert missing == []
    assert set(table["variant"]) == {"vae", "beta-vae"}
    assert set(table["metric"]) == {label for label, _ in TABLE_METRICS}
    label, key = "CES (paper)", "ces.paper"
    xs = [json.loads((cell_dir(out, "vae", s) / "metrics.json").read_text())[key] for s in range(2)]
    row = table[(table["variant"] == "vae") & (table["metric"] == label)].iloc[0]
    half = stats.t.ppf(0.975, 1) * np.std(xs, ddof=1) / np.sqrt(2)
    assert row["n"] == 2 and row["mean"] == pytest.approx(np.mean(xs))
    assert row["ci_high"] - row["mean"] == pytest.approx(half)


def test_resume_reuses_complete_cells(compared):
    out, base, table, _ = compared
    stamp = (cell_dir(out, "vae", 0) / "metrics.json").stat().st_mtime_ns
    lines = []
    again, missing = compare(base, variants=["vae", "beta-vae"], seeds=2, out=out, progress=lines.append)
    assert (cell_dir(out, "vae", 0) / "metrics.json").stat().st_mtime_ns == stamp
    assert sum("complete, reused" in line for line in lines) == 4 and missing == []
    assert again.equals(table)


def test_incomplete_cells_are_missing_not_mixed_in(compared, tmp_path):
    out, _, _, _ = compared
    status_path = cell_dir(out, "beta-vae", 1) / "status.json"
    original = status_path.read_text()
    status = json.loads(original)
    status["circuits"]["state"] = "failed"
    status_path.write_text(json.dumps(status))
    try:
        table, missing = aggregate(out, variants=["vae", "beta-vae"], seeds=2)
    finally:
        status_path.write_text(original)
    assert missing == ["beta-vae/seed1"]
    assert set(table[table["variant"] == "beta-vae"]["n"]) <= {0, 1}
    text = table_markdown(table, missing)
    assert "missing cells: beta-vae/seed1" in text
    write_outputs(table, missing, tmp_path)
    assert (tmp_path / "comparison.png").stat().st_size > 0 and (tmp_path / "comparison.csv").exists()


def test_cells_of_another_configuration_are_refused_before_any_work(compared):
    from dataclasses import replace

    from causalvae.errors import UserError

    out, base, _, _ = compared
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    with pytest.raises(UserError, match=r"vae/seed0 holds another configuration's run \(options differ: lr "):
        compare(replace(base, lr=0.01), variants=["vae", "beta-vae"], seeds=2, out=out)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
