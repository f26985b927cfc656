"""Intervention operations on chosen units of a site's output.

Every op describes an *alternative activation* for the whole site (:meth:`UnitOp.alternative`);
applying it replaces only the chosen units (axis 1) by their alternative values.  The sweeps
(:mod:`causalvae.interventions.alternatives`) build their alternatives through the same ops, so
the hook path and the engine agree by construction.

:data:`KINDS` is the one list of intervention kinds.  ``resample`` (a unit takes its value on
another input, drawn by a seeded permutation of *all* the inputs) needs the whole input set, so it
exists only in the sweeps (``ablation_effects(kind="resample")``); on a single forward pass it is a
``patch`` from the permuted inputs' activations.

>>> import torch
>>> zero([1]).apply(torch.ones(2, 3))
tensor([[1., 0., 1.],
        [1., 0., 1.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from causalvae.interventions.checks import UNIT_AXIS, check_units

#: Every intervention kind: what a unit is replaced by (``resample`` is sweep-only, see the module docstring).
KINDS = ("zero", "set", "add", "scale", "mean", "conditional-mean", "resample", "patch")
#: Kinds whose alternative is a function of the clean activation and a value alone.
VALUE_KINDS = ("zero", "set", "add", "scale")


@dataclass(frozen=True)
class UnitOp:
    """An intervention on ``units`` (None = every unit) of one site.

    Build it with :func:`set_value`, :func:`zero`, :func:`mean`, :func:`conditional_mean`,
    :func:`patch`, :func:`add` or :func:`scale`.
    """

    kind: str
    units: tuple[int, ...] | None
    value: Any = None
    labels: torch.Tensor | None = None

    def alternative(self, a: torch.Tensor) -> torch.Tensor:
        """The activation every unit would take under this op (same shape as ``a``)."""
        if self.kind == "zero":
            return torch.zeros_like(a)
        if self.kind in ("set", "mean"):
            return _broadcast(self.value, a, self.kind)
        if self.kind == "conditional-mean":
            labels = torch.as_tensor(self.labels, device=a.device).long()
            if labels.shape != (a.shape[0],):
                raise ValueError(f"conditional-mean needs one label per input: expected shape ({a.shape[0]},), "
                                 f"got {tuple(labels.shape)}")
            means = torch.as_tensor(self.value, dtype=a.dtype, device=a.device)
            if tuple(means.shape[1:]) != tuple(a.shape[1:]):
                raise ValueError(f"conditional means must have shape (G, *{tuple(a.shape[1:])}), "
                                 f"got {tuple(means.shape)}")
            return means[labels]
        if self.kind == "patch":
            source = torch.as_tensor(self.value, dtype=a.dtype, device=a.device)
            if source.shape != a.shape:
                raise ValueError(f"patch source has shape {tuple(source.shape)}; expected the site's activation "
                                 f"shape {tuple(a.shape)} (clean and source inputs must match)")
            return source
        if self.kind == "add":
            return a + _broadcast(self.value, a, self.kind)
        if self.kind == "scale":
            return a * _broadcast(self.value, a, self.kind)
        raise ValueError(f"unknown op kind {self.kind!r}; expected one of {[k for k in KINDS if k != 'resample']} "
                         "('resample' is a sweep kind: ablation_effects(kind='resample'))")

    def apply(self, a: torch.Tensor, *, site: str = "site") -> torch.Tensor:
        """``a`` with the chosen units replaced by their alternative values."""
        if a.dim() <= UNIT_AXIS:
            raise ValueError(f"site {site!r} output has shape {tuple(a.shape)}; expected a batch axis and a unit axis")
        alt = self.alternative(a)
        if self.units is None:
            return alt
        idx = check_units(site, self.units, a.shape[UNIT_AXIS])
        out = a.clone()
        out[:, idx] = alt[:, idx]
        return out


def _broadcast(value: Any, a: torch.Tensor, kind: str) -> torch.Tensor:
    v = torch.as_tensor(value, dtype=a.dtype, device=a.device)
    if v.dim() == 1 and a.dim() > 2 and v.shape[0] == a.shape[UNIT_AXIS]:
        v = v.reshape((1, -1) + (1,) * (a.dim() - 2))  # one value per channel
    try:
        return torch.broadcast_to(v, a.shape)
    except RuntimeError:
        raise ValueError(f"{kind} value of shape {tuple(v.shape)} does not broadcast to the site's activation "
                         f"shape {tuple(a.shape)}; expected a scalar, one value per unit, or a per-sample tensor "
                         f"of shape {tuple(a.shape[1:])}") from None


def _units(units: Sequence[int] | int | None) -> tuple[int, ...] | None:
    if units is None:
        return None
    if isinstance(units, int):
        return (units,)
    return tuple(int(u) for u in units)


def set_value(units: Sequence[int] | int | None, value: Any) -> UnitOp:
    """Set units to ``value`` (scalar, one value per unit, or a per-sample tensor)."""
    return UnitOp("set", _units(units), value)


def zero(units: Sequence[int] | int | None = None) -> UnitOp:
    """Zero-ablate units."""
    return UnitOp("zero", _units(units))


def mean(units: Sequence[int] | int | None, mean_activation: Any) -> UnitOp:
    """Replace units by a mean activation (per-sample shape, e.g. the dataset mean map)."""
    return UnitOp("mean", _units(units), mean_activation)


def conditional_mean(units: Sequence[int] | int | None, means: Any, labels: Any) -> UnitOp:
    """Replace units of input ``n`` by ``means[labels[n]]`` (means: G x per-sample shape)."""
    return UnitOp("conditional-mean", _units(units), means, labels=torch.as_tensor(labels))


def patch(units: Sequence[int] | int | None, source: torch.Tensor) -> UnitOp:
    """Patch units from ``source``: the site's activation on a source (counterfactual) input."""
    return UnitOp("patch", _units(units), source)


def add(units: Sequence[int] | int | None, delta: Any) -> UnitOp:
    """Add ``delta`` to units."""
    return UnitOp("add", _units(units), delta)


def scale(units: Sequence[int] | int | None, factor: Any) -> UnitOp:
    """Multiply units by ``factor``."""
    return UnitOp("scale", _units(units), factor)
