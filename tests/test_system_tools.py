"""Tests needing a missing system tool skip with a one-line reason, except in CI, where they fail."""

import pytest

from system_tools import TOOLS, in_ci, missing, require


def nothing_installed(command):
    return None


def test_a_missing_tool_skips_outside_ci():
    with pytest.raises(pytest.skip.Exception) as skipped:
        require(["graphviz"], which=nothing_installed, environ={})
    reason = str(skipped.value)
    assert "`dot`" in reason and "graphviz" in reason and "\n" not in reason


def test_a_missing_tool_fails_in_ci():
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require(["browser"], which=nothing_installed, environ={"CI": "true"})


def test_an_installed_tool_or_an_unrelated_marker_lets_the_test_run():
    require(["graphviz", "slow"], which=lambda command: f"/usr/bin/{command}", environ={"CI": "true"})
    require(["slow"], which=nothing_installed, environ={"CI": "true"})


def test_any_chromium_name_will_do():
    assert missing("browser", which=lambda c: "/opt/chrome" if c == "google-chrome" else None) is None
    assert missing("browser", which=nothing_installed).startswith("needs `chromium` or")


def test_an_empty_path_finds_no_tool(monkeypatch):
    monkeypatch.setenv("PATH", "")
    assert all(missing(marker) is not None for marker in TOOLS)


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("TRUE", True), ("", False),
                                             ("false", False)])
def test_ci_detection(value, expected):
    assert in_ci({"CI": value}) is expected
