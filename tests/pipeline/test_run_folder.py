"""Run folders never mix: one configuration and one process per folder, resume vs refuse vs overwrite."""

import errno
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from causalvae.errors import UserError
from causalvae.folder_lock import LOCK_NAME, FolderBusyError, FolderLock
from causalvae.pipeline.runner import RunWorkspace, differences

CONFIG = {"dataset": "causal-sprites", "variant": "beta-vae", "lr": 5e-4, "seed": 0, "out": "runs/smoke"}


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (the lock file aside: it names its last holder)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK_NAME}


def finished_run(root: Path, config: dict = CONFIG) -> Path:
    """A folder as a finished run of ``config`` leaves it (plus a file of the user's)."""
    folder = RunWorkspace(root, config={**config, "versions": {"causalvae": "0"}})
    for name in ("status.json", "metrics.json", "report.html", "effects/factor_unit.npz", "figures/traversals.png",
                 "checkpoint/last.safetensors", "checkpoint/log.jsonl"):
        folder.path(name).write_text(name)
    folder.log("the first run")
    folder.close()
    (root / "notes.txt").write_text("the user's own file")
    return root


def test_another_configuration_is_refused_naming_the_options_and_nothing_is_touched(tmp_path):
    root = finished_run(tmp_path / "run")
    before = tree_hashes(root)
    with pytest.raises(UserError) as refused:
        RunWorkspace(root, config={**CONFIG, "dataset": "scm-linear", "lr": 1e-3})
    message = str(refused.value)
    assert "dataset 'causal-sprites' there, 'scm-linear' here" in message and "lr 0.0005 there, 0.001 here" in message
    assert "--overwrite" in message and "\n" not in message
    assert tree_hashes(root) == before
    FolderLock(root).acquire().release()  # the refused run let go of the folder


def test_the_same_configuration_resumes_from_the_checkpoint_and_recomputes_the_rest(tmp_path):
    root = finished_run(tmp_path / "run")
    folder = RunWorkspace(root, config={**CONFIG, "out": "elsewhere"})  # where it was written is not the configuration
    folder.close()
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != LOCK_NAME)
    assert left == ["checkpoint/last.safetensors", "checkpoint/log.jsonl", "config.json", "log.txt", "notes.txt"]
    log = (root / "log.txt").read_text()
    assert "the first run" not in log and "training resumes from its checkpoint" in log


def test_overwrite_deletes_the_run_outputs_only(tmp_path):
    root = finished_run(tmp_path / "run")
    RunWorkspace(root, config={**CONFIG, "dataset": "scm-linear"}, overwrite=True).close()
    assert sorted(p.name for p in root.iterdir() if p.name != LOCK_NAME) == ["config.json", "log.txt", "notes.txt"]
    assert json.loads((root / "config.json").read_text())["dataset"] == "scm-linear"


def test_overwrite_refuses_to_delete_the_checkpoint_it_is_to_read(tmp_path):
    root = finished_run(tmp_path / "run")
    inside = str(root / "checkpoint" / "last.safetensors")
    with pytest.raises(UserError, match="lies in the outputs that --overwrite would delete"):
        RunWorkspace(root, config={**CONFIG, "checkpoint": inside}, overwrite=True)
    assert (root / "checkpoint" / "last.safetensors").exists()


def test_outputs_without_a_config_are_refused_but_a_folder_of_other_files_is_used(tmp_path):
    (tmp_path / "a" / "effects").mkdir(parents=True)
    with pytest.raises(UserError, match="no readable config.json"):
        RunWorkspace(tmp_path / "a", config=CONFIG)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "README").write_text("mine")
    RunWorkspace(tmp_path / "b", config=CONFIG).close()
    assert (tmp_path / "b" / "README").read_text() == "mine"


def test_a_folder_in_use_is_refused_naming_the_holder(tmp_path):
    first = RunWorkspace(tmp_path / "run", config=CONFIG)
    try:
        with pytest.raises(FolderBusyError) as busy:
            RunWorkspace(tmp_path / "run", config=CONFIG)
        assert f"pid {os.getpid()} on " in str(busy.value) and "started " in str(busy.value)
    finally:
        first.close()
    RunWorkspace(tmp_path / "run", config=CONFIG).close()  # free again once the holder is done


