"""The sweep's table: mean ± 95 % t-interval over seeds per dataset, variant and analysis set.

Built from the run folders alone (complete cells only; the missing ones are named), so it is the same
whichever backend ran the cells.  The per-group statistics are :func:`causalvae.sweep.compare.summarise_cells`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from causalvae.io import atomic_open, write_text
from causalvae.sweep.compare import PAPER, summarise_cells, table_markdown
from causalvae.sweep.grid import Cell, SweepGrid

GROUP_COLUMNS = ("dataset", "analysis", "variant")


def aggregate_grid(grid: SweepGrid) -> tuple["pd.DataFrame", list[str]]:  # noqa: F821
    """Long table ``dataset, analysis, variant, metric, mean, ci_low, ci_high, n`` and the missing cells."""
    import pandas as pd

    groups: dict[tuple[str, str, str], list[Cell]] = {}
    for cell in grid.cells():
        groups.setdefault((cell.config.dataset, cell.analysis, cell.config.variant), []).append(cell)
    rows, missing = [], []
    for group, cells in groups.items():
        summary, absent = summarise_cells({c.name: c.run_dir for c in cells})
        rows += [{**dict(zip(GROUP_COLUMNS, group)), **row} for row in summary]
        missing += absent
    return pd.DataFrame(rows), missing


def grid_markdown(table: "pd.DataFrame", missing: Sequence[str]) -> str:  # noqa: F821
    """One markdown table (variants x metrics) per dataset and analysis set."""
    parts = []
    for (dataset, analysis), group in table.groupby(["dataset", "analysis"], sort=False):
        title = f"## {dataset}" + (f" ({analysis})" if analysis else "")
        inside = [m for m in missing if m.startswith(f"{dataset}/")
                  and (not analysis or f"/{analysis}/" in m)]
        parts.append(f"{title}\n\n{table_markdown(group.drop(columns=['dataset', 'analysis']), inside)}")
    return "\n".join(parts)


def write_grid_outputs(table: "pd.DataFrame", missing: Sequence[str], out: str | Path) -> list[Path]:  # noqa: F821
    """``sweep.csv``, ``sweep.md`` and one plot per dataset and analysis set; returns the paths."""
    from causalvae.report import plots

    out = Path(out)
    written = [out / "sweep.csv", out / "sweep.md"]
    with atomic_open(written[0], "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, index=False)
    write_text(written[1], grid_markdown(table, missing))
    for (dataset, analysis), group in table.groupby(["dataset", "analysis"], sort=False):
        if not (group["n"] > 0).any():
            continue
        suffix = f"-{analysis.replace('=', '').replace(',', '-')}" if analysis else ""
        reference = PAPER if dataset == "dsprites" else None  # the paper's numbers are dSprites numbers
        fig = plots.comparison_plot(group, title=f"{dataset}{' ' + analysis if analysis else ''}: mean ± 95 % CI "
                                    "over seeds", reference=reference, reference_label="arXiv 2505.03530")
        path = out / f"sweep-{dataset}{suffix}.png"
        plots.save_figure(fig, path)
        written.append(path)
    return written
