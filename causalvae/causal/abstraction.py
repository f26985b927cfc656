"""Causal abstraction (torch-free): high-level models over a dataset's factor SCM, their interchange
counterfactuals, interchange-intervention accuracy (IIA) and the best hypothesis G*.  The factor
graphs read from interchange effects are in :mod:`causalvae.causal.factor_graphs`.

**Hypotheses** are subgraphs G of the SCM's DAG: ∅, the DAG minus one edge (each edge), the DAG.
The interchange of factor k from a source s into a base b has, under G, the counterfactual

1. abduct the base's exogenous noises ``u = abduct(v_b)`` under the true SCM;
2. set ``v*_k = v_{s,k}`` (``do(V_k = v_{s,k})``);
3. visit the other factors in topological order: factor j is recomputed by its true mechanism
   ``f_j(pa*, u_j)`` when a parent along an edge *of G* has changed, where ``pa*`` takes the
   counterfactual value along G's edges and the base value along the SCM edges G lacks; otherwise
   ``v*_j = v_{b,j}``.

G = the DAG is ``StructuralCausalModel.counterfactual``; G = ∅ is the renderer (``v* = v_b`` with
``v_k`` swapped); deleting ``p -> j`` gives the path-specific counterfactual in which j does not
respond to p.  Edges the SCM does not have (added or reversed ones) are not hypotheses: there is no
mechanism to propagate along, and the only prediction writable without inventing one, "no change
along that edge", is the prediction of the subgraph without it.  Datasets without an SCM
(independent grid factors) have the one hypothesis ∅.

**IIA** of an interchange with network read-outs ``R`` (read from the decoded output) against
``v*``: strict ``1[∀j: |R_j - v*_j| <= τ_j]`` and graded ``1 - mean_j (R_j - v*_j)² / Var(V_j)``
over the usable read-outs j, averaged over held-out pairs, with percentile bootstrap CIs over pairs.
Pairs on which hypotheses disagree (some usable ``|v*_{G1,j} - v*_{G2,j}| > τ_j``) are the only ones
that separate hypotheses: their share and the IIA on them are reported.

**G*** is the hypothesis with the most edges among those whose IIA (pooled over the swaps of factors
with a usable read-out) is within ``slack`` of the best.  Hypotheses are nested and ∅ is realised
downstream of any implemented mechanism (swap a factor after its children were computed), so an edge
is claimed exactly when an interchange realises its propagation.  The family is built over the DAG's
:func:`checkable_edges` only, and G* ranges over the :func:`distinguishable` hypotheses, so an edge no
used read-out can see is never claimed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from causalvae.causal.stats import bootstrap_weights, percentile_interval

EMPTY, FULL = "empty", "dag"
Predictions = Mapping[str, Mapping[str, np.ndarray]]  # hypothesis -> factor -> (N, K)


@dataclass(frozen=True)
class Hypothesis:
    """A high-level model: a name and the SCM edges along which interchanges propagate."""

    name: str
    edges: frozenset[tuple[str, str]]


class HighLevelModel:
    """The factor SCM (or independent factors) whose subgraph hypotheses an alignment is scored against.

    Parameters
    ----------
    factor_names : the columns of every factor array.
    scm : a :class:`causalvae.data.scm.StructuralCausalModel` over these factors, or None for
        independent factors (then ∅ is the only hypothesis).

    Examples
    --------
    >>> from causalvae.data.scm import Additive, Linear, StructuralCausalModel
    >>> scm = StructuralCausalModel({"a": Additive(), "b": Additive(("a",), Linear((2.0,)), 1.0)})
    >>> hl = HighLevelModel(("a", "b"), scm)
    >>> [h.name for h in hl.hypotheses()]
    ['empty', 'dag']
    >>> base, source = np.array([[0.0, 0.5]]), np.array([[1.0, 9.0]])
    >>> hl.counterfactual(base, source, factor="a", hypothesis=hl.hypotheses()[1]).tolist()
    [[1.0, 2.5]]
    """

    def __init__(self, factor_names: Sequence[str], scm: object | None = None) -> None:
        self.factor_names = tuple(factor_names)
        self.scm = scm
        if scm is not None and tuple(scm.factor_names) != self.factor_names:
            raise ValueError(f"the SCM's factors {list(scm.factor_names)} must be factor_names "
                             f"{list(self.factor_names)} in the same order")
        self.dag = nx.DiGraph()
        self.dag.add_nodes_from(self.factor_names)
        self.dag.add_edges_from(scm.edges() if scm is not None else ())

    @classmethod
    def from_dataset(cls, dataset: object) -> "HighLevelModel":
        """The SCM of an SCM dataset; independent factors for a dataset whose factor DAG has no edges."""
        scm = getattr(dataset.intervene, "scm", None)
        if scm is None and dataset.factor_dag.number_of_edges():
            raise ValueError(f"dataset {dataset.name!r} has factor DAG edges but no SCM to propagate along")
        return cls(dataset.factor_names, scm)

    def hypotheses(self) -> tuple[Hypothesis, ...]:
        """∅, the DAG minus each edge (``"drop:u->v"``), the DAG; a one-edge DAG's deletion is ∅, kept once."""
        edges = sorted(self.dag.edges)
        out = [Hypothesis(EMPTY, frozenset())]
        if len(edges) > 1:
            out += [Hypothesis(f"drop:{u}->{v}", frozenset(edges) - {(u, v)}) for u, v in edges]
        if edges:
            out.append(Hypothesis(FULL, frozenset(edges)))
        return tuple(out)

    def restricted(self, edges: Iterable[tuple[str, str]]) -> "HighLevelModel":
        """The same SCM with hypotheses over ``edges`` (a subset of the DAG's) only: its ``dag`` is that
        subgraph, so ``"dag"`` names it and ``"drop:..."`` its single-edge deletions."""
        edges = set(edges)
        stray = sorted(edges - set(self.dag.edges))
        if stray:
            raise ValueError(f"edges {stray} are not in the DAG {sorted(self.dag.edges)}")
        out = copy.copy(self)
        out.dag = nx.DiGraph()
        out.dag.add_nodes_from(self.factor_names)
        out.dag.add_edges_from(sorted(edges))
        return out

    def counterfactual(self, base: np.ndarray, source: np.ndarray, *, factor: str,
                       hypothesis: Hypothesis) -> np.ndarray:
        """(N, K) factor values ``v*`` of the interchange of ``factor`` from ``source`` into ``base`` under
        ``hypothesis`` (definition in the module docstring)."""
        base, source = (np.asarray(a, dtype=np.float64) for a in (base, source))
        if base.ndim != 2 or base.shape != source.shape or base.shape[1] != len(self.factor_names):
            raise ValueError(f"base and source must both have shape (N, {len(self.factor_names)}), "
                             f"got {base.shape} and {source.shape}")
        if factor not in self.factor_names:
            raise KeyError(f"unknown factor {factor!r}; expected one of {list(self.factor_names)}")
        stray = sorted(set(hypothesis.edges) - set(self.dag.edges))
        if stray:
            raise ValueError(f"hypothesis {hypothesis.name!r} has edges {stray} the SCM has no mechanism for; "
                             f"hypotheses are subgraphs of {sorted(self.dag.edges)}")
        col = {name: j for j, name in enumerate(self.factor_names)}
        out = base.copy()
        out[:, col[factor]] = source[:, col[factor]]
        if self.scm is None or not hypothesis.edges:
            return out
        self.scm.check_do({factor: out[:, col[factor]]}, len(out))
        noise = self.scm.abduct(base)
        for name in self.scm.order:
            mech, j = self.scm.mechanisms[name], col[name]
            along = [(p, name) in hypothesis.edges for p in mech.parents]
            if name == factor or not any(along):
                continue
            pa = np.stack([out[:, col[p]] if a else base[:, col[p]] for p, a in zip(mech.parents, along)], axis=1)
            moved = np.any(pa != base[:, [col[p] for p in mech.parents]], axis=1)
            out[:, j] = np.where(moved, mech(pa, noise[:, j]), base[:, j])
        return out

    def targets(self, base: np.ndarray, source: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """``v*`` for every hypothesis and factor: ``{hypothesis: {factor: (N, K)}}``."""
        return {h.name: {k: self.counterfactual(base, source, factor=k, hypothesis=h) for k in self.factor_names}
                for h in self.hypotheses()}


def _readout_arrays(k: int, tolerance: np.ndarray, variance: np.ndarray,
                    usable: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tol, var = np.asarray(tolerance, dtype=np.float64), np.asarray(variance, dtype=np.float64)
    use = np.ones(k, dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    if tol.shape != (k,) or var.shape != (k,) or use.shape != (k,):
        raise ValueError(f"tolerance, variance and usable need shape ({k},), got {tol.shape}, {var.shape}, "
                         f"{use.shape}")
    if not use.any():
        raise ValueError("no usable read-out: every read-out is weak, leaks or unchecked (see FactorReadouts.scores)")
    if np.any(var[use] <= 0):
        raise ValueError(f"factor variances must be > 0, got {var.tolist()}")
    return tol, var, use


#: Strict IIA uses read-out j only if two independent draws of factor j match within its tolerance with at
#: most this probability (coarser, a prediction that ignores the counterfactual passes more often than not).
MAX_MATCH_CHANCE = 0.5


def match_chance(values: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """Per column j, ``P(|V_j - V'_j| <= τ_j)`` for two independent draws (without replacement) from the
    rows of ``values`` (N, K): the strict criterion's chance level for a prediction unrelated to the
    target (exact over all pairs, by sorting).

    >>> match_chance(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([1.0])).round(4).tolist()  # 3 of 6 pairs
    [0.5]
    """
    values, tol = np.asarray(values, dtype=np.float64), np.asarray(tolerance, dtype=np.float64)
    if values.ndim != 2 or len(values) < 2 or tol.shape != (values.shape[1],):
        raise ValueError(f"values must be (N >= 2, K) and tolerance (K,), got {values.shape} and {tol.shape}")
    n, out = len(values), np.empty(values.shape[1])
    for j in range(values.shape[1]):
        v = np.sort(values[:, j])
        within = np.searchsorted(v, v + tol[j], side="right") - np.arange(n) - 1  # partners above each value
        out[j] = within.sum() / (n * (n - 1) / 2)
    return out


def pair_scores(predicted: np.ndarray, target: np.ndarray, *, tolerance: np.ndarray, variance: np.ndarray,
                usable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: strict ``1[∀ usable j: |R_j - v*_j| <= τ_j]`` and graded ``1 - mean_j (R_j - v*_j)²/Var_j``.

    >>> s, g = pair_scores(np.array([[1.0, 2.0]]), np.array([[1.0, 2.5]]), tolerance=np.array([0.1, 0.1]),
    ...                    variance=np.array([1.0, 1.0]))
    >>> s.tolist(), g.tolist()
    ([0.0], [0.875])
    """
    predicted, target = np.asarray(predicted, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if predicted.shape != target.shape or predicted.ndim != 2:
        raise ValueError(f"predicted and target must share a shape (N, K), got {predicted.shape} and {target.shape}")
    tol, var, use = _readout_arrays(predicted.shape[1], tolerance, variance, usable)
    err = (predicted - target)[:, use]
    strict = np.all(np.abs(err) <= tol[use], axis=1).astype(np.float64)
    return strict, 1.0 - np.mean(err ** 2 / var[use], axis=1)


def disagreement(targets: Mapping[str, np.ndarray], *, tolerance: np.ndarray,
                 usable: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: pairs on which two hypotheses' ``v*`` differ by more than τ_j on a usable read-out j.

    >>> disagreement({"empty": np.array([[0.0, 1.0], [0.0, 1.0]]), "dag": np.array([[0.0, 1.05], [0.0, 2.0]])},
    ...              tolerance=np.array([0.1, 0.1])).tolist()
    [False, True]
    """
    arrays = np.stack([np.asarray(t, dtype=np.float64) for t in targets.values()])
    tol, _, use = _readout_arrays(arrays.shape[2], tolerance, np.ones(arrays.shape[2]), usable)
    spread = arrays.max(axis=0) - arrays.min(axis=0)
    return np.any(spread[:, use] > tol[use], axis=1)


def checkable_edges(hl: HighLevelModel, base: np.ndarray, source: np.ndarray, *, pooled: Sequence[str],
                   tolerance: np.ndarray, usable: np.ndarray | None = None) -> list[tuple[str, str]]:
    """The DAG's edges some ``pooled`` swap can see: ``e`` is checkable when the DAG and the DAG without ``e``
    predict counterfactuals that differ by more than τ on a usable read-out for some (base, source) pair.
    An edge into a factor without a usable read-out and with no read descendant is not.

    >>> from causalvae.data.scm import Additive, Linear, StructuralCausalModel
    >>> scm = StructuralCausalModel({"a": Additive(), "b": Additive(("a",), Linear((2.0,)), 1.0),
    ...                              "c": Additive(("a",), Linear((1.0,)), 1.0)})
    >>> hl, v = HighLevelModel(("a", "b", "c"), scm), scm.sample(50, seed=0)
    >>> checkable_edges(hl, v, v[::-1], pooled=["a"], tolerance=np.full(3, 0.1), usable=np.array([1, 1, 0], bool))
    [('a', 'b')]
    """
    full = Hypothesis(FULL, frozenset(hl.dag.edges))
    out = []
    for edge in sorted(hl.dag.edges):
        minus = Hypothesis(f"drop:{edge[0]}->{edge[1]}", full.edges - {edge})
        if any(disagreement({h.name: hl.counterfactual(base, source, factor=k, hypothesis=h) for h in (full, minus)},
                            tolerance=tolerance, usable=usable).any() for k in pooled):
            out.append(edge)
    return out


def distinguishable(hypotheses: Sequence[Hypothesis], targets: Predictions, *, pooled: Sequence[str],
                    tolerance: np.ndarray, usable: np.ndarray | None = None) -> list[Hypothesis]:
    """The hypotheses the ``pooled`` swaps can tell apart.  Hypotheses whose counterfactuals agree within τ
    on every pair and usable read-out of every pooled swap form a class; a class is represented by its
    member with the fewest edges (the others' extra edges change nothing a read-out sees, and G*'s
    preference for more edges must not claim them), and by none when several members share that fewest
    count (which of their edges holds cannot be told).  Order is kept.

    >>> a_b, a_c = Hypothesis("a->b", frozenset({("a", "b")})), Hypothesis("a->c", frozenset({("a", "c")}))
    >>> empty, both = Hypothesis("empty", frozenset()), Hypothesis("dag", a_b.edges | a_c.edges)
    >>> base = np.zeros((2, 3))
    >>> moves_b = base + [[0.0, 1.0, 0.0]]
    >>> targets = {"empty": {"a": base}, "a->b": {"a": moves_b}, "a->c": {"a": base + [[0.0, 0.0, 1.0]]},
    ...            "dag": {"a": base + [[0.0, 1.0, 1.0]]}}
    >>> [h.name for h in distinguishable([empty, a_b, a_c, both], targets, pooled=["a"], tolerance=np.full(3, 0.1),
    ...                                  usable=np.array([True, True, False]))]  # c is not read
    ['empty', 'a->b']
    >>> distinguishable([a_b, a_c, both], targets, pooled=["a"], tolerance=np.full(3, 0.1),
    ...                 usable=np.array([True, False, False]))  # a->b and a->c tie at one edge: neither is kept
    []
    """
    def same(h: Hypothesis, o: Hypothesis) -> bool:
        return not any(disagreement({"h": targets[h.name][k], "o": targets[o.name][k]}, tolerance=tolerance,
                                    usable=usable).any() for k in pooled)

    classes: list[list[Hypothesis]] = []
    for h in sorted(hypotheses, key=lambda h: len(h.edges)):
        members = next((c for c in classes if same(h, c[0])), None)
        if members is None:
            classes.append([h])
        else:
            members.append(h)
    kept = {c[0] for c in classes if len(c) == 1 or len(c[1].edges) > len(c[0].edges)}
    return [h for h in hypotheses if h in kept]


def _estimate(per_pair: np.ndarray, weights: np.ndarray, confidence: float) -> tuple[float, float, float]:
    low, high = percentile_interval(weights @ per_pair, confidence=confidence)
    return float(per_pair.mean()), float(low), float(high)


def iia_table(predicted: Predictions, targets: Predictions, *, tolerance: np.ndarray, variance: np.ndarray,
              usable: np.ndarray | None = None, pooled: Sequence[str] | None = None, n_boot: int = 1000,
              confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """IIA per hypothesis and factor, and pooled over factors (``factor == "all"``), with bootstrap CIs.

    Parameters
    ----------
    predicted : ``{hypothesis: {factor: (N, K)}}`` read-outs after interchanging the factor's aligned
        representation (the alignment may differ per hypothesis, e.g. DAS trained for it), for some or
        all hypotheses of ``targets``; pair i of every factor shares base and source, so the bootstrap
        resamples pairs.
    targets : ``{hypothesis: {factor: (N, K)}}`` counterfactuals (:meth:`HighLevelModel.targets`) of
        every hypothesis (the disagreement share is taken over all of them).
    tolerance, variance, usable : per read-out τ_j, Var(V_j) and whether it may be used.
    pooled : the factors whose swaps the ``all`` row pools (default: every factor).  Pool only factors
        with a usable read-out: without one, nothing checks that k was swapped at all, and a block that
        moves nothing scores 1 under ∅.

    Returns
    -------
    One row per (hypothesis, factor): ``n``, ``strict`` / ``graded`` with ``_low`` / ``_high`` bounds,
    ``distinguishing`` (share of pairs on which the hypotheses disagree) and ``strict_distinguishing``
    (strict IIA on those pairs; NaN without any).

    Examples
    --------
    >>> v = np.array([[0.0], [1.0], [2.0]])
    >>> t = iia_table({"empty": {"a": v}}, {"empty": {"a": v + [[0.0], [0.0], [1.0]]}}, tolerance=np.array([0.1]),
    ...               variance=np.array([1.0]), n_boot=50)
    >>> t.loc[t.factor == "a", ["strict", "graded"]].round(3).values.tolist()
    [[0.667, 0.667]]
    """
    unknown = sorted(set(predicted) - set(targets))
    if unknown or not predicted:
        raise KeyError(f"predictions for hypotheses {unknown or '(none)'} without targets; targets: {sorted(targets)}")
    factors = list(next(iter(targets.values())))
    pool = factors if pooled is None else list(pooled)
    if not pool or set(pool) - set(factors):
        raise ValueError(f"pooled must be a non-empty subset of the factors {factors}, got {pool}")
    n = len(next(iter(targets.values()))[factors[0]])
    weights = bootstrap_weights(n, n_boot=n_boot, seed=seed)
    split = {k: disagreement({h: targets[h][k] for h in targets}, tolerance=tolerance, usable=usable) for k in factors}
    split["all"] = np.mean([split[k] for k in pool], axis=0)
    rows = []
    for h in predicted:
        scores = {k: pair_scores(predicted[h][k], targets[h][k], tolerance=tolerance, variance=variance,
                                 usable=usable) for k in factors}
        scores["all"] = tuple(np.mean([scores[k][i] for k in pool], axis=0) for i in (0, 1))
        for k, (strict, graded) in scores.items():
            s, g, d = _estimate(strict, weights, confidence), _estimate(graded, weights, confidence), split[k]
            rows.append({"hypothesis": h, "factor": k, "n": n, "strict": s[0], "strict_low": s[1], "strict_high": s[2],
                         "graded": g[0], "graded_low": g[1], "graded_high": g[2], "distinguishing": d.mean(),
                         "strict_distinguishing": strict[d > 0].mean() if d.any() else np.nan})
    return pd.DataFrame(rows)


def best_hypothesis(table: pd.DataFrame, hypotheses: Sequence[Hypothesis], *, slack: float = 0.02,
                    chance: float = 0.0) -> str | None:
    """G*: most edges among the hypotheses whose pooled strict IIA is within ``slack`` of the best
    (ties: higher strict, then graded IIA); None when even the best is not above ``chance + slack``
    (e.g. the strict IIA of the no-swap or random-subspace controls): then no hypothesis is implemented;
    None too when no held-out pair tells the hypotheses apart (``distinguishing`` 0): a tie supports none."""
    pooled = table[table["factor"] == "all"].set_index("hypothesis")
    size = {h.name: len(h.edges) for h in hypotheses}
    unknown = sorted(set(pooled.index) - set(size))
    if unknown or pooled.empty:
        raise ValueError(f"table must hold pooled rows of the given hypotheses {sorted(size)}; "
                         f"got {sorted(pooled.index)}")
    undecided = "distinguishing" in pooled and not pooled["distinguishing"].max()
    if undecided or pooled["strict"].max() <= chance + slack:
        return None
    near = pooled[pooled["strict"] >= pooled["strict"].max() - slack]
    return max(near.index, key=lambda h: (size[h], near.loc[h, "strict"], near.loc[h, "graded"]))


def select(candidates: Mapping[str, np.ndarray | Mapping[str, np.ndarray]], targets: Mapping[str, np.ndarray], *,
           tolerance: np.ndarray, variance: np.ndarray, usable: np.ndarray | None = None) -> dict[str, str]:
    """Per factor, the candidate alignment with the highest strict (then graded) IIA against ``targets``.

    ``candidates`` maps a name to its read-outs, (N, K) for all factors alike (a coordinate swap does
    not depend on which factor it stands for) or ``{factor: (N, K)}``; use training pairs only.

    >>> target = {"a": np.array([[1.0, 0.0]]), "b": np.array([[0.0, 1.0]])}
    >>> select({"z0": np.array([[1.0, 0.0]]), "z1": np.array([[0.0, 1.0]])}, target,
    ...        tolerance=np.array([0.1, 0.1]), variance=np.ones(2))
    {'a': 'z0', 'b': 'z1'}
    """
    out = {}
    for k, target in targets.items():
        def score(name: str) -> tuple[float, float]:
            pred = candidates[name]
            strict, graded = pair_scores(pred if isinstance(pred, np.ndarray) else pred[k], target,
                                         tolerance=tolerance, variance=variance, usable=usable)
            return float(strict.mean()), float(graded.mean())
        out[k] = max(candidates, key=score)
    return out
