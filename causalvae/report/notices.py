"""What the report says in place of an artifact that is not there, and the helpers every section shares."""

from __future__ import annotations

from collections.abc import Mapping

from causalvae.report import markup as h
from causalvae.report.run_folder import Artifact, RunFolder

#: The stage that writes every file of the run folder; a failure there explains any missing output.
WRITER_STAGE = "export"


def notice(run: RunFolder, artifact: Artifact) -> str:
    """The stage notice for an artifact that is missing, unreadable or withheld."""
    detail = f"{rel(run, artifact)} is {artifact.problem}" + recorded_failure(run, artifact.stage)
    return h.stage_notice(artifact.stage, detail)


def recorded_failure(run: RunFolder, stage: str) -> str:
    """What ``status.json`` says about the stage (or the stage writing all files) if it did not finish."""
    for name in dict.fromkeys((stage, WRITER_STAGE)):
        record = run.status.value.get(name) if run.status.ok else None
        if isinstance(record, Mapping) and record.get("state") not in (None, "done"):
            message = record.get("error") or record.get("reason")
            return f" (pipeline: {name} {record['state']}" + (f": {message})" if message else ")")
    return ""


def rel(run: RunFolder, artifact: Artifact) -> str:
    """The artifact's path relative to the run folder."""
    try:
        return str(artifact.path.relative_to(run.root))
    except ValueError:
        return str(artifact.path)
