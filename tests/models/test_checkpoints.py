"""Checkpoints: bit-exact round trips, refusal of pickles, corrupted files and other architectures."""

import json
import os
import pickle
import re
import stat
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from causalvae.models import CheckpointError, load_checkpoint, load_model, make_vae, save_checkpoint
from causalvae.models.variants import make_optimizers
from vae_fixtures import mlp_vae


class _Payload:
    """Unpickling this creates a marker file: proof that pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _trained_with_optimizers():
    model = mlp_vae("factor-vae")
    optimizers = make_optimizers(model, lr=1e-3)
    for opt, params in ((optimizers["vae"], model.vae_parameters()),
                        (optimizers["adversary"], list(model.discriminator.parameters()))):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    return model, optimizers


def test_round_trip_restores_weights_optimisers_and_training_state(tmp_path):
    model, optimizers = _trained_with_optimizers()
    path = save_checkpoint(tmp_path / "c.safetensors", model, optimizers=optimizers,
                           training={"step": 7, "note": "x"})
    ckpt = load_checkpoint(path)
    assert ckpt.training == {"step": 7, "note": "x"} and ckpt.config == model.config
    fresh = mlp_vae("factor-vae", seed=99)
    fresh_opts = make_optimizers(fresh, lr=0.5)
    ckpt.restore(fresh, fresh_opts)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    for name in optimizers:
        saved, restored = optimizers[name].state_dict(), fresh_opts[name].state_dict()
        assert restored["param_groups"][0]["lr"] == saved["param_groups"][0]["lr"] == pytest.approx(
            1e-3 if name == "vae" else 1e-4)
        for pid, state in saved["state"].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(restored["state"][pid][key]))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".pkl"])
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_pickle_is_refused_without_running_it(tmp_path, suffix, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    if writer == "pickle":
        path.write_bytes(pickle.dumps({"model": _Payload(marker)}))
    else:
        torch.save({"model": _Payload(marker)}, path)
    assert zipfile.is_zipfile(path) == (writer == "torch.save")
    with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
        load_model(path)
    assert not marker.exists()
    if writer == "pickle":  # positive control: the payload does run when unpickled
        pickle.loads(path.read_bytes())
        assert marker.exists()


def test_corrupted_and_truncated_files_get_clear_errors(tmp_path):
    model = mlp_vae()
    path = save_checkpoint(tmp_path / "c.safetensors", model)
    data = bytearray(path.read_bytes())
    flipped = tmp_path / "flipped.safetensors"
    data[-3] ^= 0xFF  # a byte inside the last tensor
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(flipped)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_foreign_safetensors_file_is_rejected(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="expected metadata format 'causalvae-checkpoint', got None"):
        load_checkpoint(path)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae(latent_dim=3))
    with pytest.raises(CheckpointError, match="latent_dim is 3 in the checkpoint, the model expects 4"):
        load_checkpoint(path).restore(mlp_vae(latent_dim=4))
    conv = make_vae("vae", input_shape=(1, 64, 64), latent_dim=3)
    with pytest.raises(CheckpointError, match="architecture is 'mlp' in the checkpoint"):
        load_checkpoint(path).restore(conv)
    with pytest.raises(CheckpointError, match="no state for optimiser 'vae'"):
        load_checkpoint(path).restore(mlp_vae(latent_dim=3), make_optimizers(mlp_vae(latent_dim=3), lr=1e-3))


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    model = mlp_vae()
    save_checkpoint(tmp_path / "c.safetensors", model)
    save_checkpoint(tmp_path / "c.safetensors", model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]


def test_loaded_model_is_in_deterministic_mode(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae())
    model = load_model(path)
    assert not model.training
    x = torch.randn(3, 6)
    out = model(x)
    assert torch.equal(out.z, out.mu)


# -- a checkpoint is untrusted input -----------------------------------------------------------

def _forge(path: Path, out: Path, *, tensors=None, config=None, training=None, optimizers=None,
           metadata=None) -> Path:
    """Rewrite checkpoint ``path`` as ``out`` with changed content and a *recomputed* digest: a
    well-formed, correctly signed file whose content is hostile."""
    from safetensors import safe_open

    from causalvae.models import checkpoint as ck

    with safe_open(str(path), framework="pt") as fh:
        meta, stored = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    for key, change in (tensors or {}).items():
        if change is None:
            del stored[key]
        else:
            stored[key] = change(stored[key]) if callable(change) else change
    for key, change in (("config", config), ("training", training), ("optimizers", optimizers)):
        if change is not None:
            meta[key] = json.dumps(change(json.loads(meta[key])))
    meta.update(metadata or {})
    meta["sha256"] = ck._digest(meta, stored)
    save_file(stored, str(out), metadata=meta)
    return out


def _saved_with_optimizers(tmp_path):
    model, optimizers = _trained_with_optimizers()
    return save_checkpoint(tmp_path / "c.safetensors", model, optimizers=optimizers, training={"step": 1})


def _largest(path: Path, suffix: str) -> str:
    ckpt = load_checkpoint(path)
    pid = max(ckpt.optimizer_states["vae"]["state"],
              key=lambda p: ckpt.optimizer_states["vae"]["state"][p]["exp_avg"].numel())
    return f"optim.vae.{pid}.{suffix}"


@pytest.mark.parametrize("state_key, change, message", [
    ("exp_avg", lambda t: t.flatten()[:1].clone(), r"'exp_avg': expected shape \(16, 16\), dtype torch.float32; "
                                                   r"got shape \(1,\), dtype torch.float32"),
    ("exp_avg_sq", lambda t: t.double(), r"'exp_avg_sq': expected shape \(16, 16\), dtype torch.float32; "
                                         r"got shape \(16, 16\), dtype torch.float64"),
    ("exp_avg_sq", lambda t: -t - 1, "'exp_avg_sq' holds negative values"),
    ("step", lambda t: torch.ones(2), r"step: expected a 0-d floating tensor holding a count >= 0; got shape \(2,\)"),
    ("step", lambda t: torch.tensor(-1.0), "step: expected a 0-d floating tensor holding a count >= 0"),
    ("step", lambda t: torch.tensor(1.5), "step: expected a 0-d floating tensor holding a count >= 0"),
    ("exp_avg", None, r"expected the state entries \['exp_avg', 'exp_avg_sq', 'step'\], got \['exp_avg_sq', 'step'\]"),
])
def test_optimiser_state_that_does_not_fit_its_parameter_is_refused_before_anything_is_loaded(
        tmp_path, state_key, change, message):
    path = _saved_with_optimizers(tmp_path)
    forged = _forge(path, tmp_path / "forged.safetensors", tensors={_largest(path, state_key): change})
    fresh = mlp_vae("factor-vae", seed=99)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    optimizers = make_optimizers(fresh, lr=1e-3)
    with pytest.raises(CheckpointError, match=rf"optimiser 'vae'.state\[\d+\].*{message}") as err:
        load_checkpoint(forged).restore(fresh, optimizers)
    assert "\n" not in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())  # nothing was loaded
    assert all(not opt.state for opt in optimizers.values())


@pytest.mark.parametrize("change, message", [
    (lambda g: [{**g[0], "lr": -1.0}], r"param_groups\[0\].lr: expected a number >= 0, got -1.0"),
    (lambda g: [{**g[0], "betas": [0.9, 1.5]}], r"param_groups\[0\].betas: expected two numbers in \[0, 1\)"),
    (lambda g: [{**g[0], "amsgrad": "yes"}], r"param_groups\[0\].amsgrad: expected true or false, got 'yes'"),
    (lambda g: [{**g[0], "params": g[0]["params"][:-1]}], r"param_groups\[0\].params: expected \d+ integer ids"),
    (lambda g: g + g, r"expected 1 parameter group\(s\)"),
])
def test_optimiser_hyper_parameters_are_checked(tmp_path, change, message):
    path = _saved_with_optimizers(tmp_path)
    forged = _forge(path, tmp_path / "forged.safetensors",
                    optimizers=lambda o: {**o, "vae": {**o["vae"], "param_groups": change(o["vae"]["param_groups"])}})
    fresh = mlp_vae("factor-vae", seed=99)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(forged).restore(fresh, make_optimizers(fresh, lr=1e-3))


def test_a_forged_optimiser_state_cannot_reach_fused_adam_through_resumed_training(tmp_path):
    from causalvae.models import train
    from vae_fixtures import tabular

    data = tabular(64)
    model = mlp_vae()
    train(model, data, steps=2, batch_size=16, checkpoint_dir=tmp_path, progress=False)
    path = tmp_path / "last.safetensors"
    _forge(path, path, tensors={_largest(path, "exp_avg"): lambda t: t.flatten()[:1].clone(),
                                _largest(path, "exp_avg_sq"): lambda t: t.flatten()[:1].clone()})
    with pytest.raises(CheckpointError, match=r"optimiser 'vae'.state\[\d+\]: state 'exp_avg': expected shape"):
        train(mlp_vae(), data, steps=4, batch_size=16, checkpoint_dir=tmp_path, progress=False)


def test_the_digest_covers_config_and_training_state(tmp_path):
    from safetensors import safe_open

    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae(), training={"step": 7})
    with safe_open(str(path), framework="pt") as fh:
        meta, stored = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    for key, old, new in (("config", '"obs_std": 0.1', '"obs_std": 0.3'), ("training", '"step": 7', '"step": 5')):
        assert old in meta[key]
        save_file(stored, str(tmp_path / "flipped.safetensors"), metadata={**meta, key: meta[key].replace(old, new)})
        with pytest.raises(CheckpointError, match="content .metadata or tensors. does not match its recorded SHA-256"):
            load_checkpoint(tmp_path / "flipped.safetensors")


def test_a_version_1_checkpoint_is_refused_with_a_clear_message(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae())
    old = _forge(path, tmp_path / "v1.safetensors", metadata={"version": "1"})
    with pytest.raises(CheckpointError, match="format version 1 is no longer read: its digest does not cover"):
        load_model(old)


@pytest.mark.parametrize("change, message", [
    (lambda c: {**c, "latent_dim": 10 ** 9}, r"config.latent_dim: expected an integer in \[1, 4096\], got 1000000000"),
    (lambda c: {**c, "latent_dim": 3.0}, r"config.latent_dim: expected an integer in \[1, 4096\], got 3.0"),
    (lambda c: {**c, "hidden": [16, 10 ** 8]}, r"config.hidden\[1\]: expected an integer in \[1, 65536\]"),
    (lambda c: {**c, "hidden": [16] * 1000}, r"config.hidden: expected at most 32 widths, got 1000"),
    (lambda c: {**c, "input_shape": [10 ** 9]}, r"config.input_shape\[0\] \(features\): expected an integer"),
    (lambda c: {**c, "obs_std": float("nan")}, "config.obs_std: expected a finite number > 0 .*got nan"),
    (lambda c: {**c, "obs_std": -0.1}, "config.obs_std: expected a finite number > 0"),
    (lambda c: {**c, "hyper": {**c["hyper"], "disc_layers": 1e6}}, r"config.hyper.disc_layers: expected an integer"),
    (lambda c: {**c, "hyper": {**c["hyper"], "gamma": float("inf")}}, "config.hyper.gamma: expected a finite number"),
    (lambda c: {**c, "hyper": {}}, "config.hyper must hold the hyper-parameters"),
    (lambda c: {**c, "variant": "gan"}, "config.variant: unknown VAE variant 'gan'"),
    (lambda c: {**c, "extra": 1}, "config keys must be"),
])
def test_configs_are_validated_before_any_model_is_built(tmp_path, monkeypatch, change, message):
    from causalvae.models import variants

    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae("factor-vae"))
    forged = _forge(path, tmp_path / "forged.safetensors", config=change)
    built = []
    monkeypatch.setattr(variants, "build_vae", lambda *a, **k: built.append(a) or pytest.fail("model built"))
    with pytest.raises(CheckpointError, match=message):
        load_model(forged)
    assert built == []


def test_a_config_larger_than_the_stored_tensors_fails_before_allocating_the_model(tmp_path, monkeypatch):
    from causalvae.models import variants

    devices = []
    real_build = variants.build_vae

    def build(config, **kwargs):
        devices.append(torch.empty(0).device.type)
        return real_build(config, **kwargs)

    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae())
    forged = _forge(path, tmp_path / "forged.safetensors", config=lambda c: {**c, "hidden": [60000, 60000]})
    monkeypatch.setattr(variants, "build_vae", build)
    with pytest.raises(CheckpointError, match=r"parameter 'encoder.fc1.layer.weight': expected shape \(60000, 6\)"):
        load_model(forged)
    assert devices == ["meta"]  # the 14 GB model was only described, never allocated


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, value):
    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae())
    key = next(k for k in load_checkpoint(path).model_state if k.endswith("weight"))
    forged = _forge(path, tmp_path / "forged.safetensors",
                    tensors={f"model.{key}": lambda t: t.index_fill(0, torch.tensor([0]), value)})
    with pytest.raises(CheckpointError, match=rf"tensor 'model.{re.escape(key)}' holds \d+ NaN or infinite value"):
        load_model(forged)


@pytest.mark.parametrize("tensors, training, message", [
    ({"optim.vae.0.exp_avg": torch.zeros(2)}, None, "tensors that belong to no model parameter or optimiser state"),
    ({"model.extra": torch.zeros(2)}, None, r"parameter names differ; missing \[\], unexpected \['extra'\]"),
    (None, lambda t: {**t, "step": -3}, "training.step must be an integer >= 0, got -3"),
    (None, lambda t: {**t, "step": "7"}, "training.step must be an integer >= 0, got '7'"),
])
def test_stray_tensors_and_bad_training_state_are_refused(tmp_path, tensors, training, message):
    path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae(), training={"step": 3})
    forged = _forge(path, tmp_path / "forged.safetensors", tensors=tensors, training=training)
    with pytest.raises(CheckpointError, match=message):
        load_model(forged)


def test_checkpoint_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "c.safetensors", mlp_vae())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
