"""Lazy observation arrays: rows are computed (rendered, mixed, converted) only when indexed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Rows computed per call of the row function (bounds temporaries; renders stay in cache).
CHUNK_ROWS = 256


class LazyRows:
    """Base class: an ``(N, *obs_shape)`` float32 array whose rows come from :meth:`_rows`.

    Supports ``len``, ``.shape``, ``.dtype``, ``np.asarray`` and indexing by int, slice, integer or
    boolean arrays, and tuples whose first entry is one of those (e.g. ``x[:8, 0]``).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, n_rows: int, obs_shape: tuple[int, ...]) -> None:
        self._n = int(n_rows)
        self.shape = (self._n, *obs_shape)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def select_rows(self, rows: np.ndarray) -> "LazyRows":
        """A lazy array of the given rows (used by ``FactorDataset.subset``)."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype=float32)"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, index: Any) -> np.ndarray:
        rest: tuple = ()
        if isinstance(index, tuple):
            index, rest = (index[0], index[1:]) if index else (slice(None), ())
        if isinstance(index, (int, np.integer)):
            row = self._check_rows(np.asarray([index], dtype=np.int64))
            out = self._compute(row)[0]
        else:
            out = self._compute(self._check_rows(self._row_array(index)))
            rest = (slice(None), *rest) if rest else ()
        return out[rest] if rest else out

    def _row_array(self, index: Any) -> np.ndarray:
        if isinstance(index, slice):
            return np.arange(self._n)[index]
        rows = np.asarray(index)
        if rows.dtype == bool:
            if rows.shape != (self._n,):
                raise IndexError(f"boolean index must have shape ({self._n},), got {rows.shape}")
            return np.flatnonzero(rows)
        if rows.ndim != 1 or not (rows.size == 0 or np.issubdtype(rows.dtype, np.integer)):
            raise IndexError(f"expected an int, slice, or 1-D integer/boolean array index, got {index!r}")
        return rows.astype(np.int64)

    def _check_rows(self, rows: np.ndarray) -> np.ndarray:
        if rows.size and (rows.min() < -self._n or rows.max() >= self._n):
            raise IndexError(f"row index out of range for {self._n} rows: [{rows.min()}, {rows.max()}]")
        return np.where(rows < 0, rows + self._n, rows)

    def _compute(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((rows.size, *self.shape[1:]), dtype=np.float32)
        for start in range(0, rows.size, CHUNK_ROWS):
            out[start:start + CHUNK_ROWS] = self._rows(rows[start:start + CHUNK_ROWS])
        return out


class ObservedArray(LazyRows):
    """Row ``i`` is ``observe(factors[i:i+1])[0]``: observations generated from factor values.

    Parameters
    ----------
    factors : N x K factor values (shared, not copied).
    observe : maps an n x K factor array to n observations (float32, shape ``(n, *obs_shape)``).
    obs_shape : shape of one observation.
    """

    def __init__(self, factors: np.ndarray, observe: Callable[[np.ndarray], np.ndarray],
                 obs_shape: tuple[int, ...]) -> None:
        super().__init__(len(factors), tuple(obs_shape))
        self.factors = factors
        self.observe = observe

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        return self.observe(self.factors[rows])

    def select_rows(self, rows: np.ndarray) -> "ObservedArray":
        return ObservedArray(self.factors[rows], self.observe, self.shape[1:])


class Uint8Images(LazyRows):
    """Images stored as uint8 ``(N, H, W)``, returned as float32 ``(n, 1, H, W)`` on access."""

    def __init__(self, images: np.ndarray) -> None:
        super().__init__(len(images), (1, *images.shape[1:]))
        self.images = images

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        return self.images[rows][:, None].astype(np.float32)

    def select_rows(self, rows: np.ndarray) -> "Uint8Images":
        return Uint8Images(self.images[rows])
