"""Bad input on the command line: one line on stderr, exit status 2, no traceback; help shows every default."""

import argparse
import errno
import json
import subprocess
import sys

import pytest

from causalvae.cli import build_parser, main
from causalvae.folder_lock import FolderLock


def causalvae(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "causalvae.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["run", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["run", "--variant", "gan"], "unknown variant 'gan'"),
    (["run", "--checkpoint", "/nonexistent/model.safetensors", "--steps", "0"], "checkpoint not found"),
    (["run", "--steps", "-5"], "expected an integer >= 0"),
    (["run", "--latent-dim", "zero"], "expected an integer > 0"),
    (["train", "--dataset", "scm-linear", "--steps", "10", "--lr", "-1"], "expected a number > 0"),
    (["run", "--steps", "0"], "steps=0 needs --checkpoint"),
    (["compare", "--variants", ",", "--quick"], "--variants must list at least one variant"),
    (["datasets", "nope"], "unknown dataset"),
    (["run", "--device", "cuda:99"], "device 'cuda:99'"),
    (["run", "--device", "toaster"], "device 'toaster' is not a torch device"),
    (["train", "--dataset", "scm-linear", "--steps", "3", "--device", "cuda:99"], "device 'cuda:99'"),
    (["run", "--hyper", "gamma=3"], "unknown hyper-parameter(s) ['gamma'] for variant 'beta-vae'"),
    (["run", "--hyper", "beta"], "expected KEY=NUMBER"),
    (["run", "--lr", "0"], "expected a number > 0"),
    (["run", "--batch-size", "0"], "expected an integer > 0"),
    (["run", "--n-analysis", "4"], "n_analysis must be >= "),
])
def test_bad_input_one_line_error(args, message):
    done = causalvae(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_unwritable_output_folder():
    # /sys refuses new entries even to root (CI runs as root, so a chmod-ed folder would not do).
    done = causalvae("run", "--quick", "--dataset", "scm-linear", "--out", "/sys/causalvae-test/run")
    assert done.returncode == 2 and "not writable" in done.stderr and "Traceback" not in done.stderr


def test_output_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = causalvae("run", "--quick", "--dataset", "scm-linear", "--out", str(blocker / "run"))
    assert done.returncode == 2 and "not writable" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def tabular_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    done = causalvae("train", "--dataset", "scm-linear", "--n", "64", "--steps", "2", "--latent-dim", "2",
                     "--no-progress", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out / "last.safetensors"


def test_evaluate_with_a_dataset_the_checkpoint_does_not_fit(tabular_checkpoint):
    done = causalvae("evaluate", "--checkpoint", str(tabular_checkpoint), "--dataset", "causal-sprites")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "expects observations of shape (16,), dataset 'causal-sprites' has (1, 64, 64)" in done.stderr


def test_run_with_a_dataset_the_checkpoint_does_not_fit_stops_at_once(tabular_checkpoint, tmp_path):
    done = causalvae("run", "--checkpoint", str(tabular_checkpoint), "--steps", "0", "--quick", "--out", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("causalvae run: error: checkpoint expects inputs of shape (16,)")
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["train"]["state"] == "failed" and "diagnostics" not in status  # no run of skipped stages


def test_a_damaged_checkpoint_is_refused_before_any_work(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    done = causalvae("run", "--checkpoint", str(tmp_path / "bad.safetensors"), "--steps", "0",
                     "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "not a readable safetensors checkpoint" in done.stderr and not (tmp_path / "run").exists()


def test_a_second_train_into_a_busy_folder_is_refused(tmp_path):
    with FolderLock(tmp_path):
        done = causalvae("train", "--dataset", "scm-linear", "--steps", "2", "--out", str(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "is in use by another causalvae process (pid " in done.stderr
    assert not (tmp_path / "log.jsonl").exists()


def test_a_full_disk_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    import causalvae.pipeline as pipeline

    def full(ctx):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "effects" / "x.npz"))

    monkeypatch.setattr(pipeline, "STAGE_TABLE", (pipeline.Stage("export", full),))
    assert main(["run", "--quick", "--dataset", "scm-linear", "--out", str(tmp_path / "run")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"causalvae run: error: No space left on device: {tmp_path / 'run' / 'effects' / 'x.npz'}"


@pytest.mark.parametrize("before", [True, False])
def test_debug_is_accepted_before_and_after_the_sub_command(before):
    args = ["run", "--dataset", "mnist"]
    assert main(args) == 2
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        main(["--debug", *args] if before else [*args, "--debug"])


def test_every_option_of_every_command_shows_its_default():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        formatter = command._get_formatter()
        for action in command._actions:
            if not action.option_strings or action.nargs == 0 or action.required:
                continue  # flags (off unless given) and required options have no default to show
            text = formatter._get_help_string(action) or ""
            assert "(default" in text, f"causalvae {name} {action.option_strings[0]}: {text!r}"
    text = commands["run"].format_help()
    assert "(default: causal-sprites)" in text and "(default: runs/default)" in text and "(default: cpu)" in text
