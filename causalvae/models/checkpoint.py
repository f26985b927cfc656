"""Checkpoints: one safetensors file holding weights, optimiser state, config and training state.

Tensors are stored with safetensors (never pickle) and everything else as JSON in the
file's metadata, together with a SHA-256 digest of the metadata and all tensors (names,
dtypes, shapes, bytes), so loading never executes code and a corrupted file is reported
instead of silently loaded. A checkpoint is also checked as untrusted input before use
(:mod:`causalvae.models.checkpoint_checks`): the config before a model is built, every tensor
against what it is loaded into, no NaN or infinite values.

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
from causalvae.models.checkpoint_checks import (CheckpointError, check_config_dict, check_finite_tensors,
                                                check_optimizer_state, check_tensors)
from causalvae.models.vae import VAE, VAEConfig

__all__ = ["Checkpoint", "CheckpointError", "check_compatible", "load_checkpoint", "load_model", "save_checkpoint"]

FORMAT = "causalvae-checkpoint"
FORMAT_VERSION = 2  # 1: the digest covered tensor bytes only


@dataclass(frozen=True)
class Checkpoint:
    """The content of a checkpoint file (see :func:`load_checkpoint`)."""

    path: Path
    config: VAEConfig
    model_state: dict[str, torch.Tensor]
    optimizer_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def restore(self, model: VAE, optimizers: Mapping[str, torch.optim.Optimizer] | None = None) -> None:
        """Load the weights (and optimiser states) into ``model`` (and ``optimizers``).

        Everything is checked before anything is loaded: the architecture, every tensor's name,
        shape and dtype against the model's and, for each optimiser, its parameter groups and
        per-parameter state against its parameters. Raises :class:`CheckpointError`.
        """
        check_compatible(self.config, model.config, path=self.path)
        check_tensors(str(self.path), model.state_dict(), self.model_state, "parameter")
        states = {}
        for name, opt in (optimizers or {}).items():
            if name not in self.optimizer_states:
                raise CheckpointError(f"{self.path}: no state for optimiser {name!r}; "
                                      f"checkpoint has {sorted(self.optimizer_states)}")
            states[name] = check_optimizer_state(f"{self.path}: optimiser {name!r}", opt,
                                                 self.optimizer_states[name])
        model.load_state_dict(self.model_state)
        for name, opt in (optimizers or {}).items():
            opt.load_state_dict(states[name])
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


def _digest(metadata: Mapping[str, str], tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of every metadata entry but the digest itself, and of every tensor's name, dtype,
    shape and bytes; each field is length-prefixed, so no two contents share an encoding."""
    h = hashlib.sha256()

    def field(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    for key in sorted(set(metadata) - {"sha256"}):
        field(key.encode())
        field(metadata[key].encode())
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        field(key.encode())
        field(f"{t.dtype} {tuple(t.shape)}".encode())
        field(t.reshape(-1).view(torch.uint8).numpy().tobytes())
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
                "optimizers": json.dumps(optim_meta), "training": json.dumps(dict(training or {}))}
    metadata["sha256"] = _digest(metadata, tensors)
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
    if metadata.get("version") == "1":
        raise CheckpointError(f"{path}: checkpoint format version 1 is no longer read: its digest does not cover "
                              f"the config and training state, so their corruption would go unnoticed; "
                              f"train the model again to write a version {FORMAT_VERSION} checkpoint")
    if metadata.get("version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path}: expected checkpoint version {FORMAT_VERSION}, got {metadata.get('version')}")
    if metadata.get("sha256") != _digest(metadata, tensors):
        raise CheckpointError(f"{path}: content (metadata or tensors) does not match its recorded SHA-256 digest "
                              f"(corrupted file)")
    return metadata, tensors


def _join_optimizer(where: str, name: str, meta: Any, tensors: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    if (not isinstance(meta, dict) or set(meta) != {"param_groups", "scalars", "param_ids"}
            or not isinstance(meta["param_ids"], list) or not isinstance(meta["scalars"], dict)
            or not all(isinstance(p, str) and p.isdecimal() for p in [*meta["param_ids"], *meta["scalars"]])
            or not set(meta["scalars"]) <= set(meta["param_ids"])
            or not all(isinstance(v, dict) for v in meta["scalars"].values())):
        raise CheckpointError(f"{where}: optimiser {name!r} metadata must be an object with param_groups, "
                              f"param_ids (decimal strings) and scalars (objects per id), got {meta!r:.200}")
    state = {}
    for pid in meta["param_ids"]:
        prefix = f"optim.{name}.{pid}."
        pstate: dict[str, Any] = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        pstate.update(meta["scalars"].get(pid, {}))
        state[int(pid)] = pstate
    return {"state": state, "param_groups": meta["param_groups"]}


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint written by :func:`save_checkpoint` (tensors on CPU); no code is executed.

    Raises :class:`CheckpointError` for an unreadable, corrupted or older-format file, an invalid
    config (sizes beyond :mod:`causalvae.models.checkpoint_checks`' bounds included), tensors that
    belong to nothing, and NaN or infinite values.
    """
    path = Path(path)
    metadata, tensors = _read(path)
    try:
        raw_config, optim_meta, training = (json.loads(metadata[k]) for k in ("config", "optimizers", "training"))
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid checkpoint metadata: {exc!r}") from None
    try:
        config = VAEConfig.from_dict(check_config_dict(raw_config, str(path)))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid config: {exc}") from None
    if not isinstance(optim_meta, dict) or not isinstance(training, dict):
        raise CheckpointError(f"{path}: optimizers and training metadata must be JSON objects")
    if "step" in training and (type(training["step"]) is not int or training["step"] < 0):
        raise CheckpointError(f"{path}: training.step must be an integer >= 0, got {training['step']!r}")
    bad_names = [name for name in optim_meta if not name.isidentifier()]
    if bad_names:
        raise CheckpointError(f"{path}: optimiser names must be identifiers, got {bad_names[:5]}")
    check_finite_tensors(str(path), tensors)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    optimizer_states = {name: _join_optimizer(str(path), name, meta, tensors) for name, meta in optim_meta.items()}
    owned = len(model_state) + sum(isinstance(v, torch.Tensor) for o in optimizer_states.values()
                                   for state in o["state"].values() for v in state.values())
    if owned != len(tensors):
        prefixes = ("model.", *(f"optim.{n}.{pid}." for n, o in optimizer_states.items() for pid in o["state"]))
        stray = sorted(k for k in tensors if not k.startswith(prefixes))
        raise CheckpointError(f"{path}: tensors that belong to no model parameter or optimiser state: {stray[:5]}")
    return Checkpoint(path=path, config=config, model_state=model_state,
                      optimizer_states=optimizer_states, training=training)


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> VAE:
    """Rebuild the model stored in a checkpoint, in eval (deterministic ``z = mu``) mode.

    The model is first built on torch's ``meta`` device (no memory) and the stored tensors are
    checked against it, so a config asking for more than the file holds fails before allocation.
    """
    from causalvae.models.variants import build_vae

    ckpt = load_checkpoint(path)
    with torch.device("meta"):
        skeleton = build_vae(ckpt.config)
    check_tensors(str(ckpt.path), skeleton.state_dict(), ckpt.model_state, "parameter")
    model = build_vae(ckpt.config)
    ckpt.restore(model)
    return model.to(device).eval()
