"""Factor-controlled pairs ``(x, x')`` that differ by an intervention on one factor ``k``.

Semantics (``factor_pairs(ds, k, n=, seed=)``):

- **Base rows** ``x``: ``n`` rows of the dataset drawn by ``seed`` (without replacement when
  ``n <= len(ds)``, else with replacement); for a dataset name, the dataset is first loaded with
  ``load(name, n=n, seed=seed)`` so its rows are the bases.
- **New value** of ``k``: ``value`` when given (the same for every pair; must be admissible), else
  drawn by ``seed``: grid factors uniformly among the *other* grid values; SCM factors from the
  observational marginal of ``k`` (an independent draw; discrete factors among the other values).
- **Grid datasets** (every factor on a finite grid, independent factors, e.g. dSprites): ``x'`` is
  the grid point with only ``k``'s class changed (index arithmetic).  It is rendered when the
  dataset can render (procedural); otherwise it is looked up among the dataset's rows, and bases
  whose partner is absent are skipped.
- **SCM datasets**: ``x'`` is the counterfactual of ``x`` under ``do(k = value)``:
  ``hold="noise"`` (default) keeps every factor's exogenous noise (abducted exactly from the row),
  so descendants of ``k`` change as the equations dictate and non-descendants stay equal;
  ``hold="factors"`` keeps every other *factor* fixed (a controlled pair: only ``k`` differs).
  For grid datasets both coincide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.checks import do_values
from causalvae.data.dataset import FactorDataset
from causalvae.data.factor_grid import classes_of, grid_classes
from causalvae.data.scm import SCMSampler

HOLDS = ("noise", "factors")


@dataclass(frozen=True)
class FactorPairs:
    """``n`` pairs of observations that differ by an intervention on ``factor``.

    Attributes
    ----------
    factor : the intervened factor; ``factor_names`` the columns of the factor arrays.
    x, x_prime : n observations each (float32, the dataset's observation shape).
    factors, factors_prime : n x K factor values of ``x`` and ``x_prime``.
    rows : the dataset rows of ``x``.
    hold : "noise" (counterfactual, descendants respond) or "factors" (all other factors fixed).
    seed : the seed that drew the pairs.
    """

    factor: str
    factor_names: tuple[str, ...]
    x: np.ndarray
    x_prime: np.ndarray
    factors: np.ndarray
    factors_prime: np.ndarray
    rows: np.ndarray
    hold: str
    seed: int

    def __len__(self) -> int:
        return len(self.x)

    @property
    def factor_index(self) -> int:
        return self.factor_names.index(self.factor)

    @property
    def delta(self) -> np.ndarray:
        """Change of the intervened factor, ``factors_prime[:, k] - factors[:, k]``."""
        k = self.factor_index
        return self.factors_prime[:, k] - self.factors[:, k]


def factor_pairs(dataset: FactorDataset | str, factor: str, *, n: int = 256, seed: int = 0, value: float | None = None,
                 hold: str = "noise", **options: Any) -> FactorPairs:
    """Pairs ``(x, x')`` differing by ``do(factor = new value)``; semantics in the module doc.

    Parameters
    ----------
    dataset : a :class:`FactorDataset` or a dataset name (then ``options`` go to ``load``).
    factor : name of the factor to change.
    n : number of pairs.
    seed : draws base rows and new values.
    value : the new value of ``factor`` for every pair (None: drawn, always different from x's).
    hold : "noise" or "factors" (SCM datasets; see the module doc).

    Examples
    --------
    >>> p = factor_pairs("dsprites", "posX", n=4, seed=0)
    >>> p.x.shape, bool(np.all(p.delta != 0))
    ((4, 1, 64, 64), True)
    """
    n = check_int(n, name="n", minimum=1)
    if hold not in HOLDS:
        raise ValueError(f"hold must be one of {HOLDS}, got {hold!r}")
    if isinstance(dataset, str):
        from causalvae.data import load

        dataset = load(dataset, n=n, seed=seed, **options)
    elif options:
        raise TypeError(f"options {sorted(options)} only apply when the dataset is given by name")
    k = dataset.factor_index(factor)
    rng = np.random.default_rng(seed)
    if isinstance(dataset.intervene, SCMSampler):
        return _scm_pairs(dataset, factor, k, n, rng, value, hold, seed)
    if dataset.factor_values is not None and all(v is not None for v in dataset.factor_values):
        return _grid_pairs(dataset, factor, k, n, rng, value, hold, seed)
    raise ValueError(f"factor pairs need a grid dataset (every factor on a grid) or an SCM dataset; "
                     f"{dataset.name!r} is neither")


def _base_rows(dataset: FactorDataset, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(len(dataset), size=n, replace=n > len(dataset))


def _scm_pairs(ds: FactorDataset, factor: str, k: int, n: int, rng: np.random.Generator, value: float | None,
               hold: str, seed: int) -> FactorPairs:
    sampler: SCMSampler = ds.intervene
    rows = _base_rows(ds, n, rng)
    factors = ds.factors[rows]
    if value is not None:
        new = sampler.scm.check_do({factor: value}, n)[factor]
    elif ds.factor_values is not None and ds.factor_values[k] is not None:
        new = _other_grid_values(ds.factor_values[k], factors[:, k], rng)
    else:
        new = sampler.scm.sample(n, seed=rng)[:, k]
    if hold == "noise":
        factors_prime = sampler.scm.counterfactual(factors, {factor: new})
    else:
        sampler.scm.check_do({factor: new}, n)
        factors_prime = factors.copy()
        factors_prime[:, k] = new
    return FactorPairs(factor, ds.factor_names, ds.images(rows), sampler.observe(factors_prime), factors,
                       factors_prime, rows, hold, seed)


def _other_grid_values(grid: np.ndarray, current: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A value of ``grid`` per row, uniform among those different from ``current``."""
    if len(grid) < 2:
        raise ValueError(f"cannot change a factor with a single value {grid.tolist()}")
    cls = classes_of(current, grid, factor="current")
    shift = rng.integers(1, len(grid), size=len(cls))
    return grid[(cls + shift) % len(grid)]


def _grid_pairs(ds: FactorDataset, factor: str, k: int, n: int, rng: np.random.Generator, value: float | None,
                hold: str, seed: int) -> FactorPairs:
    grid = ds.factor_values[k]
    candidates = rng.permutation(len(ds))
    target = None if value is None else grid[classes_of(do_values(factor, value, 1), grid, factor=factor)[0]]
    if target is not None:
        candidates = candidates[~np.isclose(ds.factors[candidates, k], target, rtol=0, atol=1e-9)]
        if not candidates.size:
            raise ValueError(f"every row of {ds.name!r} already has {factor} = {value}; no pair can differ")
    observe = getattr(ds.intervene, "observe", None)
    if observe is not None:   # the dataset renders any grid point: partners always exist
        rows = candidates[:n] if candidates.size >= n else rng.choice(candidates, size=n)
        factors, factors_prime = _changed(ds.factors[rows], k, grid, target, rng)
        return FactorPairs(factor, ds.factor_names, ds.images(rows), observe(factors_prime), factors, factors_prime,
                           rows, hold, seed)
    factors, factors_prime = _changed(ds.factors[candidates], k, grid, target, rng)
    partner = _lookup_rows(ds, factors_prime)
    sel = np.flatnonzero(partner >= 0)[:n]
    if sel.size < n:
        raise ValueError(f"only {sel.size} rows of {ds.name!r} have a partner differing only in {factor!r} "
                         f"inside the dataset; need n={n} (load the full grid or the procedural dataset)")
    return FactorPairs(factor, ds.factor_names, ds.images(candidates[sel]), ds.images(partner[sel]), factors[sel],
                       factors_prime[sel], candidates[sel], hold, seed)


def _changed(factors: np.ndarray, k: int, grid: np.ndarray, target: float | None,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``factors`` and a copy with column ``k`` set to ``target`` (None: another grid value)."""
    prime = factors.copy()
    prime[:, k] = _other_grid_values(grid, factors[:, k], rng) if target is None else target
    return factors, prime


def _lookup_rows(ds: FactorDataset, factors: np.ndarray) -> np.ndarray:
    """Dataset row holding each factor row (-1 where the dataset lacks it)."""
    sizes = tuple(len(v) for v in ds.factor_values)

    def flat(f: np.ndarray) -> np.ndarray:
        return np.ravel_multi_index(tuple(grid_classes(f, ds.factor_values, ds.factor_names).T), sizes)

    own = flat(ds.factors)
    order = np.argsort(own, kind="stable")
    wanted = flat(factors)
    pos = np.clip(np.searchsorted(own[order], wanted), 0, len(own) - 1)
    return np.where(own[order][pos] == wanted, order[pos], -1)
