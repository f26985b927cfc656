"""Circuits of a factor's effect, found and verified by measured faithfulness (the torch-free half).

Definitions (DESIGN §5; the torch half, :mod:`causalvae.interventions.circuit_patching`, measures):

- **behaviour** ``m(S)``: the mean over factor pairs ``(x, x′_k)`` (oriented so that factor ``k``
  increases) of the directed change of the target — the aligned latents (encoder circuits) or the
  read-out of factor ``k`` on the decoded output (decoder circuits) — when every unit of the
  circuit's sites outside ``S`` is replaced by its value on one fixed reference distribution (the
  same values for ``x`` and ``x′``) and the units in ``S`` run as usual.  When every path to the
  target crosses the sites, ``m(∅) = 0`` exactly.
- **faithfulness** ``f(S) = (m(S) − m(∅)) / (m(all) − m(∅))``; ``f(all) = 1``.  Not clipped: a
  circuit that leaves out suppressive units has ``f > 1``.
- **discovery**: units ranked by their patching scores; ``f`` is measured on prefixes of the
  ranking at a geometric grid of sizes, the first size reaching the target is refined by bisection
  against its grid predecessor, and an optional ACDC-style backward pass drops units (weakest
  first) while ``f`` stays at or above the target.
- **curve**: ``f`` against the normalised prefix size ``k / n``; **CPR** = ∫ f dk and **CMD** =
  ∫ |1 − f| dk (trapezoid rule over the measured sizes; MIB, Mueller et al. 2025).
- **random baseline**: ``f`` of random circuits with the same number of units at every site.
- **status**: ``"found"``, or ``"not found"`` with the reason — the behaviour is not significantly
  above a minimal effect relative to the target's natural spread (:func:`behaviour_rule`), the
  read-out is too weak (held-out score below the caller's threshold), or the circuit is
  indistinguishable from random circuits of the same size (:func:`random_rule`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from causalvae.graph.schema import new_graph, validate
from causalvae.units import is_factor, parse_unit

#: ``evaluate(sets) -> m`` : the behaviour with only each set of units left un-ablated.
Evaluate = Callable[[Sequence[frozenset[str]]], np.ndarray]
PARTS = ("encoder", "decoder")
TABLE_COLUMNS = ["factor", "part", "status", "reason", "size", "n_units", "faithfulness", "random_mean",
                 "random_sd", "cpr", "cmd", "overlap", "overlap_with", "m_all", "m_empty", "p_value",
                 "screen_spearman"]


@dataclass(frozen=True)
class Curve:
    """Faithfulness of ranking prefixes: ``sizes`` (0 and ``n_units`` included) and ``faithfulness``.

    >>> c = Curve(np.array([0, 1, 2]), np.array([0.0, 1.0, 1.0]), 2)
    >>> c.cpr, c.cmd
    (0.75, 0.25)
    """

    sizes: np.ndarray
    faithfulness: np.ndarray
    n_units: int

    @property
    def cpr(self) -> float:
        """Area under f over the normalised size (higher is better)."""
        return float(np.trapezoid(self.faithfulness, self.sizes / self.n_units))

    @property
    def cmd(self) -> float:
        """Area under |1 − f| over the normalised size (0 is optimal)."""
        return float(np.trapezoid(np.abs(1.0 - self.faithfulness), self.sizes / self.n_units))


@dataclass(frozen=True)
class Search:
    """Outcome of :func:`search`: the circuit, its faithfulness and the prefix curve."""

    units: tuple[str, ...]
    faithfulness: float
    prefix_size: int
    curve: Curve
    m_empty: float
    m_all: float
    n_evaluations: int


def size_grid(n_units: int, *, points: int = 16) -> np.ndarray:
    """Prefix sizes ``0``, a geometric grid over ``1 .. n_units``, and ``n_units``.

    >>> size_grid(100, points=5).tolist()
    [0, 1, 3, 10, 32, 100]
    """
    if n_units < 1 or points < 2:
        raise ValueError(f"need n_units >= 1 and points >= 2, got n_units={n_units}, points={points}")
    grid = np.unique(np.round(np.geomspace(1, n_units, points)).astype(np.int64))
    return np.concatenate([[0], grid])


def search(ranking: Sequence[str], *, evaluate: Evaluate, target: float = 0.8, points: int = 12,
           prune: bool = True) -> Search:
    """The smallest ranking prefix with ``f >= target``, optionally pruned backwards (module docstring).

    Examples
    --------
    >>> carried = {"a": 0.7, "b": 0.25, "c": 0.05}
    >>> ev = lambda sets: np.array([sum(carried[u] for u in s) for s in sets])
    >>> s = search(["a", "b", "c"], evaluate=ev, target=0.9)
    >>> s.units, round(s.faithfulness, 2), s.curve.sizes.tolist()
    (('a', 'b'), 0.95, [0, 1, 2, 3])
    """
    if not 0 < target <= 1:
        raise ValueError(f"target faithfulness must lie in (0, 1], got {target}")
    ranking = list(ranking)
    if len(set(ranking)) != len(ranking) or not ranking:
        raise ValueError(f"ranking must be a non-empty list of distinct unit ids, got {len(ranking)} entries "
                         f"with {len(set(ranking))} distinct")
    sizes = size_grid(len(ranking), points=points)
    m = np.asarray(evaluate([frozenset(ranking[:k]) for k in sizes]), dtype=np.float64)
    m_empty, m_all = float(m[0]), float(m[-1])
    if not np.isfinite(m).all() or m_all == m_empty:
        raise ValueError(f"faithfulness is undefined: m(all)={m_all}, m(empty)={m_empty} (finite values with "
                         f"m(all) != m(empty) expected)")
    faith = lambda values: (np.asarray(values, dtype=np.float64) - m_empty) / (m_all - m_empty)  # noqa: E731
    measured = dict(zip(sizes.tolist(), faith(m).tolist()))
    n_eval = len(sizes)
    hit = next(i for i, k in enumerate(sizes) if measured[int(k)] >= target)
    lo, hi = int(sizes[hit - 1]), int(sizes[hit])
    while hi - lo > 1:  # invariant: f(lo) < target <= f(hi)
        mid = (lo + hi) // 2
        measured[mid] = float(faith(evaluate([frozenset(ranking[:mid])]))[0])
        n_eval += 1
        lo, hi = (lo, mid) if measured[mid] >= target else (mid, hi)
    units, f_circuit = ranking[:hi], measured[hi]
    if prune:
        for unit in reversed(ranking[:hi]):
            rest = [u for u in units if u != unit]
            f_rest = float(faith(evaluate([frozenset(rest)]))[0])
            n_eval += 1
            if rest and f_rest >= target:
                units, f_circuit = rest, f_rest
    order = sorted(measured)
    curve = Curve(np.array(order), np.array([measured[k] for k in order]), len(ranking))
    return Search(tuple(units), f_circuit, hi, curve, m_empty, m_all, n_eval)


def random_circuits(units_by_site: Mapping[str, Sequence[str]], circuit: Iterable[str], *, n: int = 20,
                    seed: int = 0) -> list[frozenset[str]]:
    """``n`` random unit sets with as many units at every site as ``circuit`` (seeded).

    >>> sets = random_circuits({"h": ["h[0]", "h[1]", "h[2]"]}, ["h[1]"], n=3, seed=0)
    >>> [len(s) for s in sets]
    [1, 1, 1]
    """
    circuit = set(circuit)
    rng = np.random.default_rng(seed)
    counts = {site: sum(u in circuit for u in units) for site, units in units_by_site.items()}
    unknown = circuit - {u for units in units_by_site.values() for u in units}
    if unknown:
        raise ValueError(f"circuit units {sorted(unknown)[:5]} are not units of the sites {list(units_by_site)}")
    return [frozenset(u for site, units in units_by_site.items()
                      for u in rng.choice(np.asarray(units, dtype=object), size=counts[site], replace=False))
            for _ in range(n)]


def random_rule(faithfulness: float, random: np.ndarray, *, alpha: float = 0.05) -> str:
    """Reason the circuit is indistinguishable from random circuits of its size, or ``""``.

    Rule: the empirical p-value ``(1 + #{random f >= f(C)}) / (1 + R)`` must be ``<= alpha``
    (with R = 20 draws and alpha = 0.05: no random circuit may reach the circuit's faithfulness).

    >>> random_rule(0.9, np.zeros(20))
    ''
    >>> random_rule(0.9, np.linspace(0.9, 1.0, 20))
    'indistinguishable from random circuits of the same size: f = 0.9, random 0.95 ± 0.031, p = 1'
    """
    random = np.asarray(random, dtype=np.float64)
    if random.size < 1:
        raise ValueError("the random baseline needs at least one draw")
    p = (1 + int((random >= faithfulness).sum())) / (1 + random.size)
    if p <= alpha:
        return ""
    return (f"indistinguishable from random circuits of the same size: f = {faithfulness:.3g}, random "
            f"{random.mean():.3g} ± {random.std(ddof=1) if random.size > 1 else 0.0:.2g}, p = {p:.2g}")


def behaviour_rule(effects: np.ndarray, *, spread: float, min_effect: float = 0.1, alpha: float = 0.05,
                   readout_score: float | None = None, min_readout_score: float | None = None) -> tuple[str, float]:
    """``(reason, p_value)``: why the behaviour is too weak to define a circuit (``""`` if it is not).

    ``effects`` holds the per-pair directed effects with every unit present (their mean is ``m(all)``);
    ``spread`` is the target's natural spread (its standard deviation over the reference batch).  The
    behaviour must exceed the minimal effect ``min_effect × spread``: a one-sided t-test of
    ``m(all) > min_effect × spread``, its p-value doubled because the direction was chosen from the same
    pairs (a constant effect gives p = 0 above the floor, 1 otherwise).  A read-out with
    ``readout_score < min_readout_score`` defines no circuit either.

    >>> behaviour_rule(np.zeros(8), spread=1.0)
    ('behaviour below the minimal effect: m(all) = 0 (0 of the target spread; minimal 0.1), p = 1', 1.0)
    >>> behaviour_rule(np.ones(8), spread=1.0, readout_score=0.002, min_readout_score=0.1)
    ('read-out too weak: held-out score 0.002 < 0.1', 0.0)
    """
    from scipy import stats

    d = np.asarray(effects, dtype=np.float64)
    if d.ndim != 1 or d.size < 2 or not np.isfinite(d).all():
        raise ValueError(f"effects must be a finite 1-d array of >= 2 pairs, got shape {d.shape}")
    if (readout_score is None) != (min_readout_score is None):
        raise ValueError("pass readout_score and min_readout_score together")
    floor, m = min_effect * spread, float(d.mean())
    se = d.std(ddof=1) / math.sqrt(d.size)
    p = (0.0 if m > floor else 1.0) if se == 0 else min(1.0, 2 * float(stats.t.sf((m - floor) / se, d.size - 1)))
    if readout_score is not None and not readout_score >= min_readout_score:
        return f"read-out too weak: held-out score {readout_score:.3g} < {min_readout_score:.3g}", p
    if not spread > 0:
        return f"the target does not vary over the reference batch (spread {spread:.3g})", p
    if not p < alpha:
        return (f"behaviour below the minimal effect: m(all) = {m:.3g} ({m / spread:.2g} of the target spread; "
                f"minimal {min_effect:.2g}), p = {p:.2g}"), p
    return "", p


@dataclass(frozen=True)
class CircuitResult:
    """One factor's encoder or decoder circuit, or why there is none (``reason``).

    ``scores`` has one row per candidate unit: ``unit, site, screen, exact_denoise, exact_noise,
    score`` (exact columns NaN where not verified).  ``graph`` (kind ``"circuit"``) holds the circuit
    units and the endpoints; a circuit that was not found keeps only the endpoints.
    """

    factor: str
    part: str
    reason: str
    units: tuple[str, ...]
    faithfulness: float
    random: np.ndarray
    curve: Curve | None
    m_all: float
    m_empty: float
    p_value: float
    n_units: int
    screen_spearman: float
    graph: nx.DiGraph
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def found(self) -> bool:
        return not self.reason

    @property
    def status(self) -> str:
        return "found" if self.found else f"not found ({self.reason})"

    @property
    def size(self) -> int:
        return len(self.units)

    @property
    def random_mean(self) -> float:
        return float(self.random.mean()) if self.random.size else math.nan

    @property
    def random_sd(self) -> float:
        return float(self.random.std(ddof=1)) if self.random.size > 1 else math.nan

    def row(self) -> dict[str, object]:
        """The table row (without the overlap columns, which need the other circuits)."""
        nan = math.nan
        return {"factor": self.factor, "part": self.part, "status": "found" if self.found else "not found",
                "reason": self.reason, "size": self.size, "n_units": self.n_units,
                "faithfulness": self.faithfulness, "random_mean": self.random_mean, "random_sd": self.random_sd,
                "cpr": self.curve.cpr if self.curve else nan, "cmd": self.curve.cmd if self.curve else nan,
                "m_all": self.m_all, "m_empty": self.m_empty, "p_value": self.p_value,
                "screen_spearman": self.screen_spearman}


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """``|A ∩ B| / |A ∪ B|`` (NaN for two empty sets).

    >>> jaccard({"u", "v"}, {"v", "w"})
    0.3333333333333333
    """
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else math.nan


def circuit_table(results: Sequence[CircuitResult]) -> pd.DataFrame:
    """One row per circuit (:data:`TABLE_COLUMNS`); ``overlap`` is the largest Jaccard overlap with a found
    circuit of another factor in the same part, ``overlap_with`` that factor (NaN / "" when none)."""
    rows = []
    for r in results:
        others = [(jaccard(r.units, o.units), o.factor) for o in results
                  if o.part == r.part and o.factor != r.factor and o.found]
        best = max(others, default=(math.nan, ""))
        rows.append({**r.row(), "overlap": best[0] if r.found else math.nan,
                     "overlap_with": best[1] if r.found else ""})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _node_attrs(node: str, layer: int) -> dict[str, object]:
    if is_factor(node):
        return {"site": "factor", "index": -1, "layer": layer, "role": "factor", "active": True}
    if node.startswith("readout."):
        return {"site": "readout", "index": -1, "layer": layer, "role": "readout", "active": True}
    site, index = parse_unit(node)
    role = "latent" if site.startswith("latent.") else "hidden"
    return {"site": site, "index": -1 if index is None else index, "layer": layer, "role": role, "active": True}


def circuit_graph(layers: Sequence[Sequence[str]], edges: Mapping[tuple[str, str], tuple[float, str]], *,
                  max_in_edges: int | None = None, **attrs: object) -> nx.DiGraph:
    """The circuit graph: ``layers`` of node ids (source endpoints, circuit units site by site, target
    endpoints) and ``edges`` ``{(u, v): (effect, intervention)}`` (``weight = |effect|``), validated.
    With ``max_in_edges`` each node keeps only its strongest incoming edges (by |effect|; ties by order).

    >>> G = circuit_graph([["factor.a"], ["h[1]", "h[2]"], ["latent.mu[0]"]],
    ...                   {("factor.a", "h[1]"): (2.0, "factor-pair"), ("h[1]", "latent.mu[0]"): (-0.5, "patch"),
    ...                    ("h[2]", "latent.mu[0]"): (0.1, "patch")}, max_in_edges=1)
    >>> sorted(G.edges(data="weight"))
    [('factor.a', 'h[1]', 2.0), ('h[1]', 'latent.mu[0]', 0.5)]
    """
    if max_in_edges is not None and max_in_edges < 1:
        raise ValueError(f"max_in_edges must be >= 1 or None, got {max_in_edges}")
    G = new_graph("circuit", **attrs)
    for layer, nodes in enumerate(layers):
        for node in nodes:
            G.add_node(node, **_node_attrs(node, layer))
    incoming: dict[str, list[tuple[float, str, str]]] = {}
    for (u, v), (effect, how) in edges.items():
        if u not in G or v not in G:
            raise ValueError(f"edge {u!r} -> {v!r} joins a node outside the circuit layers")
        incoming.setdefault(v, []).append((float(effect), how, u))
    for v, sources in incoming.items():
        kept = sorted(sources, key=lambda item: -abs(item[0]))[:max_in_edges]
        G.add_edges_from((u, v, {"effect": e, "weight": abs(e), "intervention": how, "statistic": "mean"})
                         for e, how, u in kept)
    return validate(G)
