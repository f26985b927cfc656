"""The paper study's tables: per-variant means with t-intervals and the CES–DCI correlation analysis.

Input: the cell records of :func:`causalvae.sweep.study.measure_cells`.  Cells whose checkpoint
is below the target step are *unfinished*: listed, never averaged or correlated.  Outputs (written
atomically): ``cells.csv`` (one row per cell), ``table.csv`` (variant means), ``correlations.csv``,
``study.json`` (all of it) and ``study.md``.

The correlation analysis asks whether the paper's within-dataset CES–DCI trade-off survives its
two confounds: CES averaged over *all* latents falls when a regulariser switches latents off (so
CES over active latents is correlated too), and both CES and DCI move with the number of active
latents and the reconstruction error (so those are partialled out, singly and together).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from causalvae.io import atomic_open, write_json, write_text
from causalvae.pipeline.output_stages import json_safe
from causalvae.sweep.correlations import correlation, seed_interval

#: (column label, metric key) of the study table.
STUDY_METRICS: tuple[tuple[str, str], ...] = (
    ("DCI disentanglement (GBT)", "dci.disentanglement"),
    ("DCI completeness (GBT)", "dci.completeness"),
    ("DCI informativeness (test acc.)", "dci.informativeness_test"),
    ("MIG", "mig"),
    ("CES (all latents)", "ces.paper"),
    ("CES (active latents)", "ces.active_only"),
    ("active latents", "n_active_latents"),
    ("recon NLL", "recon.nll"),
    ("specificity (bounded)", "specificity.bounded"),
    ("circuit modularity", "circuit_modularity.mean"),
)
DCI = "dci.disentanglement"
CES_FORMS = (("CES (all latents)", "ces.paper"), ("CES (active latents)", "ces.active_only"))
COVARIATE_SETS: tuple[tuple[str, ...], ...] = ((), ("n_active_latents",), ("recon.nll",),
                                               ("n_active_latents", "recon.nll"))


def split_finished(records: Mapping[str, dict], target_step: int) -> tuple[dict[str, dict], list[str]]:
    """Records of cells at ``target_step`` or beyond, and the names of the others (with their step)."""
    finished = {name: r for name, r in records.items() if r["step"] >= target_step}
    unfinished = [f"{name} (step {r['step']})" for name, r in records.items() if r["step"] < target_step]
    return finished, unfinished


def _value(record: dict, key: str) -> float:
    value = record["metrics"].get(key)
    return float("nan") if value is None else float(value)


def variant_table(records: Mapping[str, dict]) -> list[dict]:
    """Rows ``dataset, variant, metric, key, mean, ci_low, ci_high, n`` (t-interval over seeds)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records.values():
        groups.setdefault((r["dataset"], r["variant"]), []).append(r)
    return [{"dataset": dataset, "variant": variant, "metric": label, "key": key,
             **seed_interval([_value(r, key) for r in group])}
            for (dataset, variant), group in groups.items() for label, key in STUDY_METRICS]


def correlation_rows(records: Mapping[str, dict]) -> list[dict]:
    """Per dataset: CES (all / active latents) against DCI, Pearson and Spearman, marginal and partial
    given active-latent count, reconstruction NLL and both."""
    rows = []
    datasets = sorted({r["dataset"] for r in records.values()})
    for dataset in datasets:
        cells = [r for r in records.values() if r["dataset"] == dataset]
        dci = [_value(r, DCI) for r in cells]
        for label, key in CES_FORMS:
            ces = [_value(r, key) for r in cells]
            for covariates in COVARIATE_SETS:
                cov = np.array([[_value(r, c) for c in covariates] for r in cells]).reshape(len(cells), -1)
                for method in ("pearson", "spearman"):
                    c = correlation(ces, dci, method=method, covariates=cov if covariates else None,
                                    covariate_names=covariates)
                    rows.append({"dataset": dataset, "ces": label, **c.to_dict(),
                                 "covariates": ", ".join(covariates) or "none"})
    return rows


