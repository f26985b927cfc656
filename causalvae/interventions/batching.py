"""Input chunking: memory stays bounded by ``batch_size`` inputs whatever the dataset size."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from causalvae.argtypes import check_int


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)``."""
    size = check_int(size, name="batch_size", minimum=1)
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def to_tensor(x, rows: slice, device: torch.device | str | None, dtype: torch.dtype = torch.float32
              ) -> torch.Tensor:
    """Rows of an array-like (numpy, torch or lazy array) as a ``dtype`` tensor on ``device``.

    Pass the model's dtype (:func:`causalvae.interventions.forward.model_dtype`) so that float64,
    bfloat16 and float16 models receive inputs they can multiply.

    >>> to_tensor(np.ones((3, 2)), slice(0, 2), "cpu", torch.float64).dtype
    torch.float64
    """
    part = x[rows]
    if isinstance(part, torch.Tensor):
        return part.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(part), device=device).to(dtype)
