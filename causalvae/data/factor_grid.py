"""Factor grids (every combination of a few values per factor, like dSprites) and sampling on them.

Rows of a grid dataset are addressed by a flat index: the factor classes in row-major (C) order,
the last factor varying fastest, which is the official dSprites order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.checks import describe_do, do_values, unknown_factor
from causalvae.data.dataset import FactorDataset
from causalvae.data.lazy import ObservedArray

_ATOL = 1e-6


def classes_of(values: np.ndarray, grid: np.ndarray, *, factor: str) -> np.ndarray:
    """Class index of each value on the sorted ``grid``; values off the grid are an error."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"factor {factor!r}: values must be finite, got {values[~np.isfinite(values)][:3]}")
    pos = np.clip(np.searchsorted(grid, values), 1, len(grid) - 1) if len(grid) > 1 else np.zeros(values.shape, int)
    if len(grid) > 1:
        pos = np.where(np.abs(grid[pos - 1] - values) <= np.abs(grid[pos] - values), pos - 1, pos)
    off = np.abs(grid[pos] - values) > _ATOL
    if np.any(off):
        bad = values[off][:3].tolist()
        raise ValueError(f"factor {factor!r}: values {bad} are not on its grid; expected one of "
                         f"{np.round(grid, 6).tolist()} (range [{grid[0]:.6g}, {grid[-1]:.6g}])")
    return pos.astype(np.int64)


def grid_classes(factors: np.ndarray, factor_values: tuple[np.ndarray, ...],
                 factor_names: tuple[str, ...]) -> np.ndarray:
    """n x K class indices of the rows of an n x K factor array."""
    factors = np.asarray(factors, dtype=np.float64)
    return np.stack([classes_of(factors[:, k], factor_values[k], factor=name)
                     for k, name in enumerate(factor_names)], axis=1).reshape(len(factors), len(factor_names))


@dataclass(frozen=True, eq=False)
class GridSampler:
    """Samples a grid dataset uniformly, optionally under ``do(factor=value)``.

    Grid factors are independent, so ``do`` equals conditioning: the intervened factors are set,
    the others drawn uniformly from their grids.  Also the dataset's generator:
    :meth:`observe` renders observations for any factor values on the grid.

    Attributes
    ----------
    name, factor_names, factor_kinds, factor_values, factor_dag : as in :class:`FactorDataset`.
    observe : maps n x K factor values to n observations.
    obs_shape : shape of one observation.
    meta : copied into each sampled dataset's ``meta``.
    """

    name: str
    factor_names: tuple[str, ...]
    factor_kinds: tuple[str, ...]
    factor_values: tuple[np.ndarray, ...]
    factor_dag: nx.DiGraph
    observe: Callable[[np.ndarray], np.ndarray]
    obs_shape: tuple[int, ...]
    meta: Mapping[str, object]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.factor_values)

    @property
    def n_grid(self) -> int:
        return int(np.prod(self.sizes))

    def index_to_factors(self, indices: np.ndarray) -> np.ndarray:
        """Factor values (n x K) of flat grid indices."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_grid):
            raise IndexError(f"grid indices must lie in [0, {self.n_grid}), got [{indices.min()}, {indices.max()}]")
        classes = np.unravel_index(indices, self.sizes)
        return np.stack([vals[c] for vals, c in zip(self.factor_values, classes)], axis=1).reshape(-1, len(self.sizes))

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        """Flat grid indices of n x K factor values (values must lie on the grid)."""
        classes = grid_classes(factors, self.factor_values, self.factor_names)
        return np.ravel_multi_index(tuple(classes.T), self.sizes).astype(np.int64)

    def dataset(self, indices: np.ndarray, *, meta: Mapping[str, object] | None = None) -> FactorDataset:
        """The grid rows ``indices`` as a lazily rendered :class:`FactorDataset`."""
        factors = self.index_to_factors(indices)
        return FactorDataset(
            name=self.name, x=ObservedArray(factors, self.observe, self.obs_shape), factors=factors,
            factor_names=self.factor_names, factor_kinds=self.factor_kinds, factor_dag=self.factor_dag.copy(),
            factor_values=self.factor_values, intervene=self, meta={**self.meta, **(meta or {})})

    def __call__(self, n: int, do: Mapping[str, object] | None = None, seed: int = 0) -> FactorDataset:
        """``n`` grid points drawn uniformly (with replacement) under ``do``; see the class doc."""
        n = check_int(n, name="n", minimum=1)
        fixed = self.check_do(do or {}, n)
        rng = np.random.default_rng(seed)
        classes = [fixed[name] if name in fixed else rng.integers(0, size, n)
                   for name, size in zip(self.factor_names, self.sizes)]
        indices = np.ravel_multi_index(tuple(classes), self.sizes).astype(np.int64)
        return self.dataset(indices, meta={"do": describe_do(do or {}), "seed": seed})

    def check_do(self, do: Mapping[str, object], n: int) -> dict[str, np.ndarray]:
        """Class indices (length ``n``) of each intervened factor; unknown or off-grid values raise."""
        out = {}
        for name, value in do.items():
            if name not in self.factor_names:
                raise unknown_factor(name, self.factor_names, where="do()")
            k = self.factor_names.index(name)
            out[name] = classes_of(do_values(name, value, n), self.factor_values[k], factor=name)
        return out

