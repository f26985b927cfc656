"""Shared plumbing of the effect functions: devices, site / target resolution, method choice."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from causalvae.interventions.alternatives import Alternative
from causalvae.interventions.batching import to_tensor
from causalvae.interventions.engine import exact_scan, naive_scan
from causalvae.interventions.forward import model_dtype
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.checks import check_sites, check_units
from causalvae.interventions.sites import sites as model_sites
from causalvae.interventions.targets import SCALAR_TARGETS, Target, resolve_targets
from causalvae.interventions.trace import OUTPUT, trace
from causalvae.argtypes import check_int
from causalvae.inputs import check_batch, model_device
from causalvae.modelstate import restores_model_state
from causalvae.units import parse_unit

if TYPE_CHECKING:
    from causalvae.interventions.analysis import Analysis

METHODS = ("exact", "naive", "attribution", "screen")


@dataclass(frozen=True)
class Probe:
    """Unit counts and sample shapes of every site (and the output), from one input."""

    n_units: dict[str, int]
    shapes: dict[str, tuple[int, ...]]
    order: list[str]


def resolve_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """``device`` (default: where the model's parameters live); the model must already be there."""
    return model_device(model, device)


def as_inputs(x, *, name: str = "x") -> np.ndarray | torch.Tensor:
    """Check an input batch (:func:`causalvae.inputs.check_batch`): real numbers of shape (N, ...), N >= 1.

    A ``torch.utils.data.TensorDataset`` stands for its first tensor, a factor dataset for its
    observations.
    """
    tensors = getattr(x, "tensors", None)
    if isinstance(tensors, tuple) and tensors and isinstance(tensors[0], torch.Tensor):
        x = tensors[0]
    elif hasattr(x, "factor_names") and hasattr(x, "x"):
        x = x.x
    return check_batch(x, name=name)


@restores_model_state()
def probe(model: nn.Module, x, device: torch.device, extra: Sequence[str] = (), *,
          sites: Sequence[str] | None = None, dtype: torch.dtype | None = None) -> Probe:
    """Run one input (in ``dtype``, default the model's) through the model recording ``sites``
    (default: the model's) and the ``extra`` ones."""
    names = list(dict.fromkeys([*(model_sites(model) if sites is None else sites), *check_sites(model, extra)]))
    xb = to_tensor(x, slice(0, 1), device, model_dtype(model) if dtype is None else dtype)
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
        return {s: check_units(s, u, _n_units(info, s), name="sites") for s, u in sites.items()}
    check_sites(model, sites)
    return {s: list(range(_n_units(info, s))) for s in sites}


def _n_units(info: Probe, site: str) -> int:
    if site not in info.n_units:
        raise ValueError(f"site {site!r} is not executed by the forward pass or its output is not a tensor with a "
                         f"unit axis (a tuple such as chunk's: use its items, the getitem nodes); expected one of "
                         f"{info.order}")
    return info.n_units[site]


def resolve(an: Analysis, x, sites, targets) -> tuple[Probe, dict[str, list[int]], list[Target]]:
    """Probe the model and resolve the sources (``sites``) and ``targets`` of a scan."""
    specs = [targets] if isinstance(targets, str) else list(targets)
    requested = [] if sites is None else [sites] if isinstance(sites, str) else list(sites)
    named = [parse_unit(t)[0] for t in specs if t not in SCALAR_TARGETS and t != OUTPUT]
    info = an.probe(x, [*requested, *named])
    sources = resolve_sources(an.module, info, sites)
    return info, sources, resolve_targets(specs, info.n_units)


#: On a CPU, stacking interventions pays while a pass holds few inputs (per-replay overhead dominates) and
#: stops paying once activations fall out of cache (DESIGN §6).  Measured on the conv64 decoder, fc2 ->
#: deconv1 mean ablation, 8-input chunks: 1 unit per pass 2.8 s, 32 per pass 1.1 s; 2-input chunks:
#: 1 per pass 42 s, 128 per pass 0.5 s (a loaded 2-core machine; ratios, not times).
CPU_INPUTS_PER_PASS = 256


def default_units_per_pass(device: torch.device, chunk_inputs: int) -> int:
    """Interventions stacked along the batch axis per replay: 16 on CUDA; on a CPU as many as keep a
    replay near :data:`CPU_INPUTS_PER_PASS` inputs (1 for chunks of >= 256 inputs)."""
    return 16 if device.type == "cuda" else max(1, CPU_INPUTS_PER_PASS // max(1, chunk_inputs))


def run_exact(an: Analysis, x, *, sources: dict[str, list[int]], targets: list[Target], alternative: Alternative,
              statistic: str, method: str, batch_size: int, units_per_pass: int | None) -> tuple[np.ndarray, dict]:
    """Run the exact engine (or the naive loop), returning values and provenance meta.

    Under ``stochastic="fixed-seed"`` the exact method is the naive loop (the engine's cached
    replay cannot reseed); ``meta["method"]`` says which ran.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    batch_size = check_int(batch_size, name="batch_size", minimum=1)
    per_pass = (default_units_per_pass(an.device, min(len(x), batch_size)) if units_per_pass is None
                else check_int(units_per_pass, name="units_per_pass", minimum=1))
    meta: dict = {"method": method, "device": str(an.device), "batch_size": int(batch_size)}
    if method == "exact" and an.spec.stochastic != "fixed-seed":
        target_sites = [t.source for t in targets if t.source != OUTPUT]
        try:
            traced = trace(an.module, dict.fromkeys([*sources, *target_sites]))
        except Exception as exc:  # untraceable models fall back to the hook loop
            warnings.warn(f"model could not be traced with torch.fx ({type(exc).__name__}: {exc}); "
                          f"falling back to the per-unit hook loop", stacklevel=3)
        else:
            acc, info = exact_scan(an, traced, x, sources=sources, targets=targets, alternative=alternative,
                                   batch_size=batch_size, units_per_pass=per_pass)
            meta.update(info, units_per_pass=per_pass)
            return acc.result(statistic), meta
    acc = naive_scan(an, x, sources=sources, targets=targets, alternative=alternative, batch_size=batch_size)
    meta["method"] = "naive"
    return acc.result(statistic), meta
