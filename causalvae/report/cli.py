"""``causalvae report RUN_DIR``: (re)build a run folder's HTML report, optionally check it in Chromium.

:func:`register` adds the sub-command to the ``causalvae`` parser, with the function that gives the
run-folder registry (the pipeline's, injected by the layer above: the report cannot import the
pipeline); the work is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from causalvae.report.artifacts import ArtifactRegistry


def register(sub: argparse._SubParsersAction, registry: Callable[[], ArtifactRegistry]) -> None:
    """Add the ``report`` sub-command to a ``causalvae`` sub-parser set; ``registry()`` (called only when the
    command runs) gives the artifacts a run folder may hold."""
    p = sub.add_parser("report", help="(re)build the HTML report of a run folder")
    p.add_argument("run_dir", help="run folder written by `causalvae run`")
    p.add_argument("--output", default=None, help="where to write the page (default: RUN_DIR/report.html)")
    p.add_argument("--check-browser", action="store_true",
                   help="load the page in headless Chromium; fail if an image does not render or the console "
                        "shows errors")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="also save a full-page screenshot, 1280 px wide (needs Chromium)")
    p.set_defaults(handler=lambda args: report_command(args, registry()))


def report_command(args: argparse.Namespace, registry: ArtifactRegistry) -> int:
    """Run the ``report`` sub-command; 0 on success, 1 when the browser check finds a problem."""
    from causalvae.report.browser import check_in_browser, screenshot
    from causalvae.report.build import build_report

    page = build_report(args.run_dir, registry, output=args.output)
    print(f"report: {page}")
    status = 0
    if args.check_browser:
        check = check_in_browser(page)
        print(f"chromium: {check.n_images} images, {len(check.broken_images)} broken, "
              f"{len(check.console_errors)} console errors")
        for problem in (*check.broken_images, *check.console_errors):
            print(f"  {problem}", file=sys.stderr)
        status = 0 if check.ok else 1
    if args.screenshot:
        print(f"screenshot: {screenshot(page, args.screenshot)}")
    return status
