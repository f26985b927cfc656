"""Sweeps over a grid of runs, and large analyses split across tasks, on local processes or Ray.

- :func:`sweep`: run (or reuse) every cell of a :class:`SweepGrid` on ``backend="local"`` or
  ``"ray"``, then build the table (mean ± 95 % CI over seeds) from the complete cells.
- :func:`split_ablation_effects`: one exact intervention sweep split into unit chunks across tasks,
  merged into the same :class:`~causalvae.effects.EffectMatrix` as the single-process sweep.
- ``causalvae sweep GRID.toml --backend ray --address HOST:PORT`` on the command line.
"""

from causalvae.sweep.aggregate import aggregate_grid, grid_markdown, write_grid_outputs
from causalvae.sweep.backends import BACKENDS, map_tasks
from causalvae.sweep.cells import CellOutcome, missing_cells, run_cell, run_grid
from causalvae.sweep.command import SweepResult, sweep, sweep_command
from causalvae.sweep.grid import Cell, SweepGrid, cell_key, grid_from_dict, load_grid
from causalvae.sweep.split import split_ablation_effects, unit_chunks

__all__ = ["BACKENDS", "Cell", "CellOutcome", "SweepGrid", "SweepResult", "aggregate_grid", "cell_key",
           "grid_from_dict", "grid_markdown", "load_grid", "map_tasks", "missing_cells", "run_cell", "run_grid",
           "split_ablation_effects", "sweep", "sweep_command", "unit_chunks", "write_grid_outputs"]
