"""Deterministic, resumable mini-batches that stay off the training loop's critical path.

Batch ``t`` is a function of ``(seed, t)`` only: epoch ``e = t // steps_per_epoch`` uses the
permutation drawn from ``numpy.random.default_rng([seed, e])``.  Resuming at step ``t``
therefore needs no saved RNG state.  Observations in memory (or lazy ones small enough to
cache) are indexed directly; larger lazy datasets are rendered ahead by a worker thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch


def observations_of(data: Any) -> Any:
    """The observation array of a FactorDataset, or ``data`` itself if it is an array."""
    x = getattr(data, "x", data)
    if not all(hasattr(x, a) for a in ("shape", "__getitem__", "__len__")):
        raise TypeError(f"expected a FactorDataset or an array of observations, got {type(data).__name__}")
    return x


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """A 63-bit seed for ``(seed, step, stream)`` (counter-based, so resumable without state)."""
    return int(np.random.SeedSequence([int(seed), int(step), int(stream)]).generate_state(1, np.uint64)[0] >> 1)


class BatchSource:
    """Batches of ``batch_size`` observations for training steps ``0, 1, 2, ...``.

    Parameters
    ----------
    x : observations, N x ... (NumPy array, torch tensor or lazy array).
    batch_size : observations per batch (the last incomplete batch of an epoch is dropped).
    seed : seed of the epoch permutations.
    cache_limit_bytes : lazy arrays up to this size are materialised once.
    prefetch : batches rendered ahead by a worker thread for larger lazy arrays.
    """

    def __init__(self, x: Any, *, batch_size: int, seed: int, cache_limit_bytes: int = 1 << 30,
                 prefetch: int = 4) -> None:
        n = len(x)
        if batch_size < 1 or n < batch_size:
            raise ValueError(f"batch_size must be in [1, N={n}], got {batch_size}")
        self.n, self.batch_size, self.seed, self.prefetch = n, int(batch_size), int(seed), int(prefetch)
        self.steps_per_epoch = n // self.batch_size
        nbytes = n * int(np.prod(x.shape[1:])) * 4
        if isinstance(x, (np.ndarray, torch.Tensor)) or nbytes <= cache_limit_bytes:
            self._tensor: torch.Tensor | None = self._materialise(x)
            self._lazy = None
        else:
            self._tensor, self._lazy = None, x
        self._epoch: tuple[int, np.ndarray] | None = None

    @staticmethod
    def _materialise(x: Any) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            return x.detach().to("cpu", torch.float32)
        if isinstance(x, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        chunks = [np.asarray(x[i:i + 4096], dtype=np.float32) for i in range(0, len(x), 4096)]
        return torch.from_numpy(np.concatenate(chunks))

    def indices(self, step: int) -> np.ndarray:
        """Dataset indices of batch ``step``."""
        epoch, pos = divmod(int(step), self.steps_per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._epoch[1][pos * self.batch_size:(pos + 1) * self.batch_size]

    def batch(self, step: int) -> torch.Tensor:
        """Batch ``step`` as a float32 CPU tensor."""
        idx = self.indices(step)
        if self._tensor is not None:
            return self._tensor.index_select(0, torch.from_numpy(idx))
        order = np.argsort(idx, kind="stable")  # lazy arrays may prefer sorted indices
        out = np.empty((len(idx), *self._lazy.shape[1:]), dtype=np.float32)
        out[order] = np.asarray(self._lazy[idx[order]], dtype=np.float32)
        return torch.from_numpy(out)

    def iterate(self, start: int, stop: int) -> Iterator[torch.Tensor]:
        """Batches ``start .. stop-1`` in order; lazy arrays are rendered ``prefetch`` steps ahead."""
        if self._tensor is not None or self.prefetch < 1:
            for step in range(start, stop):
                yield self.batch(step)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="causalvae-batches") as pool:
            pending: deque[Future] = deque()
            next_step = start
            try:
                while next_step < stop or pending:
                    while next_step < stop and len(pending) < self.prefetch:
                        pending.append(pool.submit(self.batch, next_step))
                        next_step += 1
                    yield pending.popleft().result()
            finally:
                for fut in pending:
                    fut.cancel()
