"""Checks of sites, unit indices and activations shared by the intervention layer (imports none of it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from causalvae.argtypes import check_int

#: Units are always axis 1 of a site's output (channels of a conv output, neurons of a linear one).
UNIT_AXIS = 1


def check_sites(model: nn.Module, names: Iterable[str]) -> list[str]:
    """Return ``names`` as a list after checking each is a module path of ``model``."""
    names = list(names)
    valid = dict(model.named_modules())
    unknown = [n for n in names if not n or n not in valid]
    if unknown:
        listed = [n for n in valid if n]
        raise KeyError(f"unknown site(s) {unknown}; expected module paths of the model, one of {listed}")
    return names


def check_units(site: str, units: Sequence[int], n_units: int, *, name: str = "units") -> list[int]:
    """Validate unit indices of ``site`` against its ``n_units``: distinct integers (fractions and text are
    refused, not truncated) in ``[0, n_units)``; ``name`` is the argument they came from."""
    items = list(units.tolist() if hasattr(units, "tolist") else units)
    checked = [check_int(u, name=f"{name}[{site!r}][{i}]") for i, u in enumerate(items)]
    bad = [u for u in checked if u < 0 or u >= n_units]
    if bad:
        raise IndexError(f"{name}: unit index {bad[0]} out of range for site {site!r}: expected 0 <= index < {n_units}")
    if len(set(checked)) != len(checked):
        raise ValueError(f"{name}: unit indices of site {site!r} must be distinct, got {items}")
    return checked


def check_finite(name: str, value: torch.Tensor) -> None:
    """Raise a clear error when an activation holds NaN or infinity."""
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        n_bad = int((~torch.isfinite(value)).sum())
        raise FloatingPointError(f"non-finite activation at site {name!r}: {n_bad} of {value.numel()} values are "
                                 f"NaN or inf; expected finite values (check the input and the weights)")
