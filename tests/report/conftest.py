"""Fixtures of the report tests: a complete run folder (see report_run_folder) and private copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from report_run_folder import make_run_folder


@pytest.fixture(scope="session")
def complete_run(tmp_path_factory) -> Path:
    """A complete run folder, shared read-only by the tests (copy it before changing it)."""
    return make_run_folder(tmp_path_factory.mktemp("runs") / "complete")


@pytest.fixture()
def run_copy(complete_run, tmp_path) -> Path:
    """A private copy of the complete run folder that a test may damage."""
    return Path(shutil.copytree(complete_run, tmp_path / "run"))
