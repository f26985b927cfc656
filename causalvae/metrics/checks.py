"""Argument checks shared by every metric module (imports nothing of the package)."""

from __future__ import annotations

import numpy as np


def check_positive_int(value: int, *, name: str, minimum: int = 1) -> int:
    """Raise unless ``value`` is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