def test_library_warnings_go_to_the_log_not_the_terminal(tmp_path, capfd):
    folder = RunWorkspace(tmp_path / "run", progress=print)

    def noisy():
        warnings.warn("lbfgs failed to converge", RuntimeWarning)

    folder.run_stage("readouts", noisy)
    folder.close()
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "warning in readouts: RuntimeWarning: lbfgs failed to converge (test_run_folder.py:" in log
    out, err = capfd.readouterr()
    assert "lbfgs" not in out + err and "readouts: done in" in out and "1 warning(s), see log.txt" in out
    with pytest.warns(RuntimeWarning):  # the display is back to normal after the run
        warnings.warn("after", RuntimeWarning)


def test_a_full_disk_stops_the_run_while_other_failures_only_fail_their_stage(tmp_path):
    folder = RunWorkspace(tmp_path / "run")

    def full(): raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "m.json"))

    def bug(): raise RuntimeError("a bug")

    assert folder.run_stage("diagnostics", bug) is None
    with pytest.raises(OSError, match="No space left"):
        folder.run_stage("export", full)
    folder.close()
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["diagnostics"]["state"] == status["export"]["state"] == "failed"


def test_differences_treat_a_missing_option_as_unset():
    assert differences({"a": 1, "versions": {}}, {"a": 1, "out": "x"}) == ""
    assert differences({"a": 1}, {"a": 1, "path": "f.npz"}) == "path unset there, 'f.npz' here"


# --- the command line, end to end -------------------------------------------------------------------

QUICK_SCM = ("run", "--quick", "--dataset", "scm-linear")


def causalvae(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "causalvae.cli", *args], capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def contested(tmp_path_factory):
    """A quick run, and an identical second one started while the first holds the folder."""
    out = tmp_path_factory.mktemp("contested") / "run"
    first = subprocess.Popen([sys.executable, "-m", "causalvae.cli", *QUICK_SCM, "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not ((out / LOCK_NAME).exists() and f'"pid": {first.pid},' in (out / LOCK_NAME).read_text()):
        assert first.poll() is None and time.monotonic() < deadline, "the first run never took the folder"
        time.sleep(0.05)
    second = causalvae(*QUICK_SCM, "--out", str(out))
    _, first_err = first.communicate(timeout=1500)
    return out, first, first_err, second


@pytest.mark.slow
def test_a_second_run_into_a_busy_folder_is_refused_naming_the_holder(contested):
    _, first, _, second = contested
    assert second.returncode == 2, second.stderr
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    assert f"is in use by another causalvae process (pid {first.pid} on " in second.stderr
    assert "run --quick --dataset scm-linear --out" in second.stderr  # the holder's command


@pytest.mark.slow
def test_the_first_run_completes_untouched_with_line_progress_and_no_warnings(contested):
    out, first, stderr, _ = contested
    assert first.returncode == 0, stderr[-3000:]
    status = json.loads((out / "status.json").read_text()).values()  # a quick model may be skipped by alignment
    assert all(s["state"] == "done" or s["state"] == "skipped" and s["reason"] for s in status)
    assert (out / "log.txt").read_text().count("causalvae run:") == 1
    assert "\r" not in stderr and "beta-vae: step 30/30 loss=" in stderr  # piped: lines, not bar frames
    assert not re.search(r"\w+Warning: ", stderr)  # library warnings went to log.txt


@pytest.mark.slow
def test_another_configuration_is_refused_in_one_line_touching_no_file(contested):
    out = contested[0]
    before = tree_hashes(out)
    done = causalvae("run", "--quick", "--out", str(out))  # the default dataset, causal-sprites
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "holds another run (options differ: dataset 'scm-linear' there, 'causal-sprites' here" in done.stderr
    assert tree_hashes(out) == before


@pytest.mark.slow
def test_the_same_configuration_resumes_with_the_same_numbers(contested):
    out = contested[0]
    metrics = json.loads((out / "metrics.json").read_text())
    done = causalvae(*QUICK_SCM, "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training resumes from its checkpoint" in (out / "log.txt").read_text()
    again = json.loads((out / "metrics.json").read_text())
    assert {k: v for k, v in again.items() if k != "train.seconds"} == \
           {k: v for k, v in metrics.items() if k != "train.seconds"}
