"""Durable atomic file output: a reader never sees a half-written file, a crash never a lost one.

Every output of the package is written by :func:`atomic_path` (or the helpers built on it): the
data go to a temporary file beside the target, are flushed to disk (``fsync``), the file gets
the mode ``open()`` would give it (``0o666`` minus the umask), is renamed onto the target, and
the folder is synced so the rename itself survives a power cut. A writer that is killed leaves
its temporary file, named ``.<target>.<host>.<pid>.<token>.causalvae-tmp``; the next write into
the same folder removes those whose process (on this host) is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".causalvae-tmp"
_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + "$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (``os.umask`` sets it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files in ``folder`` left by killed writers of this host; returns them.

    Only names written by :func:`atomic_path` are considered, and only those whose process id
    no longer runs (POSIX; elsewhere nothing is removed).
    """
    if os.name != "posix":
        return []
    removed, host = [], _host()
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            match = _TEMP_NAME.match(entry.name)
            if (match and match["host"] == host and int(match["pid"]) != os.getpid()
                    and not _alive(int(match["pid"]))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _fsync(path: Path, *, mode: int | None = None) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success make it durable and move it onto ``path``.

    Whatever writes the temporary path (a library writing by file name, possibly replacing the
    file) is fine: afterwards the file is synced, given mode ``0o666 & ~umask``, renamed onto
    ``path`` and the folder synced. On an exception the temporary file is removed and ``path``
    is left as it was.

    Examples
    --------
    >>> with atomic_path(tmp_dir / "out.txt") as tmp:   # doctest: +SKIP
    ...     tmp.write_text("done")
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    tmp = target.parent / f".{target.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _fsync(tmp, mode=0o666 & ~_umask())
        os.replace(tmp, target)
        if os.name == "posix":  # the rename is durable once the folder is synced
            _fsync(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file for writing; it durably replaces ``path`` only if the block succeeds."""
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open is for writing a new version of a file; expected mode 'w', 'wt' or 'wb', "
                         f"got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and durably."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON (NaN refused: it is not JSON)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
