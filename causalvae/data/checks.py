"""Argument checks shared by the dataset generators (clear errors naming expected vs actual)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def do_values(name: str, value: object, n: int) -> np.ndarray:
    """The value(s) of ``do(name=value)`` as a float64 array of length ``n`` (scalar broadcast)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"do({name}=...) must be a number or an array of numbers, got {value!r}") from None
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"do({name}=...) must be a scalar or have shape ({n},), got shape {arr.shape}")
    return arr


def describe_do(do: Mapping[str, object]) -> dict[str, object]:
    """A JSON-safe summary of an intervention for ``FactorDataset.meta``."""
    return {k: float(v) if np.ndim(v) == 0 else "per-sample values" for k, v in do.items()}


def unknown_factor(name: str, valid: tuple[str, ...], *, where: str) -> KeyError:
    """The error for a factor name that does not exist."""
    return KeyError(f"unknown factor {name!r} in {where}; expected one of {list(valid)}")
