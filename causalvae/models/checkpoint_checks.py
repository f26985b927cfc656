"""Checks of checkpoint content before any of it is used: configs, tensors, optimiser states.

A checkpoint is untrusted input. Its config is checked (types, finite numbers, bounded sizes)
before a model is built from it, and every tensor against what it will be loaded into (name,
shape, dtype) before it is copied anywhere: torch's fused Adam, for one, trusts its state
tensors' sizes and reads and writes past a smaller buffer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

# Upper bounds of the sizes a config may ask for (far above any model this package trains).
MAX_LATENT_DIM = 4096
MAX_FEATURES = 1 << 20            # MLP input width
MAX_CHANNELS = 64                 # conv64 image channels
MAX_HIDDEN_WIDTH = 1 << 16
MAX_HIDDEN_LAYERS = 32
MAX_NUMBER = 1e9                  # magnitude of any float in a config
# Hyper-parameters that set layer counts and widths, with their bounds (others need only be finite).
STRUCTURAL_HYPER = {"disc_hidden": MAX_HIDDEN_WIDTH, "disc_layers": 64, "codebook_size": 1 << 20,
                    "code_dim": MAX_LATENT_DIM}
# Per-parameter state of torch.optim.Adam / AdamW (``max_exp_avg_sq`` only with amsgrad).
ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")
# Param-group entries that say how the update is computed here, not what was learnt: the
# optimiser being restored keeps its own values.
IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, is corrupted or does not fit the model."""


