"""Stage bookkeeping for a run folder: ownership, progress, timings, a log, failure isolation.

A run folder belongs to one configuration and one process at a time:

- the folder is locked (:class:`~causalvae.folder_lock.FolderLock`) while the run executes, so a
  second run into it is refused with a message naming the first;
- a folder that holds another configuration's run (its ``config.json`` differs) is refused unless
  ``overwrite``, which first deletes the run outputs (:data:`RUN_OUTPUTS`; other files stay);
- the same configuration resumes: training continues from ``checkpoint/`` and every other output
  (the log included) is deleted and computed again, so no file of an earlier attempt survives next
  to this one's.

A stage that raises :class:`NotApplicable` is recorded as skipped with its message as the reason; one
that raises anything else is recorded as failed (with its message) in ``status.json`` and the log; what
earlier stages wrote stays in place, and stages that need the failed one are skipped.  An error
after which nothing can be written (disk full, read-only file system), or one the caller names
through ``abort_on``, stops the run instead.  Library warnings go to the log, not to the terminal.
"""

from __future__ import annotations

import json
import shutil
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causalvae.errors import UserError, is_fatal
from causalvae.folder_lock import FolderLock
from causalvae.io import write_json

Progress = Callable[[str], None]
#: Everything a run writes into its folder (the lock file aside).
RUN_OUTPUTS = ("config.json", "status.json", "metrics.json", "log.txt", "report.html", "checkpoint", "effects",
               "graphs", "tables", "figures")
#: What a re-run of the same configuration keeps: the training checkpoint, which training resumes.
KEPT_ON_RESUME = ("checkpoint",)
#: ``config.json`` entries that do not make a different run: where it is written, library versions.
NOT_IDENTITY = ("out", "versions")


class NotApplicable(Exception):
    """Raised by a stage body that does not apply to the run's model (e.g. a Gaussian-latent analysis of a
    VQ-VAE); the stage is recorded as skipped with the message as its reason, not as failed."""


