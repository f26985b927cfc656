"""``causalvae report``: the sub-command as registered by causalvae.report.cli.register."""

import argparse
import subprocess
import sys

import pytest

from causalvae.report.cli import register

from report_run_folder import ARTIFACTS


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="causalvae")
    register(parser.add_subparsers(dest="command", required=True), lambda: ARTIFACTS)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_report_command_builds_the_page(run_copy, capsys):
    (run_copy / "report.html").unlink(missing_ok=True)
    assert run_cli(["report", str(run_copy)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {run_copy / 'report.html'}"
    assert (run_copy / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_report_command_writes_where_asked(complete_run, tmp_path, capsys):
    assert run_cli(["report", str(complete_run), "--output", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").exists()


def test_report_command_on_a_missing_folder_raises_the_error_the_cli_turns_into_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_cli(["report", str(tmp_path / "nope")])


def test_importing_the_registration_is_cheap():
    code = ("import sys, causalvae.report.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'networkx', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.browser
def test_report_command_checks_in_chromium_and_takes_a_screenshot(run_copy, tmp_path, capsys):
    assert run_cli(["report", str(run_copy), "--check-browser", "--screenshot", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "chromium: 8 images, 0 broken, 0 console errors" in out
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


def test_report_command_fails_when_the_browser_check_finds_a_problem(run_copy, monkeypatch, capsys):
    from causalvae.report import browser

    failing = browser.BrowserCheck(n_images=2, broken_images=("heatmap",), console_errors=())
    monkeypatch.setattr(browser, "check_in_browser", lambda page: failing)
    assert run_cli(["report", str(run_copy), "--check-browser"]) == 1
    captured = capsys.readouterr()
    assert "chromium: 2 images, 1 broken, 0 console errors" in captured.out and "heatmap" in captured.err


def test_the_causalvae_command_injects_the_pipelines_registry(run_copy, capsys):
    from causalvae.cli import main

    (run_copy / "report.html").unlink(missing_ok=True)
    assert main(["report", str(run_copy)]) == 0
    page = (run_copy / "report.html").read_text()
    assert "Total, natural direct and natural indirect effects of each factor through each mediator." in page