def _int(where: str, value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise CheckpointError(f"{where}: expected an integer in [{low}, {high}], got {value!r}")
    return value


def _number(where: str, value: Any, *, positive: bool = False) -> float:
    if (type(value) not in (int, float) or not math.isfinite(value) or abs(value) > MAX_NUMBER
            or (positive and value <= 0)):
        kind = "a finite number > 0" if positive else "a finite number"
        raise CheckpointError(f"{where}: expected {kind} of magnitude <= {MAX_NUMBER:g}, got {value!r}")
    return float(value)


def check_config_dict(config: Any, where: str) -> dict[str, Any]:
    """Validate a checkpoint's config (JSON) before any model is built from it; returns it."""
    from causalvae.models.variants import get_variant
    from causalvae.models.vae import ARCHITECTURES, LIKELIHOODS, VAEConfig

    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: config must be a JSON object, got {type(config).__name__}")
    fields = set(VAEConfig.__dataclass_fields__)
    if set(config) != fields:
        raise CheckpointError(f"{where}: config keys must be {sorted(fields)}, got {sorted(config)}")
    for key in ("variant", "architecture", "likelihood"):
        if not isinstance(config[key], str):
            raise CheckpointError(f"{where}: config.{key} must be a string, got {config[key]!r}")
    try:
        defaults = get_variant(config["variant"]).defaults
    except KeyError as exc:
        raise CheckpointError(f"{where}: config.variant: {exc.args[0]}") from None
    for key, allowed in (("architecture", ARCHITECTURES), ("likelihood", LIKELIHOODS)):
        if config[key] not in allowed:
            raise CheckpointError(f"{where}: config.{key} must be one of {allowed}, got {config[key]!r}")
    _int(f"{where}: config.latent_dim", config["latent_dim"], 1, MAX_LATENT_DIM)
    _number(f"{where}: config.obs_std", config["obs_std"], positive=True)
    shape, hidden = config["input_shape"], config["hidden"]
    if not isinstance(shape, list) or not isinstance(hidden, list):
        raise CheckpointError(f"{where}: config.input_shape and config.hidden must be lists, "
                              f"got {shape!r} and {hidden!r}")
    if config["architecture"] == "conv64":
        if len(shape) != 3 or shape[1:] != [64, 64]:
            raise CheckpointError(f"{where}: config.input_shape must be [C, 64, 64] for conv64, got {shape!r}")
        _int(f"{where}: config.input_shape[0] (channels)", shape[0], 1, MAX_CHANNELS)
    else:
        if len(shape) != 1:
            raise CheckpointError(f"{where}: config.input_shape must be [D] for mlp, got {shape!r}")
        _int(f"{where}: config.input_shape[0] (features)", shape[0], 1, MAX_FEATURES)
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise CheckpointError(f"{where}: config.hidden: expected at most {MAX_HIDDEN_LAYERS} widths, "
                              f"got {len(hidden)}")
    for i, width in enumerate(hidden):
        _int(f"{where}: config.hidden[{i}]", width, 1, MAX_HIDDEN_WIDTH)
    hyper = config["hyper"]
    if not isinstance(hyper, dict) or set(hyper) != set(defaults):
        got = sorted(hyper) if isinstance(hyper, dict) else repr(hyper)
        raise CheckpointError(f"{where}: config.hyper must hold the hyper-parameters {sorted(defaults)} of "
                              f"variant {config['variant']!r}, got {got}")
    for key, value in hyper.items():
        _number(f"{where}: config.hyper.{key}", value)
        if key in STRUCTURAL_HYPER and not (float(value).is_integer() and 1 <= value <= STRUCTURAL_HYPER[key]):
            raise CheckpointError(f"{where}: config.hyper.{key}: expected an integer in "
                                  f"[1, {STRUCTURAL_HYPER[key]}], got {value!r}")
    return config


def check_finite_tensors(where: str, tensors: Mapping[str, torch.Tensor]) -> None:
    """Refuse NaN or infinite values in any floating-point tensor, naming it."""
    for key, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{where}: tensor {key!r} holds {bad} NaN or infinite value(s) of {t.numel()}")


def check_tensors(where: str, expected: Mapping[str, torch.Tensor], saved: Mapping[str, torch.Tensor],
                  what: str) -> None:
    """Names, shapes and dtypes of ``saved`` must equal those of ``expected`` (what they load into)."""
    if set(expected) != set(saved):
        raise CheckpointError(f"{where}: {what} names differ; missing {sorted(set(expected) - set(saved))[:5]}, "
                              f"unexpected {sorted(set(saved) - set(expected))[:5]}")
    for key, target in expected.items():
        value = saved[key]
        if not isinstance(value, torch.Tensor) or value.shape != target.shape or value.dtype != target.dtype:
            got = (f"{type(value).__name__}" if not isinstance(value, torch.Tensor)
                   else f"shape {tuple(value.shape)}, dtype {value.dtype}")
            raise CheckpointError(f"{where}: {what} {key!r}: expected shape {tuple(target.shape)}, "
                                  f"dtype {target.dtype}; got {got}")


def _check_group(where: str, saved: Any, current: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(saved, dict) or set(saved) != set(current):
        got = sorted(saved) if isinstance(saved, dict) else repr(saved)
        raise CheckpointError(f"{where}: expected the entries {sorted(current)}, got {got}")
    group = dict(saved)
    for key, value in current.items():
        if key in IMPLEMENTATION_FLAGS:
            group[key] = value
        elif key == "params":
            if (not isinstance(saved[key], list) or len(saved[key]) != len(value)
                    or any(type(i) is not int for i in saved[key])):
                raise CheckpointError(f"{where}.params: expected {len(value)} integer ids, got {saved[key]!r}")
        elif key == "betas":
            betas = saved[key]
            if (not isinstance(betas, (list, tuple)) or len(betas) != 2
                    or not all(type(b) in (int, float) and 0 <= b < 1 for b in betas)):
                raise CheckpointError(f"{where}.betas: expected two numbers in [0, 1), got {betas!r}")
        elif isinstance(value, bool):
            if type(saved[key]) is not bool:
                raise CheckpointError(f"{where}.{key}: expected true or false, got {saved[key]!r}")
        elif isinstance(value, (int, float)):
            if _number(f"{where}.{key}", saved[key]) < 0:
                raise CheckpointError(f"{where}.{key}: expected a number >= 0, got {saved[key]!r}")
        elif saved[key] != value:
            raise CheckpointError(f"{where}.{key}: expected {value!r}, got {saved[key]!r}")
    return group


def _check_param_state(where: str, state: Any, param: torch.Tensor, amsgrad: bool) -> None:
    keys = set(ADAM_STATE) | ({"max_exp_avg_sq"} if amsgrad else set())
    if not isinstance(state, dict) or set(state) != keys:
        got = sorted(state) if isinstance(state, dict) else repr(state)
        raise CheckpointError(f"{where}: expected the state entries {sorted(keys)}, got {got}")
    step = state["step"]
    if (not isinstance(step, torch.Tensor) or step.shape != () or not step.is_floating_point()
            or not (float(step) >= 0 and float(step).is_integer())):
        got = (repr(step) if not isinstance(step, torch.Tensor)
               else f"shape {tuple(step.shape)}, dtype {step.dtype}, value {step.flatten()[:1].tolist()}")
        raise CheckpointError(f"{where}.step: expected a 0-d floating tensor holding a count >= 0; got {got}")
    moments = {key: state[key] for key in sorted(keys - {"step"})}
    check_tensors(where, dict.fromkeys(moments, param), moments, "state")
    for key in sorted(moments.keys() - {"exp_avg"}):
        if bool((moments[key] < 0).any()):
            raise CheckpointError(f"{where}: state {key!r} holds negative values (a second moment is >= 0)")


def check_optimizer_state(where: str, optimizer: torch.optim.Optimizer, saved: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``saved`` (an optimiser ``state_dict``) against ``optimizer``; returns the dict to load.

    Groups must have the same entries and sizes, hyper-parameters be finite and in range, and every
    per-parameter state tensor have its parameter's shape and dtype. The optimiser's own
    implementation flags (``fused``, ``foreach``, ...) replace the saved ones.
    """
    if not isinstance(optimizer, torch.optim.Adam):
        raise CheckpointError(f"{where}: can only check and restore the state of torch.optim.Adam / AdamW, "
                              f"got {type(optimizer).__name__}")
    current = optimizer.state_dict()["param_groups"]
    saved_groups = saved["param_groups"]
    if not isinstance(saved_groups, list) or len(saved_groups) != len(current):
        raise CheckpointError(f"{where}: expected {len(current)} parameter group(s), got {saved_groups!r}")
    groups = [_check_group(f"{where}.param_groups[{i}]", s, c) for i, (s, c) in enumerate(zip(saved_groups, current))]
    owners = [(pid, param, group["amsgrad"]) for group, live in zip(groups, optimizer.param_groups)
              for pid, param in zip(group["params"], live["params"])]
    by_id = {pid: (param, amsgrad) for pid, param, amsgrad in owners}
    if len(by_id) != len(owners):
        raise CheckpointError(f"{where}: parameter ids repeat across groups: {[pid for pid, _, _ in owners]}")
    unknown = sorted(set(saved["state"]) - set(by_id))
    if unknown:
        raise CheckpointError(f"{where}: state for parameter ids {unknown[:5]} that no group holds "
                              f"(expected ids among {sorted(by_id)[:5]}...)")
    for pid, state in saved["state"].items():
        _check_param_state(f"{where}.state[{pid}]", state, *by_id[pid])
    return {"state": dict(saved["state"]), "param_groups": groups}
