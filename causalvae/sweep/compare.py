"""``causalvae compare``: the arXiv 2505.03530 table — variants x seeds, mean ± 95 % CI.

Each (variant, seed) cell is a full ``causalvae run`` in ``<out>/<variant>/seed<k>``.  A cell whose
``status.json`` says every stage is done is reused, so an interrupted comparison resumes where it
stopped; the table is built from complete cells only and names the missing ones.  A cell folder that
holds another configuration's run (other options, same ``--out``) is refused before any work.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from causalvae.errors import UserError
from causalvae.io import atomic_open, write_text
from causalvae.pipeline.config import RunConfig, check_config
from causalvae.pipeline.runner import Progress
from causalvae.sweep.cells import foreign_run, is_complete, run_cell
from causalvae.sweep.correlations import seed_interval
from causalvae.sweep.grid import Cell, cell_key

#: Table columns: (label, metrics.json key). DCI disentanglement stands in for the paper's loosely
#: defined "disentanglement"; CES is the paper's form; specificity is reported bounded and in paper form.
TABLE_METRICS: tuple[tuple[str, str], ...] = (
    ("disentanglement (DCI, RF)", "disentanglement.dci.random-forest.disentanglement"),
    ("MIG", "disentanglement.mig"),
    ("CES (paper)", "ces.paper"),
    ("CES (active only)", "ces.active_only"),
    ("specificity (paper)", "specificity.paper"),
    ("specificity (bounded)", "specificity.bounded"),
    ("specificity (factor)", "specificity.factor_level"),
    ("circuit modularity", "circuit_modularity.mean"),
    ("active latents", "n_active_latents"),
    ("recon NLL", "recon.nll"),
)
#: The paper's reported values (arXiv 2505.03530), drawn beside ours.
PAPER = {"disentanglement (DCI, RF)": {"vae": 0.064, "beta-vae": 0.051, "factor-vae": 0.084},
         "CES (paper)": {"vae": 3.99, "beta-vae": 3.43, "factor-vae": 4.59}}


def cell_dir(out: Path, variant: str, seed: int) -> Path:
    return out / variant / f"seed{seed}"


def compare(base: RunConfig, *, variants: Sequence[str], seeds: int, out: str | Path,
            progress: Progress | None = None) -> tuple["pd.DataFrame", list[str]]:  # noqa: F821
    """Run (or reuse) every cell, then aggregate; returns the table and the missing cells."""

    out = Path(out)
    configs = {(variant, seed): replace(base, variant=variant, seed=seed, out=str(cell_dir(out, variant, seed)))
               for variant in variants for seed in range(seeds)}
    for config in configs.values():
        differing = foreign_run(Path(config.out), config)
        if differing:
            raise UserError(f"{config.out} holds another configuration's run (options differ: {differing}); "
                            "use another --out for this comparison")
    for (variant, seed), config in configs.items():
        if is_complete(Path(config.out), config):
            if progress:
                progress(f"= {variant} seed {seed}: complete, reused")
            continue
        run_cell(None, Cell(config, cell_key(config), ""), progress=progress)  # a stale partial is resumed
    return aggregate(out, variants=variants, seeds=seeds)


def aggregate(out: Path, *, variants: Sequence[str], seeds: int) -> tuple["pd.DataFrame", list[str]]:  # noqa: F821
    """Long table ``variant, metric, mean, ci_low, ci_high, n`` from the complete cells."""
    import pandas as pd

    rows, missing = [], []
    for variant in variants:
        run_dirs = {f"{variant}/seed{seed}": cell_dir(out, variant, seed) for seed in range(seeds)}
        summary, absent = summarise_cells(run_dirs)
        rows += [{"variant": variant, **row} for row in summary]
        missing += absent
    return pd.DataFrame(rows), missing


def summarise_cells(run_dirs: Mapping[str, Path]) -> tuple[list[dict], list[str]]:
    """Mean and 95 % t-interval of every table metric over the complete run folders of one group.

    ``run_dirs`` maps a cell's name to its folder; returns rows ``metric, mean, ci_low, ci_high, n``
    and the names of the incomplete (missing) cells, which contribute nothing.
    """
    values: dict[str, list[float]] = {label: [] for label, _ in TABLE_METRICS}
    missing = []
    for name, run_dir in run_dirs.items():
        if not is_complete(run_dir):
            missing.append(name)
            continue
        metrics = json.loads((run_dir / "metrics.json").read_text())
        for label, key in TABLE_METRICS:
            value = metrics.get(key)
            value = value.get("value") if isinstance(value, dict) else value
            if value is not None and np.isfinite(value):
                values[label].append(float(value))
    return [{"metric": label, **seed_interval(xs)} for label, xs in values.items()], missing


def table_markdown(table: "pd.DataFrame", missing: Sequence[str]) -> str:  # noqa: F821
    """Variants as rows, metrics as columns, ``mean ± half-width (n)``; paper values where published."""
    metrics = list(dict.fromkeys(table["metric"]))
    lines = ["| variant | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for variant, group in table.groupby("variant", sort=False):
        cells = []
        for metric in metrics:
            r = group[group["metric"] == metric].iloc[0]
            half = (r["ci_high"] - r["ci_low"]) / 2
            cell = "n/a" if r["n"] == 0 else (f"{r['mean']:.3g} ± {half:.2g}" if np.isfinite(half)
                                              else f"{r['mean']:.3g}")
            paper = PAPER.get(metric, {}).get(variant)
            cells.append(cell + (f" (paper {paper})" if paper is not None else ""))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Mean ± 95 % t-interval half-width over seeds" + (f"; missing cells: {', '.join(missing)}"
                                                                   if missing else "; every cell complete") + ".")
    return "\n".join(lines) + "\n"


def write_outputs(table, missing: Sequence[str], out: Path) -> None:
    from causalvae.report import plots

    with atomic_open(out / "comparison.csv", "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, index=False)
    write_text(out / "comparison.md", table_markdown(table, missing))
    fig = plots.comparison_plot(table, title="VAE variants: mean ± 95 % CI over seeds", reference=PAPER,
                                reference_label="arXiv 2505.03530")
    plots.save_figure(fig, out / "comparison.png")


def compare_command(args: argparse.Namespace) -> int:
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not variants:
        raise ValueError(f"--variants must list at least one variant, got {args.variants!r}")
    base = RunConfig.resolve(dataset=args.dataset, steps=args.steps, n=args.n, latent_dim=args.latent_dim,
                             batch_size=args.batch_size, lr=args.lr, device=args.device, quick=args.quick or None,
                             out=args.out, n_analysis=args.n_analysis, n_pairs=args.n_pairs)
    for variant in variants:
        check_config(replace(base, variant=variant))
    out = Path(args.out)
    table, missing = compare(base, variants=variants, seeds=args.seeds, out=out,
                             progress=lambda line: print(line, file=sys.stderr, flush=True))
    write_outputs(table, missing, out)
    print(table_markdown(table, missing))
    print(f"written: {out / 'comparison.md'}, {out / 'comparison.csv'}, {out / 'comparison.png'}")
    return 0 if not missing else 1
