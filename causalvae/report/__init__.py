"""Reports: the self-contained HTML page of a run folder, and the plots it (and ``compare``) uses.

``build_report(run_dir)`` writes ``run_dir/report.html``; :mod:`causalvae.report.plots` draws
effect heatmaps, comparison plots and traversal grids (matplotlib, imported lazily).
"""

from causalvae.report.build import build_report, render_report
from causalvae.report.run_folder import RunFolder, read_run_folder

__all__ = ["build_report", "render_report", "read_run_folder", "RunFolder"]
