"""Durable atomic writes: data synced before the rename, the folder after; umask modes; no stale temporaries."""

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from causalvae import io
from causalvae.io import TEMP_SUFFIX, atomic_open, atomic_path, remove_stale_temporaries, write_json, write_text


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o640
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


def test_every_output_gets_the_umask_mode_whatever_the_writer_did(tmp_path, umask_027):
    write_text(tmp_path / "a.txt", "a")
    with atomic_path(tmp_path / "b.bin") as tmp:  # a library that writes a private file and renames it over ours
        fd, private = tempfile.mkstemp(dir=tmp_path)
        os.write(fd, b"b")
        os.close(fd)
        os.replace(private, tmp)
    with atomic_path(tmp_path / "c.bin") as tmp:
        tmp.write_bytes(b"c")
        tmp.chmod(0o600)
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {"a.txt": 0o640, "b.bin": 0o640, "c.bin": 0o640}


def test_file_data_are_synced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "fsync", fsync)
    monkeypatch.setattr(io.os, "replace", replace)
    with atomic_path(tmp_path / "out.bin") as tmp:
        tmp.write_bytes(b"data")
        written = str(tmp)
    assert events == [("fsync", written), ("replace", str(tmp_path / "out.bin")), ("fsync", str(tmp_path))]
    events.clear()
    write_json(tmp_path / "out.json", {"a": 1})
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"] and events[-1][1] == str(tmp_path)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "t.txt", "old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old" and _temporaries(tmp_path) == []
    with pytest.raises(ValueError, match="expected mode 'w', 'wt' or 'wb', got 'a'"):
        with atomic_open(target, "a"):
            pass


KILLED_WRITER = """
import os, signal, sys
from causalvae.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("partial")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_temporaries_of_killed_writers_are_removed_by_the_next_write_into_the_folder(tmp_path):
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "big.bin")])
    assert killed.returncode == -9
    left = _temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".big.bin.")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = io._host()
        alive = tmp_path / f".c.txt.{host}.{sleeper.pid}.0123abcd{TEMP_SUFFIX}"  # a writer still running
        other_host = tmp_path / f".c.txt.elsewhere.{killed_pid_like(left[0])}.0123abcd{TEMP_SUFFIX}"
        unrelated = tmp_path / ".c.txt.notes.tmp"
        for p in (alive, other_host, unrelated):
            p.write_text("keep")
        write_text(tmp_path / "next.txt", "x")
        assert not (tmp_path / "big.bin").exists()
        assert _temporaries(tmp_path) == sorted([alive.name, other_host.name])
        assert unrelated.exists() and (tmp_path / "next.txt").read_text() == "x"
        assert remove_stale_temporaries(tmp_path) == []
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temporaries(tmp_path) == [alive]


def killed_pid_like(name: str) -> str:
    """The pid field of a temporary file's name (``.<target>.<host>.<pid>.<token><suffix>``)."""
    return name[: -len(TEMP_SUFFIX)].split(".")[-2]
