"""The report in real headless Chromium: loads without console errors, every image renders."""

import shutil
from pathlib import Path

import pytest

from causalvae.report import build_report
from causalvae.report.browser import check_in_browser, find_chromium, screenshot
from causalvae.report.run_folder import PNG_SIGNATURE

from report_run_folder import ARTIFACTS

pytestmark = pytest.mark.browser

ONE_PIXEL_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def chromium():
    return find_chromium()  # a missing Chromium skips (fails in CI) before this: see tests/system_tools.py


@pytest.fixture(scope="module")
def report(complete_run, tmp_path_factory):
    return build_report(Path(shutil.copytree(complete_run, tmp_path_factory.mktemp("browser") / "run")), ARTIFACTS)


def test_complete_report_loads_cleanly_and_every_image_renders(report, chromium):
    check = check_in_browser(report, chromium=chromium)
    assert check.console_errors == ()
    assert check.broken_images == ()
    assert check.n_images == 8 and check.ok
    assert check.page_height > 3000  # measured on the laid-out page, far taller than the probe's window


def test_report_of_a_run_with_failed_stages_loads_cleanly(run_copy, chromium):
    for name in ("metrics.json", "effects/factor_unit.npz", "graphs/aligned.graphml"):
        (run_copy / name).unlink()
    check = check_in_browser(build_report(run_copy, ARTIFACTS), chromium=chromium)
    assert check.ok and check.n_images == 7  # one heatmap fewer


def test_the_probe_detects_broken_images_and_console_errors(tmp_path, chromium):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img alt="good" src="data:image/png;base64,' + ONE_PIXEL_PNG + '">'
                    '<img alt="truncated" src="data:image/png;base64,iVBORw0KGgoAAAA">'
                    "<script>notDefined();</script></body></html>")
    check = check_in_browser(page, chromium=chromium)
    assert check.n_images == 2 and check.broken_images == ("truncated",)
    assert len(check.console_errors) == 1 and "notDefined" in check.console_errors[0]
    assert not check.ok


def test_screenshot_captures_the_full_page_by_default(report, tmp_path, chromium):
    height = check_in_browser(report, chromium=chromium).page_height
    data = screenshot(report, tmp_path / "full.png", chromium=chromium).read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert int.from_bytes(data[16:20], "big") == 1280 and int.from_bytes(data[20:24], "big") == height


def test_screenshot_is_a_png(report, tmp_path, chromium):
    shot = screenshot(report, tmp_path / "shot.png", width=800, height=600, chromium=chromium)
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert int.from_bytes(data[16:20], "big") == 800 and int.from_bytes(data[20:24], "big") == 600


def test_bad_input(tmp_path, chromium):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_in_browser(tmp_path / "missing.html", chromium=chromium)
    (tmp_path / "frag.html").write_text("<p>no body end</p>")
    with pytest.raises(ValueError, match="no </body>"):
        check_in_browser(tmp_path / "frag.html", chromium=chromium)
    with pytest.raises(ValueError, match="positive"):
        screenshot(tmp_path / "frag.html", tmp_path / "s.png", width=0, chromium=chromium)
