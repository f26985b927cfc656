"""Training loop: determinism, logs, checkpoints, resume (in process and after SIGKILL), bad input."""

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from causalvae.models import load_checkpoint, make_vae, train
from vae_fixtures import blobs, mlp_vae, tabular, tabular_dataset

HERE = Path(__file__).parent


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _conv_run(seed: int, *, channels_last: bool = True, steps: int = 2):
    model = make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=4, seed=0)
    result = train(model, blobs(32), steps=steps, batch_size=8, lr=1e-3, seed=seed, progress=False,
                   channels_last=channels_last)
    return model, result


def float32_drift_bound(steps: int, batch_size: int, side: int = 64) -> float:
    """Relative bound on how far two float32 trainings that differ only in kernel rounding drift apart.

    A float32 sum of K terms is exact to within K * eps relative to the sum of the terms' magnitudes
    (Higham's gamma_K, first order).  The longest sum of one training step here is the first
    convolution's weight gradient: over the batch and the (side / 2)^2 pixels of its stride-2 output.
    Adam divides each gradient by its own running magnitude, so a relative gradient error reaches the
    update at most as large, once per step.
    """
    return steps * batch_size * (side // 2) ** 2 * torch.finfo(torch.float32).eps


def _relative_drift(a, b, start) -> dict[str, float]:
    """Per parameter: ||a - b|| / ||a - start|| (the runs' difference over how far training moved it)."""
    sa, sb, s0 = a.state_dict(), b.state_dict(), start.state_dict()
    return {k: float((sa[k] - sb[k]).norm() / (sa[k] - s0[k]).norm()) for k in sa if (sa[k] - s0[k]).norm() > 0}


def test_conv_training_is_deterministic_for_a_seed_and_channels_last_changes_nothing():
    a, ra = _conv_run(1)
    b, _ = _conv_run(1)
    c, _ = _conv_run(2)
    d, rd = _conv_run(1, channels_last=False)
    start = make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=4, seed=0)
    assert _same_weights(a, b) and not _same_weights(a, c)
    assert all(p.is_contiguous() for p in a.parameters())  # memory format restored after training
    bound = float32_drift_bound(steps=2, batch_size=8)
    # Elementwise comparisons fail on some CPUs: Adam turns the rounding of a near-zero gradient into a
    # full-size step of either sign.  Whole tensors cannot hide a layout bug: another seed drifts ~100 %.
    layouts = _relative_drift(a, d, start)
    assert max(layouts.values()) <= bound, {k: v for k, v in layouts.items() if v > bound}
    assert max(_relative_drift(a, c, start).values()) > 100 * bound
    assert [r["loss"] for r in ra.history] == pytest.approx([r["loss"] for r in rd.history], rel=bound)


def test_conv_loss_goes_down():
    _, result = _conv_run(0, steps=12)
    losses = [r["loss"] for r in result.history]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_log_records_every_step_and_term(tmp_path):
    result = train(mlp_vae("dip-vae-ii"), tabular_dataset(), steps=12, batch_size=32, lr=1e-3,
                   checkpoint_dir=tmp_path, checkpoint_every=5, progress=False)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 13))
    assert set(records[0]) == {"step", "loss", "recon", "kl", "dip_offdiag", "dip_diag"}
    assert records == list(result.history)
    assert load_checkpoint(result.checkpoint).training["step"] == 12
    assert result.images_per_second > 0 and result.steps == 12


def test_progress_bar_shows_loss_and_terms(capsys):
    train(mlp_vae("beta-vae"), tabular(), steps=11, batch_size=32, progress=True)
    err = capsys.readouterr().err
    assert "beta-vae" in err and "kl=" in err and "recon=" in err


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(capsys):
    train(mlp_vae("beta-vae"), tabular(), steps=20, batch_size=32, progress=True)  # capsys: not a terminal
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and len(lines) == 10  # one line per tenth of the run
    assert lines[0].startswith("beta-vae: step 2/20 loss=") and lines[-1].startswith("beta-vae: step 20/20 ")


def test_progress_is_a_bar_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    train(mlp_vae("beta-vae"), tabular(), steps=20, batch_size=32, progress=True)
    assert "\r" in capsys.readouterr().err  # tqdm redraws its line


def test_in_process_resume_matches_uninterrupted_run(tmp_path):
    full = mlp_vae("factor-vae")
    train(full, tabular(), steps=9, batch_size=32, lr=1e-3, seed=4, progress=False)
    first = mlp_vae("factor-vae")
    train(first, tabular(), steps=4, batch_size=32, lr=1e-3, seed=4, checkpoint_dir=tmp_path, progress=False)
    resumed = mlp_vae("factor-vae")
    result = train(resumed, tabular(), steps=9, batch_size=32, lr=1e-3, seed=4, checkpoint_dir=tmp_path,
                   progress=False)
    assert _same_weights(full, resumed) and [r["step"] for r in result.history] == list(range(1, 10))
    again = train(mlp_vae("factor-vae"), tabular(), steps=9, batch_size=32, lr=1e-3, seed=4,
                  checkpoint_dir=tmp_path, progress=False)
    assert again.images_per_second == 0.0 and len(again.history) == 9  # nothing left to do
    with pytest.raises(ValueError, match="lr is 0.001 there, this call has 0.01"):
        train(mlp_vae("factor-vae"), tabular(), steps=12, batch_size=32, lr=1e-2, seed=4,
              checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="already holds 9 steps, more than the requested 5"):
        train(mlp_vae("factor-vae"), tabular(), steps=5, batch_size=32, lr=1e-3, seed=4,
              checkpoint_dir=tmp_path, progress=False)


