"""Run or reuse one grid cell, and a whole grid on a backend.

A cell counts only when its ``status.json`` says every stage finished (:func:`is_complete`):
complete cells are skipped before any task is sent; an incomplete folder (a dead worker's half-written
run, or a failed stage of an earlier launch) is resumed: training continues from its checkpoint and every
other output is computed again (:mod:`causalvae.pipeline.runner`), so partial results are never mixed with
complete ones.  Cells that resolve to the same configuration run once; a cell whose folder another
process holds is reported as failed, not run twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from causalvae.pipeline.config import RunConfig
from causalvae.pipeline.runner import Progress, differences
from causalvae.sweep.grid import Cell, SweepGrid

CellRunner = Callable[[None, Cell], "CellOutcome"]


@dataclass(frozen=True)
class CellOutcome:
    """What happened to a cell: ``state`` is ``"done"``, ``"reused"`` or ``"failed"`` (with the stages)."""

    name: str
    key: str
    state: str
    seconds: float = 0.0
    error: str | None = None


def is_complete(run_dir: Path, config: RunConfig | None = None) -> bool:
    """A cell counts only when every stage finished — done, or skipped as not applicable to the model
    (e.g. alignment on a network that renders no factor finely enough), never failed: partial results
    are never mixed in — and, given ``config``, only when the folder holds that configuration's run."""
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return False
    done = (bool(status) and all(s.get("state") in ("done", "skipped") for s in status.values())
            and status.get("report", {}).get("state") == "done")
    return done and (config is None or not foreign_run(run_dir, config))


def foreign_run(run_dir: Path, config: RunConfig) -> str:
    """The options in which the run recorded in ``run_dir/config.json`` differs from ``config``
    ("" when they agree or the folder holds no run)."""
    try:
        recorded = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return differences(recorded, config.to_dict()) if isinstance(recorded, dict) else ""


def run_cell(_shared: None, cell: Cell, *, progress: Progress | None = None) -> CellOutcome:
    """Train or load, analyse and write the cell's run folder (a task of :func:`run_grid`).

    A complete folder is reused; an incomplete one is resumed; ``progress`` gets the run's log lines.
    """
    from causalvae.folder_lock import FolderBusyError
    from causalvae.pipeline import run

    if is_complete(cell.run_dir, cell.config):
        return CellOutcome(cell.name, cell.key, "reused")
    start = time.perf_counter()
    try:
        ctx = run(cell.config, progress=progress)
    except FolderBusyError as exc:
        return CellOutcome(cell.name, cell.key, "failed", error=str(exc))
    seconds = round(time.perf_counter() - start, 3)
    if is_complete(cell.run_dir, cell.config):
        return CellOutcome(cell.name, cell.key, "done", seconds)
    failed = {k: v.get("error") or v.get("reason") for k, v in ctx.folder.status.items() if v["state"] == "failed"}
    return CellOutcome(cell.name, cell.key, "failed", seconds,
                       error="; ".join(f"{k}: {v}" for k, v in failed.items()) or "incomplete")


def run_grid(grid: SweepGrid, *, backend: str = "local", workers: int | None = None, address: str | None = None,
             max_retries: int = 3, threads: int = 1, gpus_per_cell: float = 1.0, progress: Progress | None = None,
             runner: CellRunner = run_cell) -> list[CellOutcome]:
    """Run every incomplete cell of ``grid`` as one task each; complete cells are reused.

    Parameters
    ----------
    backend, workers, address, max_retries, threads : see :func:`causalvae.sweep.backends.map_tasks`.
    gpus_per_cell : GPUs a Ray task requests for a cell whose ``device`` is CUDA (CPU cells ask for none).
    progress : called with one line per finished cell.
    runner : the task body (default :func:`run_cell`); a module-level function ``runner(None, cell)``.

    Returns
    -------
    One outcome per cell, in grid order.
    """
    from causalvae.argtypes import check_device
    from causalvae.sweep.backends import map_tasks

    cells = grid.cells()  # checked when the grid was built, but for the devices of the machine running them
    if backend == "local":
        for device in sorted({c.config.device for c in cells}):
            check_device(device)
    outcomes: dict[str, CellOutcome] = {}
    pending: dict[str, Cell] = {}  # by key: analysis sets that resolve alike share one folder and one run
    for cell in cells:
        if cell.key in outcomes or cell.key in pending:
            continue
        if is_complete(cell.run_dir, cell.config):
            outcomes[cell.key] = CellOutcome(cell.name, cell.key, "reused")
            _report(progress, outcomes[cell.key])
        else:
            pending[cell.key] = cell
    todo = list(pending.values())
    cuda = any(c.config.device.startswith("cuda") for c in todo)
    results = map_tasks(runner, todo, backend=backend, workers=workers, address=address, max_retries=max_retries,
                        threads=threads, gpus_per_task=gpus_per_cell if cuda and backend == "ray" else 0.0,
                        on_result=lambda _, outcome: _report(progress, outcome))
    outcomes.update({o.key: o for o in results})
    return [outcomes[c.key] for c in cells]


def missing_cells(cells: Sequence[Cell]) -> list[str]:
    """Names of the cells whose run folder is not complete."""
    return [c.name for c in cells if not is_complete(c.run_dir, c.config)]


def _report(progress: Progress | None, outcome: CellOutcome) -> None:
    if progress is None:
        return
    mark = {"done": "+", "reused": "=", "failed": "x"}[outcome.state]
    detail = f" in {outcome.seconds:.1f}s" if outcome.state == "done" else (
        f": {outcome.error}" if outcome.error else "")
    progress(f"{mark} {outcome.name}: {outcome.state}{detail}")
