"""Prints the fuzz sweep's outcome counts at the end of the session (the numbers issue #18 asks for)."""

from __future__ import annotations

import os

from fuzz_harness import CLEAR, CORRECT, DETAILS, TALLY, tally_table


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLY:
        terminalreporter.write_sep("=", "public-API fuzz sweep")
        terminalreporter.write_line(tally_table())
    if os.environ.get("FUZZ_SURVEY") == "1":
        for (entry, kind, verdict), detail in sorted(DETAILS.items()):
            if verdict not in (CLEAR, CORRECT):
                terminalreporter.write_line(f"{verdict} | {entry} | {kind} | {detail}")
