"""An exclusive lock on a run or training folder, held while one process works in it (POSIX ``flock``).

Two ``causalvae run`` (or ``train``) into one folder would interleave their files; the second
one is refused instead, with a message naming the holder (pid, host, start time, command).
The lock is the kernel's: it goes away with the process that holds it, however that process
ends, so a killed run never leaves a stale lock behind.  The lock file (:data:`LOCK_NAME`) stays
in the folder; its content only describes the last holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from causalvae.errors import UserError

LOCK_NAME = ".causalvae.lock"


class FolderBusyError(UserError):
    """Another process holds the folder's lock."""


class FolderLock:
    """``with FolderLock(folder):`` — the folder (created if needed) is this process's until the block ends.

    Raises
    ------
    FolderBusyError : on entry, when another process holds the lock.

    Examples
    --------
    >>> with FolderLock("runs/train"):   # doctest: +SKIP
    ...     train(model, data, steps=100, checkpoint_dir="runs/train")
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._file: IO[str] | None = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_NAME

    def acquire(self) -> FolderLock:
        """Take the lock without waiting and record this process as its holder."""
        if self._file is not None:
            raise RuntimeError(f"the lock of {self.folder} is already held by this FolderLock")
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = describe_holder(handle.read())
            handle.close()
            raise FolderBusyError(f"{self.folder} is in use by another causalvae process ({holder}); wait for it "
                                  "to finish or use another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder_record()) + "\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        """Give the lock up (a no-op when it is not held)."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def holder_record() -> dict[str, object]:
    """What the lock file says about this process: pid, host, start time and command line."""
    command = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "command": shlex.join(command)}


def describe_holder(text: str) -> str:
    """One line about the holder from the lock file's content (which a starting holder may not have written yet).

    Examples
    --------
    >>> describe_holder('{"pid": 7, "host": "h", "started": "2026-01-02 03:04:05 +0000", "command": "causalvae run"}')
    'pid 7 on h, started 2026-01-02 03:04:05 +0000: causalvae run'
    >>> describe_holder("")
    'holder not recorded yet'
    """
    try:
        record = json.loads(text)
        return f"pid {record['pid']} on {record['host']}, started {record['started']}: {record['command']}"
    except (ValueError, KeyError, TypeError):
        return "holder not recorded yet"
