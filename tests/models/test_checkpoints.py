"""Checkpoints: bit-exact round trips, refusal of pickles, corrupted files and other architectures."""

import pickle
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
