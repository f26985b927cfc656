"""Input chunking: memory stays bounded by ``batch_size`` inputs whatever the dataset size."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)``."""
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def to_tensor(x, rows: slice, device: torch.device | str | None) -> torch.Tensor:
    """Rows of an array-like (numpy, torch or lazy array) as a float32 tensor on ``device``."""
    part = x[rows]
    if isinstance(part, torch.Tensor):
        return part.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(part), dtype=torch.float32, device=device)
