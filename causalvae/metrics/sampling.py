"""A pool of observations with known factors, encoded lazily and never twice.

The sampling-based scores (FactorVAE, beta-VAE) need batches in which one factor is fixed.
disentanglement_lib draws fresh factors and renders new observations for every batch (about
970,000 encodings for the FactorVAE score). Here every batch is drawn from a *pool* of
observations with known factors: "factor k fixed at the value of anchor a" means "pool items
whose factor k equals that of a". On a full factor grid (e.g. all of dSprites) this is exactly
disentanglement_lib's sampling; on a random subsample of the grid the other factors follow the
pool's empirical distribution. Codes are cached by pool index, so all metrics of a suite share
one encoding of each pool item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from causalvae.argtypes import check_int
from causalvae.metrics.discrete import labels
from causalvae.metrics.validation import check_codes

Represent = Callable[[np.ndarray], np.ndarray]


class CodeCache:
    """Codes of a pool of observations, computed on first request by ``represent`` and cached.

    Parameters
    ----------
    factors : N x K factor values of the pool.
    observations : N observations (array or lazy array indexable by an index array); needed
        unless ``codes`` is given.
    represent : ``represent(x) -> codes`` mapping a batch of observations to an n x d array.
    codes : precomputed N x d codes (then nothing is ever encoded).
    batch_size : observations per ``represent`` call.

    Examples
    --------
    >>> cache = CodeCache(np.arange(6.0)[:, None], observations=np.arange(6.0)[:, None],
    ...                   represent=lambda x: 2 * x)
    >>> cache.codes(np.array([1, 1, 4])).ravel().tolist(), cache.n_encoded
    ([2.0, 2.0, 8.0], 2)
    """

    def __init__(self, factors: np.ndarray, *, observations: Any = None, represent: Represent | None = None,
                 codes: np.ndarray | None = None, batch_size: int = 256) -> None:
        self.factors = check_codes(factors, name="factors")
        self.batch_size = check_int(batch_size, name="batch_size", minimum=1)
        n = len(self.factors)
        if codes is not None:
            self._codes = check_codes(codes, name="codes").copy()
            if len(self._codes) != n:
                raise ValueError(f"codes has {len(self._codes)} rows but factors has {n}")
            self._done = np.ones(n, dtype=bool)
        else:
            if observations is None or represent is None:
                raise ValueError("give either codes= or both observations= and represent=")
            if len(observations) != n:
                raise ValueError(f"observations has {len(observations)} items but factors has {n} rows")
            self._codes = None
            self._done = np.zeros(n, dtype=bool)
        self._observations = observations
        self._represent = represent
        self.n_encoded = 0

    @classmethod
    def from_dataset(cls, dataset: Any, represent: Represent, *, pool_size: int | None = None, seed: int = 0,
                     batch_size: int = 256) -> "CodeCache":
        """A cache over a :class:`~causalvae.data.FactorDataset` (or a random subsample of it).

        ``pool_size`` items are drawn without replacement (``seed``); None keeps the whole dataset.
        """
        n = len(dataset)
        if pool_size is None or pool_size >= n:
            return cls(dataset.factors, observations=dataset.x, represent=represent, batch_size=batch_size)
        pool_size = check_int(pool_size, name="pool_size", minimum=2)
        index = np.sort(np.random.default_rng(seed).choice(n, pool_size, replace=False))
        return cls(dataset.factors[index], observations=_Subset(dataset.x, index), represent=represent,
                   batch_size=batch_size)

    def __len__(self) -> int:
        return len(self.factors)

    @property
    def n_factors(self) -> int:
        return self.factors.shape[1]

    def ensure(self, indices: np.ndarray) -> None:
        """Encode the pool items among ``indices`` that are not cached yet (in sorted order)."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"pool indices must lie in [0, {len(self)}), got [{idx.min()}, {idx.max()}]")
        missing = np.unique(idx)
        missing = missing[~self._done[missing]]
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start:start + self.batch_size]
            codes = np.asarray(self._represent(np.asarray(self._observations[batch])), dtype=np.float64)
            if codes.ndim != 2 or len(codes) != len(batch):
                raise ValueError(f"represent must return a ({len(batch)}, d) array for {len(batch)} "
                                 f"observations, got shape {codes.shape}")
            if not np.all(np.isfinite(codes)):
                raise ValueError(f"represent returned non-finite codes for pool items {batch[:5].tolist()}...")
            if self._codes is None:
                self._codes = np.empty((len(self), codes.shape[1]))
            elif codes.shape[1] != self._codes.shape[1]:
                raise ValueError(f"represent returned {codes.shape[1]} latents, earlier {self._codes.shape[1]}")
            self._codes[batch] = codes
            self._done[batch] = True
            self.n_encoded += len(batch)

    def codes(self, indices: np.ndarray) -> np.ndarray:
        """Codes of the pool items ``indices`` (any shape; result has shape ``indices.shape + (d,)``)."""
        idx = np.asarray(indices, dtype=np.int64)
        self.ensure(idx)
        if self._codes is None:  # nothing requested yet
            raise ValueError("no codes requested: indices is empty")
        return self._codes[idx]


class _Subset:
    """A lazy view of ``x[index]`` that renders only the items asked for."""

    def __init__(self, x: Any, index: np.ndarray) -> None:
        self._x, self._index = x, index
        self.shape = (len(index), *tuple(x.shape[1:]))
        self.dtype = x.dtype

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, item: Any) -> np.ndarray:
        return np.asarray(self._x[self._index[item]])


class FactorGroups:
    """For each factor, the pool items grouped by factor value, for O(1) "same value" draws."""

    def __init__(self, factors: np.ndarray) -> None:
        self.labels, self.order, self.starts, self.counts = [], [], [], []
        for column in np.asarray(factors).T:
            lab, n_values = labels(column)
            counts = np.bincount(lab, minlength=n_values)
            self.labels.append(lab)
            self.order.append(np.argsort(lab, kind="stable"))
            self.counts.append(counts)
            self.starts.append(np.concatenate([[0], np.cumsum(counts)[:-1]]))

    def same_value(self, factor: np.ndarray, anchors: np.ndarray, size: int,
                   rng: np.random.Generator) -> np.ndarray:
        """For each row r, ``size`` pool items (with replacement) sharing factor ``factor[r]`` with ``anchors[r]``.

        Returns an index array of shape ``(len(anchors), size)``.
        """
        out = np.empty((len(anchors), size), dtype=np.int64)
        for k in np.unique(factor):
            rows = np.flatnonzero(factor == k)
            group = self.labels[k][anchors[rows]]
            offset = (rng.random((len(rows), size)) * self.counts[k][group][:, None]).astype(np.int64)
            out[rows] = self.order[k][self.starts[k][group][:, None] + offset]
        return out
