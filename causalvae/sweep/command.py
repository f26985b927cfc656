"""``causalvae sweep``: run a grid on a backend, then write the table and plots from the complete cells."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from causalvae.pipeline.runner import Progress
from causalvae.sweep.cells import CellOutcome, CellRunner, run_cell, run_grid
from causalvae.sweep.grid import SweepGrid, load_grid


@dataclass(frozen=True)
class SweepResult:
    """The aggregate table, the cells missing from it, and what happened to every cell."""

    table: "pd.DataFrame"  # noqa: F821
    missing: list[str]
    outcomes: list[CellOutcome]


def sweep(grid: SweepGrid, *, backend: str = "local", workers: int | None = None, address: str | None = None,
          max_retries: int = 3, threads: int = 1, gpus_per_cell: float = 1.0, progress: Progress | None = None,
          runner: CellRunner = run_cell, write: bool = True) -> SweepResult:
    """Run (or reuse) every cell of ``grid``, then aggregate the complete cells.

    Options are those of :func:`causalvae.sweep.cells.run_grid`; with ``write`` the table
    (``sweep.csv``, ``sweep.md``) and plots go to ``grid.out``.

    Examples
    --------
    >>> grid = SweepGrid(variants=("vae", "beta-vae"), datasets=("scm-linear",), seeds=(0, 1),
    ...                  options={"quick": True}, out="runs/tiny")
    >>> result = sweep(grid, backend="local", workers=2)  # doctest: +SKIP
    >>> result.missing  # doctest: +SKIP
    []
    """
    from causalvae.sweep.aggregate import aggregate_grid, write_grid_outputs

    outcomes = run_grid(grid, backend=backend, workers=workers, address=address, max_retries=max_retries,
                        threads=threads, gpus_per_cell=gpus_per_cell, progress=progress, runner=runner)
    table, missing = aggregate_grid(grid)
    if write:
        write_grid_outputs(table, missing, grid.out)
    return SweepResult(table, missing, outcomes)


def sweep_command(args: argparse.Namespace) -> int:
    """``causalvae sweep GRID``: exit status 1 when some cell is missing from the table."""
    from causalvae.sweep.aggregate import grid_markdown

    grid = load_grid(args.grid, out=args.out)
    result = sweep(grid, backend=args.backend, workers=args.workers, address=args.address,
                   max_retries=args.max_retries, threads=args.threads, gpus_per_cell=args.gpus_per_cell,
                   progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(grid_markdown(result.table, result.missing))
    print(f"written: {Path(grid.out) / 'sweep.md'}, {Path(grid.out) / 'sweep.csv'}")
    return 0 if not result.missing else 1
