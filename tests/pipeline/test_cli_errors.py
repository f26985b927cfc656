"""Bad input on the command line: one line on stderr, exit status 2, no traceback."""

import subprocess
import sys

import pytest


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
