"""Check a report in a real headless Chromium: it loads without console errors and every image renders.

The report itself carries no JavaScript; :func:`check_in_browser` loads a temporary copy with a
small probe script appended which, once the page has loaded, records on ``<body>`` every ``<img>``
that is not complete with a natural width > 0 (i.e. failed to decode) and the page's full height;
Chromium's ``--dump-dom`` output is then read back.  Only the standard library is used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from causalvae.io import atomic_path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  document.body.setAttribute("data-probe-images", String(images.length));
  document.body.setAttribute("data-probe-height", String(Math.ceil(document.documentElement.scrollHeight)));
  document.body.setAttribute("data-probe-broken", JSON.stringify(broken.map(function (img) {
    return img.alt || img.src.slice(0, 40); })));
});
</script>"""
#: Chromium logs every console message at INFO level without its severity; a report has no scripts, so
#: any console message (uncaught exception, blocked or failed load) signals a problem.
_CONSOLE_ERROR = re.compile(r":CONSOLE[:(]|Uncaught|net::ERR_|Failed to load resource")
_ATTRIBUTE = 'data-probe-{}="([^"]*)"'
DEFAULT_WIDTH = 1280
#: Height of the window the probe loads the page in (the page's full height is measured, not this).
PROBE_WINDOW_HEIGHT = 900
#: Tallest full-page screenshot taken (CSS px); Chromium's software compositor handles this size.
MAX_SCREENSHOT_HEIGHT = 30_000


@dataclass(frozen=True)
class BrowserCheck:
    """What Chromium saw: how many images, which failed to render, console errors, the page's height (CSS px)."""

    n_images: int
    broken_images: tuple[str, ...]
    console_errors: tuple[str, ...]
    page_height: int = 0

    @property
    def ok(self) -> bool:
        return not self.broken_images and not self.console_errors


def find_chromium() -> str:
    """Path of a Chromium (or Chrome) executable on PATH."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError(f"no Chromium found on PATH (tried {', '.join(CHROMIUM_NAMES)}); "
                            "install Debian's 'chromium' package")


def check_in_browser(report: str | os.PathLike, *, chromium: str | None = None, timeout: float = 90.0,
                     width: int = DEFAULT_WIDTH) -> BrowserCheck:
    """Load ``report`` in headless Chromium (a ``width`` CSS px wide window) and report broken images,
    console errors and the page's full height.

    Raises
    ------
    FileNotFoundError : if ``report`` or Chromium is missing.
    RuntimeError : if Chromium fails or the probe never ran (the page did not finish loading).
    """
    page = _existing_file(report)
    text = page.read_text(encoding="utf-8")
    if "</body>" not in text:
        raise ValueError(f"{str(page)!r} has no </body>; expected an HTML report")
    with tempfile.TemporaryDirectory(prefix="causalvae-browser-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
        dom, log = _run(chromium, probe, ["--dump-dom", "--virtual-time-budget=15000",
                                          f"--window-size={width},{PROBE_WINDOW_HEIGHT}"], Path(tmp), timeout)
    count, broken, height = (re.search(_ATTRIBUTE.format(key), dom) for key in ("images", "broken", "height"))
    if count is None or broken is None or height is None:
        raise RuntimeError(f"the image probe did not run in Chromium; its log ends with: {log[-500:]!r}")
    return BrowserCheck(n_images=int(count.group(1)),
                        broken_images=tuple(json.loads(broken.group(1).replace("&quot;", '"'))),
                        console_errors=tuple(line for line in log.splitlines() if _CONSOLE_ERROR.search(line)),
                        page_height=int(height.group(1)))


def screenshot(report: str | os.PathLike, path: str | os.PathLike, *, width: int = DEFAULT_WIDTH,
               height: int | None = None, chromium: str | None = None, timeout: float = 90.0) -> Path:
    """Save a PNG screenshot of ``report``, ``width`` CSS pixels wide, atomically.

    ``height`` None (the default) captures the full page: its height is measured in Chromium first
    (:func:`check_in_browser`), up to :data:`MAX_SCREENSHOT_HEIGHT`.
    """
    page = _existing_file(report)
    if width <= 0 or (height is not None and height <= 0):
        raise ValueError(f"screenshot size must be positive, got {width}x{height}")
    if height is None:
        height = min(check_in_browser(page, chromium=chromium, timeout=timeout, width=width).page_height,
                     MAX_SCREENSHOT_HEIGHT)
    with tempfile.TemporaryDirectory(prefix="causalvae-browser-") as tmp:
        shot = Path(tmp) / "screenshot.png"  # Chromium picks the format from the suffix
        _run(chromium, page, [f"--screenshot={shot}", f"--window-size={width},{height}"], Path(tmp), timeout)
        if not shot.is_file() or shot.stat().st_size == 0:
            raise RuntimeError(f"Chromium wrote no screenshot of {str(page)!r}")
        with atomic_path(path) as target:
            shutil.copyfile(shot, target)
    return Path(path)


def _run(chromium: str | None, page: Path, extra: list[str], profile: Path, timeout: float) -> tuple[str, str]:
    command = [chromium or find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile / 'profile'}", *extra,
               page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Chromium exited with status {done.returncode}: {done.stderr[-500:]!r}")
    return done.stdout, done.stderr


def _existing_file(report: str | os.PathLike) -> Path:
    page = Path(report)
    if not page.is_file():
        raise FileNotFoundError(f"report {str(page)!r} does not exist")
    return page