def test_conv_resume_in_channels_last_is_bit_exact(tmp_path):
    # Adam state restored contiguous while the live parameters are channels-last: values must not change
    def model():
        return make_vae("factor-vae", input_shape=(1, 64, 64), latent_dim=4, disc_hidden=32, disc_layers=3)

    full = model()
    train(full, blobs(32), steps=4, batch_size=8, lr=1e-3, progress=False)
    train(model(), blobs(32), steps=2, batch_size=8, lr=1e-3, progress=False, checkpoint_dir=tmp_path)
    resumed = model()
    train(resumed, blobs(32), steps=4, batch_size=8, lr=1e-3, progress=False, checkpoint_dir=tmp_path)
    assert _same_weights(full, resumed)


def test_resume_discards_log_lines_past_the_checkpoint_including_a_cut_line(tmp_path):
    train(mlp_vae(), tabular(), steps=4, batch_size=32, checkpoint_dir=tmp_path, progress=False)
    with open(tmp_path / "log.jsonl", "a") as fh:
        fh.write('{"step": 5, "loss": 1.0}\n{"step": 6, "lo')
    result = train(mlp_vae(), tabular(), steps=6, batch_size=32, checkpoint_dir=tmp_path, progress=False)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7)) and records[4]["loss"] != 1.0
    assert records == list(result.history)


_SCRIPT = textwrap.dedent("""
    import sys
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, {here!r})
    from causalvae.models import train
    from vae_fixtures import mlp_vae, tabular
    train(mlp_vae("factor-vae"), tabular(512), steps={steps}, batch_size=32, lr=1e-3, seed=5,
          checkpoint_dir=sys.argv[1], checkpoint_every=5, progress=False)
""")


@pytest.mark.slow
def test_sigkilled_run_resumes_to_bit_identical_weights(tmp_path):
    steps = 300
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT.format(here=str(HERE), steps=steps))
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    reference = subprocess.Popen([sys.executable, str(script), str(reference_dir)])
    victim = subprocess.Popen([sys.executable, str(script), str(killed_dir)])
    deadline = time.monotonic() + 120
    while not (killed_dir / "last.safetensors").exists():
        assert victim.poll() is None and time.monotonic() < deadline, "training ended before a checkpoint"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    reached = load_checkpoint(killed_dir / "last.safetensors").training["step"]
    assert 0 < reached < steps
    subprocess.run([sys.executable, str(script), str(killed_dir)], check=True, timeout=300)
    assert reference.wait(timeout=300) == 0
    resumed, uninterrupted = (load_checkpoint(d / "last.safetensors") for d in (killed_dir, reference_dir))
    assert resumed.training["step"] == uninterrupted.training["step"] == steps
    for key, value in uninterrupted.model_state.items():
        assert torch.equal(value, resumed.model_state[key]), key
    for name, state in uninterrupted.optimizer_states.items():
        for pid, pstate in state["state"].items():
            for k, v in pstate.items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(resumed.optimizer_states[name]["state"][pid][k]))
    logs = [(d / "log.jsonl").read_text() for d in (killed_dir, reference_dir)]
    assert logs[0] == logs[1] and len(logs[0].splitlines()) == steps


class _LazyImages:
    """Renders images on access (like a procedural dataset); records the rendering thread."""

    def __init__(self, x: np.ndarray) -> None:
        self._x, self.shape, self.dtype, self.threads = x, x.shape, x.dtype, set()

    def __len__(self) -> int:
        return len(self._x)

    def __getitem__(self, index):
        self.threads.add(threading.current_thread().name)
        return self._x[index].copy()


def test_lazy_data_is_prefetched_off_the_main_thread_with_identical_results():
    x = tabular(256)
    lazy = _LazyImages(x)
    a, b = mlp_vae("vae"), mlp_vae("vae")
    train(a, lazy, steps=10, batch_size=32, seed=2, progress=False, cache_limit_bytes=0)
    train(b, x, steps=10, batch_size=32, seed=2, progress=False)
    assert _same_weights(a, b)
    assert lazy.threads and all(name.startswith("causalvae-batches") for name in lazy.threads)
    cached = _LazyImages(x)
    train(mlp_vae("vae"), cached, steps=3, batch_size=32, progress=False)
    assert cached.threads == {threading.current_thread().name}  # small lazy data: rendered once, cached


def test_bad_input_gets_clear_errors():
    x = tabular(64)
    with pytest.raises(ValueError, match=r"data has inputs of shape \(5,\); the model expects \(6,\)"):
        train(mlp_vae(), x[:, :5], steps=1, batch_size=8, progress=False)
    nan = x.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"data holds 1 NaN / inf value\(s\) \(first at row 3\)"):
        train(mlp_vae(), nan, steps=8, batch_size=64, progress=False)
    with pytest.raises(ValueError, match=r"Bernoulli likelihood needs observations in \[0, 1\]"):
        train(make_vae("vae", input_shape=(1, 64, 64), latent_dim=2), 2 * blobs(8), steps=1, batch_size=4,
              progress=False)
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, N=64\], got 65"):
        train(mlp_vae(), x, steps=1, batch_size=65, progress=False)
    with pytest.raises(TypeError, match="expected a FactorDataset or an array"):
        train(mlp_vae(), [1, 2, 3], steps=1, progress=False)
