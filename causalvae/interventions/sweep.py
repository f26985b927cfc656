"""Shared plumbing of the effect functions: devices, site / target resolution, method choice."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from causalvae.interventions.alternatives import Alternative
from causalvae.interventions.engine import exact_sweep, naive_sweep
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.sites import check_sites, check_units, sites as model_sites
from causalvae.interventions.targets import SCALAR_TARGETS, Target, resolve_targets
from causalvae.interventions.trace import OUTPUT, trace
from causalvae.modelstate import restores_model_state
from causalvae.units import parse_unit

METHODS = ("exact", "naive", "attribution", "screen")


@dataclass(frozen=True)
class Probe:
    """Unit counts and sample shapes of every site (and the output), from one input."""

    n_units: dict[str, int]
    shapes: dict[str, tuple[int, ...]]
    order: list[str]


def resolve_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """``device`` (default: where the model's parameters live); the model must already be there."""
    params = list(model.parameters())
    model_device = params[0].device if params else torch.device("cpu")
    if device is None:
        return model_device
    device = torch.device(device)
    if params and (device.type != model_device.type or (device.index is not None and device != model_device)):
        raise ValueError(f"model parameters are on {model_device} but device={device} was requested; "
                         f"move the model first (model.to({str(device)!r}))")
    return device


def as_inputs(x, *, name: str = "x") -> np.ndarray | torch.Tensor:
    """Check an input batch: an array-like of shape (N, ...) with N >= 1 and finite values."""
    if not hasattr(x, "shape") or len(x.shape) < 2:
        raise ValueError(f"{name} must be a batch of shape (N, C, H, W) or (N, D), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty; expected at least one input")
    return x


@restores_model_state()
def probe(model: nn.Module, x, device: torch.device, extra: Sequence[str] = ()) -> Probe:
    """Run one input through the model recording every default site and the ``extra`` ones."""
    names = list(dict.fromkeys([*model_sites(model), *check_sites(model, extra)]))
    xb = torch.as_tensor(np.asarray(x[:1]), dtype=torch.float32, device=device)
    with torch.no_grad():
        acts, out = forward_capture(model, xb, names, skip_non_tensor=True)
    n_units = {k: int(v.shape[1]) for k, v in acts.items() if v.dim() >= 2}
    shapes = {k: tuple(v.shape[1:]) for k, v in acts.items()}
    n_units[OUTPUT] = int(out.shape[1])
    shapes[OUTPUT] = tuple(out.shape[1:])
    return Probe(n_units, shapes, [k for k in acts if k in n_units])


def resolve_sources(model: nn.Module, info: Probe, sites: Sequence[str] | Mapping[str, Sequence[int]] | None
                    ) -> dict[str, list[int]]:
    """``{site: unit indices}``: all units of the given sites (default: every site of the model)."""
    if sites is None:
        return {s: list(range(info.n_units[s])) for s in info.order}
    if isinstance(sites, str):
        sites = [sites]
    if isinstance(sites, Mapping):
        check_sites(model, sites)
        return {s: check_units(s, u, _n_units(info, s)) for s, u in sites.items()}
    check_sites(model, sites)
    return {s: list(range(_n_units(info, s))) for s in sites}


def _n_units(info: Probe, site: str) -> int:
    if site not in info.n_units:
        raise ValueError(f"site {site!r} is not executed by the forward pass or has no unit axis; "
                         f"expected one of {info.order}")
    return info.n_units[site]


def resolve(model: nn.Module, x, sites, targets, device) -> tuple[torch.device, Probe, dict[str, list[int]],
                                                                  list[Target]]:
    x = as_inputs(x)
    dev = resolve_device(model, device)
    specs = [targets] if isinstance(targets, str) else list(targets)
    named = [parse_unit(t)[0] for t in specs if t not in SCALAR_TARGETS and t != OUTPUT]
    modules = dict(model.named_modules())
    unknown = [t for t, site in zip([t for t in specs if t not in SCALAR_TARGETS and t != OUTPUT], named)
               if not site or site not in modules]
    if unknown:
        raise KeyError(f"unknown target(s) {unknown}; expected 'output', {list(SCALAR_TARGETS)}, or a site / unit id "
                       f"of one of {[n for n in modules if n]}")
    requested = [] if sites is None else [sites] if isinstance(sites, str) else list(sites)
    info = probe(model, x, dev, extra=[*requested, *named])
    sources = resolve_sources(model, info, sites)
    return dev, info, sources, resolve_targets(specs, info.n_units)


def run_exact(model: nn.Module, x, *, sources: dict[str, list[int]], targets: list[Target], alternative: Alternative,
              statistic: str, method: str, device: torch.device, batch_size: int, units_per_pass: int | None
              ) -> tuple[np.ndarray, dict]:
    """Run the exact engine (or the naive loop), returning values and provenance meta."""
    per_pass = units_per_pass or (16 if device.type == "cuda" else 1)
    meta: dict = {"method": method, "device": str(device), "batch_size": int(batch_size)}
    if method == "exact":
        target_sites = [t.source for t in targets if t.source != OUTPUT]
        try:
            traced = trace(model, dict.fromkeys([*sources, *target_sites]))
        except Exception as exc:  # untraceable models fall back to the hook loop
            warnings.warn(f"model could not be traced with torch.fx ({type(exc).__name__}: {exc}); "
                          f"falling back to the per-unit hook loop", stacklevel=3)
            method = "naive"
        else:
            acc, info = exact_sweep(model, traced, x, sources=sources, targets=targets, alternative=alternative,
                                    device=device, batch_size=batch_size, units_per_pass=per_pass)
            meta.update(info, units_per_pass=per_pass)
            return acc.result(statistic), meta
    if method != "naive":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    acc = naive_sweep(model, x, sources=sources, targets=targets, alternative=alternative, device=device,
                      batch_size=batch_size)
    meta["method"] = "naive"
    return acc.result(statistic), meta
