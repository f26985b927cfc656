"""System tools some tests need: Chromium (marker ``browser``) and Graphviz's ``dot`` (marker ``graphviz``).

Where a tool is missing the test is skipped with a one-line reason, because ``make env`` installs
the tools only as root with apt-get (``.ci/system-deps``).  In CI (``CI=true``) a missing tool
fails the test instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping

import pytest

from causalvae.report.browser import CHROMIUM_NAMES

#: marker -> (commands, any one of which will do; the Debian package that provides them)
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "browser": (CHROMIUM_NAMES, "chromium"),
    "graphviz": (("dot",), "graphviz"),
}


def in_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the tests run in CI (``CI`` set to true, as CI services and ``.ci/run`` do)."""
    return environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(marker: str, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """Why the tool of ``marker`` is unusable here (one line), or None when it is on PATH."""
    commands, package = TOOLS[marker]
    if any(which(command) for command in commands):
        return None
    return (f"needs {' or '.join(f'`{c}`' for c in commands)} (Debian package {package}; "
            "`make env` installs it when run as root)")


def require(markers: Iterable[str], *, which: Callable[[str], str | None] = shutil.which,
            environ: Mapping[str, str] = os.environ) -> None:
    """Skip (or, in CI, fail) the current test when a tool named by one of ``markers`` is missing."""
    for marker in markers:
        reason = missing(marker, which) if marker in TOOLS else None
        if reason is None:
            continue
        if in_ci(environ):
            pytest.fail(f"{reason}; CI=true, so a missing tool is a failure", pytrace=False)
        pytest.skip(reason)
