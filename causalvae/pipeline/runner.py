"""Stage bookkeeping for a run folder: progress, timings, a log, failure isolation.

A stage that raises is recorded as failed (with its message) in ``status.json`` and the log;
what earlier stages wrote stays in place, and stages that need the failed one are skipped.
"""

from __future__ import annotations

import time
import warnings
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causalvae.io import write_json

Progress = Callable[[str], None]


@dataclass
class RunFolder:
    """A run's output folder with its log and per-stage status."""

    root: Path
    progress: Progress | None = None
    status: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise PermissionError(f"output folder {self.root} is not writable ({exc.strerror})") from None
        self._log = open(self.root / "log.txt", "a", encoding="utf-8")

    def path(self, relative: str) -> Path:
        p = self.root / relative
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def log(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._log.write(f"[{stamp}] {message}\n")
        self._log.flush()
        if self.progress is not None:
            self.progress(message)

    def ok(self, name: str) -> bool:
        return self.status.get(name, {}).get("state") == "done"

    def run_stage(self, name: str, body: Callable[[], Any], *, needs: tuple[str, ...] = ()) -> Any:
        """Run ``body`` as stage ``name``; record done / failed / skipped with its duration.

        Returns the body's result, or None when the stage failed or was skipped.
        """
        missing = [n for n in needs if not self.ok(n)]
        if missing:
            self.status[name] = {"state": "skipped", "reason": f"needs {', '.join(missing)}"}
            self.log(f"- {name}: skipped (needs {', '.join(missing)})")
            self._save_status()
            return None
        self.log(f"> {name} ...")
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                result = body()
        except Exception as exc:  # a failed stage must not lose earlier results
            seconds = time.perf_counter() - start
            self.status[name] = {"state": "failed", "seconds": round(seconds, 3),
                                 "error": f"{type(exc).__name__}: {exc}"}
            self._log.write(traceback.format_exc())
            self.log(f"x {name}: FAILED after {seconds:.1f}s: {type(exc).__name__}: {exc}")
            result = None
        else:
            seconds = time.perf_counter() - start
            self.status[name] = {"state": "done", "seconds": round(seconds, 3)}
            for w in caught:  # library warnings belong in the log, not in the middle of the progress lines
                self._log.write(f"warning in {name}: {w.category.__name__}: {w.message}\n")
            note = f" ({len(caught)} warning(s), see log.txt)" if caught else ""
            self.log(f"  {name}: done in {seconds:.1f}s{note}")
        self._save_status()
        return result

    def close(self) -> None:
        self._log.close()

    def _save_status(self) -> None:
        write_json(self.root / "status.json", self.status)
