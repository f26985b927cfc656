"""``FactorDataset``: observations with known generative factors and their causal DAG."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import networkx as nx
import numpy as np

FACTOR_KINDS = ("discrete", "continuous")
MAX_DISCRETE_LEVELS = 64  # kinds=None: a factor with more distinct values is continuous


@runtime_checkable
class ArrayLike(Protocol):
    """What ``FactorDataset.x`` must offer: a NumPy array or a lazy array (rendered on access)."""

    shape: tuple[int, ...]
    dtype: Any

    def __len__(self) -> int: ...
    def __getitem__(self, index: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class FactorDataset:
    """Observations ``x`` with their generative factors.

    Attributes
    ----------
    name : dataset name as given to :func:`causalvae.data.load`.
    x : float32 observations, N x C x H x W (images) or N x D (tabular); may be lazy.
    factors : N x K float64 factor values.
    factor_names, factor_kinds : one entry per factor; kinds are "discrete" or "continuous".
    factor_dag : DAG over factor names (no edges when factors are independent).
    factor_values : per factor, the sorted grid of admissible values for discrete / grid factors
        (None for continuous factors without a grid).
    intervene : for generated datasets (SCMs, the procedural dSprites grid),
        ``intervene(n, do, seed) -> FactorDataset`` samples under ``do(factor=value, ...)``; its
        ``observe(factors)`` maps factor rows to observations.  None for datasets that can only be
        indexed (e.g. a file).
    meta : free-form description (source file, generator parameters, ...).
    """

    name: str
    x: ArrayLike
    factors: np.ndarray
    factor_names: tuple[str, ...]
    factor_kinds: tuple[str, ...]
    factor_dag: nx.DiGraph
    factor_values: tuple[np.ndarray | None, ...] | None = None
    intervene: Callable[..., "FactorDataset"] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        factors = np.asarray(self.factors, dtype=np.float64)
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "factor_names", tuple(self.factor_names))
        object.__setattr__(self, "factor_kinds", tuple(self.factor_kinds))
        n, k = len(self.x), len(self.factor_names)
        if factors.ndim != 2 or factors.shape != (n, k):
            raise ValueError(f"factors must have shape (N, K) = ({n}, {k}), got {factors.shape}")
        if len(self.factor_kinds) != k:
            raise ValueError(f"expected {k} factor_kinds, got {len(self.factor_kinds)}")
        bad = [kd for kd in self.factor_kinds if kd not in FACTOR_KINDS]
        if bad:
            raise ValueError(f"factor kinds must be one of {FACTOR_KINDS}, got {bad}")
        if len(set(self.factor_names)) != k:
            raise ValueError(f"factor names must be unique, got {self.factor_names}")
        if set(self.factor_dag.nodes) != set(self.factor_names):
            raise ValueError(f"factor_dag nodes {sorted(self.factor_dag.nodes)} must equal "
                             f"factor names {sorted(self.factor_names)}")
        if not nx.is_directed_acyclic_graph(self.factor_dag):
            raise ValueError(f"factor_dag of {self.name!r} has a cycle: {nx.find_cycle(self.factor_dag)}")
        if self.factor_values is not None and len(self.factor_values) != k:
            raise ValueError(f"expected {k} factor_values entries, got {len(self.factor_values)}")

    @classmethod
    def from_arrays(cls, x: Any, factors: Any, *, factor_names: Sequence[str], kinds: Sequence[str] | None = None,
                    factor_dag: nx.DiGraph | None = None, name: str = "arrays",
                    meta: dict[str, Any] | None = None) -> "FactorDataset":
        """A dataset from your own observations and factor values.

        Parameters
        ----------
        x : N observations, (N, C, H, W) or (N, D): a NumPy array, anything ``np.asarray`` reads (a
            CPU torch tensor, e.g. a ``TensorDataset``'s ``tensors[0]``) -- cast to float32 -- or a lazy
            array (one with ``select_rows``, kept lazy).
        factors : N x K factor values.
        factor_names : K unique names.
        kinds : K kinds, ``"discrete"`` or ``"continuous"``; None infers them: a factor is discrete
            when its values repeat and it takes at most :data:`MAX_DISCRETE_LEVELS` distinct values.
        factor_dag : DAG over the names (default: independent factors, no edges).
        name, meta : the dataset's name and free-form description.

        Discrete factors get their sorted distinct values as ``factor_values``: when every factor is
        discrete the dataset is a grid, and :func:`causalvae.data.factor_pairs` pairs rows that differ
        in one factor only (rows whose partner is absent are skipped).  Continuous factors have no
        grid, so factor pairs refuse such a dataset.

        Examples
        --------
        >>> ds = FactorDataset.from_arrays(np.zeros((4, 3)), [[0, 1], [0, 2], [1, 1], [1, 2]],
        ...                                factor_names=["shape", "size"])
        >>> ds.factor_kinds, [v.tolist() for v in ds.factor_values]
        (('discrete', 'discrete'), [[0.0, 1.0], [1.0, 2.0]])
        """
        values = np.asarray(factors, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(factor_names):
            raise ValueError(f"factors must be an N x K array with K = len(factor_names) = {len(factor_names)}, "
                             f"got shape {values.shape}")
        kinds = tuple(_infer_kind(column) for column in values.T) if kinds is None else tuple(kinds)
        grids = tuple(np.unique(column) if kind == "discrete" else None for column, kind in zip(values.T, kinds))
        dag = nx.DiGraph() if factor_dag is None else factor_dag.copy()
        dag.add_nodes_from(factor_names)
        obs = x if hasattr(x, "select_rows") else np.asarray(x, dtype=np.float32)
        return cls(name=name, x=obs, factors=values, factor_names=tuple(factor_names), factor_kinds=kinds,
                   factor_dag=dag, factor_values=grids, meta=dict(meta or {}))

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_factors(self) -> int:
        return len(self.factor_names)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation (C x H x W or D)."""
        return tuple(self.x.shape[1:])

    def factor_index(self, name: str) -> int:
        """Column of factor ``name``; a clear error lists the valid names."""
        try:
            return self.factor_names.index(name)
        except ValueError:
            raise KeyError(f"unknown factor {name!r} for dataset {self.name!r}; "
                           f"expected one of {list(self.factor_names)}") from None

    def images(self, indices: Sequence[int] | np.ndarray | slice | None = None) -> np.ndarray:
        """Materialise observations at ``indices`` (all when None) as a float32 array."""
        idx = slice(None) if indices is None else indices
        return np.asarray(self.x[idx], dtype=np.float32)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "FactorDataset":
        """The dataset restricted to ``indices``.

        Lazy observation arrays (offering ``select_rows``) stay lazy; others are materialised.
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"indices must lie in [0, {len(self)}), got range [{idx.min()}, {idx.max()}]")
        select_rows = getattr(self.x, "select_rows", None)
        return FactorDataset(
            name=self.name, x=self.images(idx) if select_rows is None else select_rows(idx), factors=self.factors[idx], factor_names=self.factor_names,
            factor_kinds=self.factor_kinds, factor_dag=self.factor_dag.copy(), factor_values=self.factor_values,
            intervene=self.intervene, meta=dict(self.meta))

    def frame(self) -> "pd.DataFrame":  # noqa: F821
        """Factor values as a DataFrame with one column per factor."""
        import pandas as pd

        return pd.DataFrame(self.factors, columns=list(self.factor_names))


def _infer_kind(column: np.ndarray) -> str:
    """``"discrete"`` when the values repeat and take at most :data:`MAX_DISCRETE_LEVELS` distinct values."""
    n_levels = len(np.unique(column))
    return "discrete" if n_levels < len(column) and n_levels <= MAX_DISCRETE_LEVELS else "continuous"