@dataclass
class RunWorkspace:
    """A run's output folder while the run writes it: its lock, log and per-stage status (the report
    reads a finished folder as :class:`causalvae.report.run_folder.RunFolder`).

    Parameters
    ----------
    root : the folder (created if needed).
    progress : called with every log line (e.g. to print it).
    config : the run's configuration, written to ``config.json`` once the folder is claimed; with it,
        a folder holding another configuration's run is refused (see the module docstring).  Without
        it the folder is used as it is.
    overwrite : delete another configuration's run outputs instead of refusing.

    Raises
    ------
    PermissionError : the folder cannot be created or written.
    causalvae.folder_lock.FolderBusyError : another process is running in the folder.
    causalvae.errors.UserError : the folder holds another configuration's run (and not ``overwrite``).
    """

    root: Path
    progress: Progress | None = None
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: Mapping[str, Any] | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise PermissionError(f"output folder {self.root} is not writable ({exc.strerror})") from None
        self._lock = FolderLock(self.root).acquire()
        try:
            resumed = False
            if self.config is not None:
                resumed = self._claim(self.config)
                write_json(self.root / "config.json", dict(self.config))
            self._log = open(self.root / "log.txt", "a", encoding="utf-8")
        except BaseException:
            self._lock.release()
            raise
        self._stage = "run"
        self._n_warnings = 0
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("default")
        warnings.showwarning = self._log_warning
        if resumed:
            self.log(f"{self.root} held a run of this configuration: training resumes from its checkpoint, "
                     "every other output is computed again")

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

    def run_stage(self, name: str, body: Callable[[], Any], *, needs: tuple[str, ...] = (),
                  abort_on: Callable[[BaseException], bool] = is_fatal) -> Any:
        """Run ``body`` as stage ``name``; record done / failed / skipped with its duration.

        Returns the body's result, or None when the stage failed or was skipped.  An exception for
        which ``abort_on`` is true is recorded and then raised (default: disk full, read-only).
        """
        missing = [n for n in needs if not self.ok(n)]
        if missing:
            self.status[name] = {"state": "skipped", "reason": f"needs {', '.join(missing)}"}
            self.log(f"- {name}: skipped (needs {', '.join(missing)})")
            self._save_status()
            return None
        self.log(f"> {name} ...")
        self._stage, warned = name, self._n_warnings
        start = time.perf_counter()
        try:
            result = body()
        except NotApplicable as exc:  # the stage has nothing to measure on this model: say why, skip what needs it
            self.status[name] = {"state": "skipped", "reason": str(exc)}
            self.log(f"- {name}: skipped ({exc})")
            self._save_status()
            return None
        except Exception as exc:  # a failed stage must not lose earlier results
            seconds = time.perf_counter() - start
            self.status[name] = {"state": "failed", "seconds": round(seconds, 3),
                                 "error": f"{type(exc).__name__}: {exc}"}
            self._log.write(traceback.format_exc())
            self.log(f"x {name}: FAILED after {seconds:.1f}s: {type(exc).__name__}: {exc}")
            self._save_status()
            if abort_on(exc):
                raise
            return None
        finally:
            self._stage = "run"
        seconds = time.perf_counter() - start
        self.status[name] = {"state": "done", "seconds": round(seconds, 3)}
        caught = self._n_warnings - warned
        note = f" ({caught} warning(s), see log.txt)" if caught else ""
        self.log(f"  {name}: done in {seconds:.1f}s{note}")
        self._save_status()
        return result

    def close(self) -> None:
        """Close the log, put the warning display back and release the folder."""
        self._warnings.__exit__(None, None, None)
        self._log.close()
        self._lock.release()

    def _log_warning(self, message: Warning | str, category: type[Warning], filename: str, lineno: int,
                     file: Any = None, line: str | None = None) -> None:
        """``warnings.showwarning`` while the run executes: one line in the log instead of the terminal."""
        self._n_warnings += 1
        self._log.write(f"warning in {self._stage}: {category.__name__}: {' '.join(str(message).split())} "
                        f"({Path(filename).name}:{lineno})\n")

    def _claim(self, config: Mapping[str, Any]) -> bool:
        """Make the folder this configuration's: refuse, clear (``overwrite``) or resume (see the module).

        Returns whether an earlier attempt of this configuration is resumed.
        """
        present = {p.name for p in self.root.iterdir()} & set(RUN_OUTPUTS)
        if self.overwrite:
            _inside_outputs(self.root, config.get("checkpoint"))
            self._delete(present)
            return False
        if not present:
            return False
        recorded = _recorded_config(self.root / "config.json")
        if recorded is None:
            raise UserError(f"{self.root} holds run outputs but no readable config.json, so it cannot be resumed; "
                            "use --overwrite to replace them or another --out")
        differing = differences(recorded, config)
        if differing:
            raise UserError(f"{self.root} holds another run (options differ: {differing}); use --overwrite to "
                            "replace it or another --out")
        self._delete(present - set(KEPT_ON_RESUME))
        return True

    def _delete(self, names: set[str]) -> None:
        for name in sorted(names):
            path = self.root / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def _save_status(self) -> None:
        write_json(self.root / "status.json", self.status)


def differences(recorded: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The options of two configurations that differ, as ``name X there, Y here`` (empty when none).

    Examples
    --------
    >>> differences({"dataset": "causal-sprites", "lr": 5e-4, "out": "a"}, {"dataset": "scm-linear", "lr": 5e-4})
    "dataset 'causal-sprites' there, 'scm-linear' here"
    """
    missing = object()
    names = sorted((set(recorded) | set(config)) - set(NOT_IDENTITY))
    pairs = ((name, recorded.get(name, missing), config.get(name, missing)) for name in names)
    return "; ".join(f"{name} {_shown(there, missing)} there, {_shown(here, missing)} here"
                     for name, there, here in pairs if there != here)


def _shown(value: Any, missing: object) -> str:
    return "unset" if value is missing else repr(value)


def _recorded_config(path: Path) -> dict[str, Any] | None:
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _inside_outputs(root: Path, checkpoint: str | None) -> None:
    """Refuse to overwrite a folder whose outputs hold the checkpoint the run is to read."""
    if checkpoint is None:
        return
    source = Path(checkpoint).resolve()
    for name in RUN_OUTPUTS:
        if source == (root / name).resolve() or (root / name).resolve() in source.parents:
            raise UserError(f"--checkpoint {checkpoint} lies in the outputs that --overwrite would delete from "
                            f"{root}; copy it elsewhere first")
