"""Checkpoints: one safetensors file holding weights, optimiser state, config and training state.

Tensors are stored with safetensors (never pickle) and everything else as JSON in the
file's metadata, together with a SHA-256 digest of all tensor bytes, so loading never
executes code and a corrupted file is reported instead of silently loaded.

Keys: ``model.<state_dict key>``, ``optim.<optimiser>.<param index>.<state key>``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from causalvae.io import atomic_path
from causalvae.models.vae import VAE, VAEConfig

FORMAT = "causalvae-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, is corrupted or does not fit the model."""


@dataclass(frozen=True)
class Checkpoint:
    """The content of a checkpoint file (see :func:`load_checkpoint`)."""

    path: Path
    config: VAEConfig
    model_state: dict[str, torch.Tensor]
    optimizer_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def restore(self, model: VAE, optimizers: Mapping[str, torch.optim.Optimizer] | None = None) -> None:
        """Load the weights (and optimiser states) into ``model`` (and ``optimizers``), checking they fit."""
        check_compatible(self.config, model.config, path=self.path)
        own = model.state_dict()
        if set(own) != set(self.model_state):
            raise CheckpointError(f"{self.path}: parameter names differ; missing "
                                  f"{sorted(set(own) - set(self.model_state))[:5]}, unexpected "
                                  f"{sorted(set(self.model_state) - set(own))[:5]}")
        for key, value in self.model_state.items():
            if own[key].shape != value.shape:
                raise CheckpointError(f"{self.path}: parameter {key!r} has shape {tuple(value.shape)}, "
                                      f"the model expects {tuple(own[key].shape)}")
        model.load_state_dict(self.model_state)
        for name, opt in (optimizers or {}).items():
            if name not in self.optimizer_states:
                raise CheckpointError(f"{self.path}: no state for optimiser {name!r}; "
                                      f"checkpoint has {sorted(self.optimizer_states)}")
            opt.load_state_dict(self.optimizer_states[name])
            _match_parameter_layouts(opt)


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor its parameter's memory layout.

    States are saved contiguous; a channels-last parameter paired with a contiguous state makes
    torch's fused Adam update the wrong elements (it pairs them by memory position), silently.
    """
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def check_compatible(saved: VAEConfig, expected: VAEConfig, *, path: Path | str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` naming the first architecture field that differs."""
    for key in ("variant", "architecture", "input_shape", "latent_dim", "hidden", "likelihood"):
        a, b = getattr(saved, key), getattr(expected, key)
        if a != b:
            raise CheckpointError(f"{path}: checkpoint is for a different model: {key} is {a!r} "
                                  f"in the checkpoint, the model expects {b!r}")


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _split_optimizer(name: str, state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"optim.{name}.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars,
                     "param_ids": [str(pid) for pid in state["state"]]}


def save_checkpoint(path: str | os.PathLike, model: VAE, *,
                    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                    training: Mapping[str, Any] | None = None) -> Path:
    """Write model weights, config, optimiser states and ``training`` (JSON-able) atomically.

    Examples
    --------
    >>> save_checkpoint(tmp_path / "model.safetensors", model)  # doctest: +SKIP
    >>> load_model(tmp_path / "model.safetensors")              # doctest: +SKIP
    """
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_meta = {}
    for name, opt in (optimizers or {}).items():
        opt_tensors, optim_meta[name] = _split_optimizer(name, opt.state_dict())
        tensors.update(opt_tensors)
    metadata = {"format": FORMAT, "version": str(FORMAT_VERSION), "config": json.dumps(model.config.to_dict()),
                "optimizers": json.dumps(optim_meta), "training": json.dumps(dict(training or {})),
                "sha256": _digest(tensors)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import safe_open

    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for malformed files
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint "
                              f"(corrupted, truncated or another format such as a pickle): {exc}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: expected metadata format {FORMAT!r}, got {metadata.get('format')!r}")
    if metadata.get("version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path}: expected checkpoint version {FORMAT_VERSION}, got {metadata.get('version')}")
    if metadata.get("sha256") != _digest(tensors):
        raise CheckpointError(f"{path}: tensor data does not match its recorded SHA-256 digest (corrupted file)")
    return metadata, tensors


def _join_optimizer(name: str, meta: dict[str, Any], tensors: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    state = {}
    for pid in meta["param_ids"]:
        prefix = f"optim.{name}.{pid}."
        pstate: dict[str, Any] = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        pstate.update(meta["scalars"].get(pid, {}))
        state[int(pid)] = pstate
    return {"state": state, "param_groups": meta["param_groups"]}


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on CPU); no code is executed."""
    path = Path(path)
    metadata, tensors = _read(path)
    try:
        config = VAEConfig.from_dict(json.loads(metadata["config"]))
        optim_meta = json.loads(metadata["optimizers"])
        training = json.loads(metadata["training"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid checkpoint metadata: {exc}") from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    optimizer_states = {name: _join_optimizer(name, meta, tensors) for name, meta in optim_meta.items()}
    return Checkpoint(path=path, config=config, model_state=model_state,
                      optimizer_states=optimizer_states, training=training)


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> VAE:
    """Rebuild the model stored in a checkpoint, in eval (deterministic ``z = mu``) mode."""
    from causalvae.models.variants import build_vae

    ckpt = load_checkpoint(path)
    model = build_vae(ckpt.config)
    ckpt.restore(model)
    return model.to(device).eval()
