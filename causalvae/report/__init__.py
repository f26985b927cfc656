"""Reports: the self-contained HTML page of a run folder, and the plots it (and ``compare``) uses.

``build_report(run_dir)`` writes ``run_dir/report.html``; :mod:`causalvae.report.plots` draws
effect heatmaps and comparison plots (matplotlib, imported lazily); :mod:`causalvae.report.browser`
checks a page in headless Chromium.  Attributes are imported on first use, so importing this
package (e.g. by the command line) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"build_report": "build", "render_report": "build", "read_run_folder": "run_folder",
            "RunFolder": "run_folder", "check_in_browser": "browser", "screenshot": "browser"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'causalvae.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"causalvae.report.{_EXPORTS[name]}"), name)
