"""Structural causal models over factors: mechanisms, sampling, ``do(...)`` and counterfactuals.

Each factor ``v_j = m_j(parents_j, e_j)`` has its own exogenous noise ``e_j`` and a mechanism
that is invertible in the noise, so the noise of an observed row can be recovered exactly
(abduction) and counterfactuals are exact: ``counterfactual(v, do)`` keeps every factor's noise,
sets the intervened factors and recomputes their descendants; non-descendants are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.checks import describe_do, do_values, unknown_factor
from causalvae.data.dataset import FactorDataset
from causalvae.data.lazy import ObservedArray

ParentFunction = Callable[[np.ndarray], np.ndarray]   # (n, n_parents) -> (n,)


@dataclass(frozen=True)
class Linear:
    """``pa @ weights + bias``: a linear function of the parents."""

    weights: tuple[float, ...]
    bias: float = 0.0

    def __call__(self, pa: np.ndarray) -> np.ndarray:
        return pa @ np.asarray(self.weights, dtype=np.float64) + self.bias


@dataclass(frozen=True)
class Additive:
    """``v = f(parents) + noise_scale * e``, ``e ~ N(0, 1)``; ``f=None`` means 0 (a root)."""

    parents: tuple[str, ...] = ()
    f: ParentFunction | None = None
    noise_scale: float = 1.0
    kind = "continuous"

    def mean(self, pa: np.ndarray) -> np.ndarray:
        return np.zeros(len(pa)) if self.f is None else np.asarray(self.f(pa), dtype=np.float64)

    def sample_noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.standard_normal(n)

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return self.mean(pa) + self.noise_scale * noise

    def abduct(self, pa: np.ndarray, value: np.ndarray) -> np.ndarray:
        return (value - self.mean(pa)) / self.noise_scale

    def check(self, name: str, values: np.ndarray) -> None:
        if not np.all(np.isfinite(values)):
            raise ValueError(f"do({name}=...) must be finite, got {values[~np.isfinite(values)][:3]}")


@dataclass(frozen=True)
class Squashed(Additive):
    """``v = low + (high - low) * sigmoid(f(parents) + noise_scale * e)``: values in (low, high)."""

    low: float = 0.0
    high: float = 1.0

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) / (1.0 + np.exp(-super().__call__(pa, noise)))

    def abduct(self, pa: np.ndarray, value: np.ndarray) -> np.ndarray:
        p = (value - self.low) / (self.high - self.low)
        with np.errstate(divide="ignore"):
            return super().abduct(pa, np.log(p) - np.log1p(-p))

    def check(self, name: str, values: np.ndarray) -> None:
        _check_range(name, values, self.low, self.high)


@dataclass(frozen=True)
class BoundedAdditive(Additive):
    """``v = f(parents) + noise_scale * e`` with bounded noise ``e ~ U(-sqrt 3, sqrt 3)`` (mean 0, sd 1).

    ``[low, high]`` is the factor's declared range: ``do()`` values are checked against it, and
    sampled values stay inside it when ``f`` stays at least ``sqrt(3) * noise_scale`` inside it
    (the defining module's job).  Abduction is exact: ``e = (v - f(parents)) / noise_scale``.

    Examples
    --------
    >>> m = BoundedAdditive(("a",), Linear((2.0,)), 0.25, low=-5.0, high=5.0)
    >>> pa, e = np.array([[1.0]]), np.array([0.5])
    >>> v = m(pa, e)
    >>> float(v[0]), float(m.abduct(pa, v)[0])
    (2.125, 0.5)
    """

    low: float = -np.inf
    high: float = np.inf

    def sample_noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), n)

    def check(self, name: str, values: np.ndarray) -> None:
        super().check(name, values)
        _check_range(name, values, self.low, self.high)


@dataclass(frozen=True)
class Uniform:
    """A root ``v = low + (high - low) * u``, ``u ~ U(0, 1)``."""

    low: float = 0.0
    high: float = 1.0
    parents: tuple[str, ...] = ()
    kind = "continuous"

    def sample_noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.random(n)

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * noise

    def abduct(self, pa: np.ndarray, value: np.ndarray) -> np.ndarray:
        return (value - self.low) / (self.high - self.low)

    def check(self, name: str, values: np.ndarray) -> None:
        _check_range(name, values, self.low, self.high)


@dataclass(frozen=True)
class Categorical:
    """A discrete root taking ``values`` with probabilities ``probs`` (uniform when None)."""

    values: tuple[float, ...]
    probs: tuple[float, ...] | None = None
    parents: tuple[str, ...] = ()
    kind = "discrete"

    def sample_noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(len(self.values), size=n, p=self.probs).astype(np.float64)

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)[noise.astype(np.int64)]

    def abduct(self, pa: np.ndarray, value: np.ndarray) -> np.ndarray:
        self.check("value", value)
        return np.searchsorted(np.asarray(self.values), value).astype(np.float64)

    def check(self, name: str, values: np.ndarray) -> None:
        bad = ~np.isin(values, self.values)
        if np.any(bad):
            raise ValueError(f"do({name}=...) must be one of {list(self.values)}, got {values[bad][:3].tolist()}")


Mechanism = Additive | Uniform | Categorical


def _check_range(name: str, values: np.ndarray, low: float, high: float) -> None:
    bad = ~((values >= low) & (values <= high))
    if np.any(bad):
        raise ValueError(f"do({name}=...) must lie in [{low}, {high}], got {values[bad][:3].tolist()}")


@dataclass(frozen=True, eq=False)
class StructuralCausalModel:
    """Factors defined by mechanisms, in the order given (the dataset's column order).

    Examples
    --------
    >>> scm = StructuralCausalModel({"a": Additive(), "b": Additive(("a",), Linear((2.0,)), 0.1)})
    >>> v = scm.sample(4, seed=0)
    >>> bool(np.all(scm.counterfactual(v, {"a": 0.0})[:, 0] == 0.0))
    True
    """

    mechanisms: Mapping[str, Mechanism]
    order: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        graph = nx.DiGraph()
        graph.add_nodes_from(self.mechanisms)
        for name, mech in self.mechanisms.items():
            missing = [p for p in mech.parents if p not in self.mechanisms]
            if missing:
                raise ValueError(f"factor {name!r} has unknown parents {missing}; factors: {list(self.mechanisms)}")
            graph.add_edges_from((p, name) for p in mech.parents)
        if not nx.is_directed_acyclic_graph(graph):
            raise ValueError(f"the structural equations are cyclic: {nx.find_cycle(graph)}")
        object.__setattr__(self, "order", tuple(nx.lexicographical_topological_sort(graph)))

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self.mechanisms)

    @property
    def factor_kinds(self) -> tuple[str, ...]:
        return tuple(m.kind for m in self.mechanisms.values())

    def edges(self) -> list[tuple[str, str]]:
        return [(p, name) for name, m in self.mechanisms.items() for p in m.parents]

    def dag(self, name: str) -> nx.DiGraph:
        """The schema-valid factor DAG (kind "factor") of these equations."""
        from causalvae.data.factor_dags import factor_graph

        return factor_graph(name, self.factor_names, self.factor_kinds, self.edges())

    def check_do(self, do: Mapping[str, object], n: int) -> dict[str, np.ndarray]:
        """Validated intervention values (length ``n`` each); unknown or out-of-support values raise."""
        out = {}
        for name, value in do.items():
            if name not in self.mechanisms:
                raise unknown_factor(name, self.factor_names, where="do()")
            out[name] = do_values(name, value, n)
            self.mechanisms[name].check(name, out[name])
        return out

    def sample_noise(self, n: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
        """n x K exogenous noise, one column per factor."""
        rng = np.random.default_rng(seed)
        return np.stack([m.sample_noise(rng, n) for m in self.mechanisms.values()], axis=1)

    def solve(self, noise: np.ndarray, do: Mapping[str, object] | None = None) -> np.ndarray:
        """Factor values (n x K) from noise, with ``do`` factors set and their incoming edges cut."""
        fixed = self.check_do(do or {}, len(noise))
        col = {name: k for k, name in enumerate(self.factor_names)}
        out = np.empty(noise.shape, dtype=np.float64)
        for name in self.order:
            mech, k = self.mechanisms[name], col[name]
            out[:, k] = fixed[name] if name in fixed else mech(out[:, [col[p] for p in mech.parents]], noise[:, k])
        return out

    def abduct(self, factors: np.ndarray) -> np.ndarray:
        """The noise (n x K) that reproduces ``factors`` exactly."""
        factors = self._check_factors(factors)
        col = {name: k for k, name in enumerate(self.factor_names)}
        return np.stack([m.abduct(factors[:, [col[p] for p in m.parents]], factors[:, col[name]])
                         for name, m in self.mechanisms.items()], axis=1)

    def sample(self, n: int, *, seed: int | np.random.Generator = 0,
               do: Mapping[str, object] | None = None) -> np.ndarray:
        """n observational (or interventional, under ``do``) factor rows."""
        return self.solve(self.sample_noise(check_int(n, name="n", minimum=1), seed=seed), do)

    def counterfactual(self, factors: np.ndarray, do: Mapping[str, object]) -> np.ndarray:
        """``factors`` had ``do`` held: same noise, intervened factors set, descendants recomputed."""
        return self.solve(self.abduct(factors), do)

    def descendants(self, name: str) -> set[str]:
        if name not in self.mechanisms:
            raise unknown_factor(name, self.factor_names, where="the SCM")
        return nx.descendants(nx.DiGraph(self.edges()), name) if self.edges() else set()

    def _check_factors(self, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors, dtype=np.float64)
        if factors.ndim != 2 or factors.shape[1] != len(self.mechanisms):
            raise ValueError(f"factors must have shape (n, {len(self.mechanisms)}), got {factors.shape}")
        return factors


@dataclass(frozen=True, eq=False)
class SCMSampler:
    """A dataset generator: an SCM plus the map from factors to observations.

    ``sampler(n, do, seed)`` is the ``intervene`` of the datasets it makes; :meth:`observe` maps
    any factor rows to observations (used for counterfactual pairs).
    """

    name: str
    scm: StructuralCausalModel
    observe: Callable[[np.ndarray], np.ndarray]
    obs_shape: tuple[int, ...]
    factor_dag: nx.DiGraph
    factor_values: tuple[np.ndarray | None, ...] | None = None
    meta: Mapping[str, object] = field(default_factory=dict)

    def dataset(self, factors: np.ndarray, *, meta: Mapping[str, object] | None = None) -> FactorDataset:
        """A lazily observed dataset of the given factor rows."""
        return FactorDataset(
            name=self.name, x=ObservedArray(factors, self.observe, self.obs_shape), factors=factors,
            factor_names=self.scm.factor_names, factor_kinds=self.scm.factor_kinds, factor_dag=self.factor_dag.copy(),
            factor_values=self.factor_values, intervene=self, meta={**self.meta, **(meta or {})})

    def __call__(self, n: int, do: Mapping[str, object] | None = None, seed: int = 0) -> FactorDataset:
        """``n`` rows sampled by ``seed`` under ``do`` (observational when ``do`` is empty)."""
        factors = self.scm.sample(n, seed=seed, do=do)
        return self.dataset(factors, meta={"do": describe_do(do or {}), "seed": seed})