def _fmt(value: float, digits: str = ".3g") -> str:
    return "n/a" if value is None or not np.isfinite(value) else format(value, digits)


def study_markdown(table: Sequence[dict], correlations: Sequence[dict], unfinished: Sequence[str],
                   cells: Mapping[str, dict], provisional: Mapping[str, dict] | None = None) -> str:
    """Markdown: the variant table (mean ± 95 % CI half-width, :func:`causalvae.sweep.compare.table_markdown`)
    per dataset, the correlations, the finished cells with their wall times, and ``provisional``: unfinished
    cells that were measured anyway (their own numbers only)."""
    import pandas as pd

    from causalvae.sweep.compare import table_markdown

    frame = pd.DataFrame(list(table))
    parts = [f"#### {dataset}\n\n" + table_markdown(group.drop(columns=["dataset", "key"]),
                                                   [u for u in unfinished if u.startswith(f"{dataset}/")])
             for dataset, group in frame.groupby("dataset", sort=True)] if len(frame) else [
        "No finished cell yet: no variant table and no correlation."]
    lines = ["| dataset | CES | covariates | method | r | 95 % CI (Fisher z) | bootstrap 95 % CI | p | n |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in correlations:
        lines.append(f"| {c['dataset']} | {c['ces']} | {c['covariates']} | {c['method']} | {_fmt(c['r'])} | "
                     f"[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}] | [{_fmt(c['boot_low'])}, {_fmt(c['boot_high'])}]"
                     f" | {_fmt(c['p_value'], '.2g')} | {c['n']} |")
    parts.append("#### CES–DCI correlation across finished cells\n\n" + "\n".join(lines))
    cell_lines = ["| cell | step | train wall time (s) | measure time (s) |", "|---|---|---|---|"]
    for name, r in sorted(cells.items()):
        cell_lines.append(f"| {name} | {r['step']} | {_fmt(r.get('wall_seconds'), '.0f')} | "
                          f"{_fmt(r.get('measure_seconds'), '.0f')} |")
    parts.append("#### Finished cells\n\n" + "\n".join(cell_lines))
    parts.append("Unfinished cells (excluded): " + (", ".join(unfinished) if unfinished else "none") + ".")
    if provisional:
        keys = [key for _, key in STUDY_METRICS]
        lines = ["| unfinished cell | step | " + " | ".join(label for label, _ in STUDY_METRICS) + " |",
                 "|---|---|" + "---|" * len(keys)]
        lines += [f"| {name} | {r['step']} | " + " | ".join(_fmt(_value(r, k)) for k in keys) + " |"
                  for name, r in sorted(provisional.items())]
        parts.append("#### Unfinished cells as they stand (provisional: in no mean, interval or correlation)\n\n"
                     + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_study(out: str | Path, records: Mapping[str, dict], *, target_step: int) -> dict:
    """Write ``cells.csv``, ``table.csv``, ``correlations.csv``, ``study.json`` and ``study.md`` into ``out``."""
    import pandas as pd

    out = Path(out)
    finished, unfinished = split_finished(records, target_step)
    table, correlations = variant_table(finished), correlation_rows(finished)
    cells = pd.DataFrame([{"cell": name, **{k: v for k, v in r.items() if k not in ("metrics", "settings")},
                           **r["metrics"]} for name, r in sorted(records.items())])
    for name, frame in (("cells", cells), ("table", pd.DataFrame(table)), ("correlations", pd.DataFrame(correlations))):
        with atomic_open(out / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
            frame.to_csv(fh, index=False)
    summary = {"target_step": target_step, "finished": sorted(finished), "unfinished": unfinished,
               "table": table, "correlations": correlations}
    write_json(out / "study.json", json_safe(summary))
    provisional = {name: r for name, r in records.items() if name not in finished and r["metrics"]}
    write_text(out / "study.md", study_markdown(table, correlations, unfinished, finished, provisional))
    return summary

