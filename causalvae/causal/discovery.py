"""Factor-DAG discovery (pgmpy behind an adapter) and data-driven d-separation checks.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> a = rng.normal(size=2000); b = rng.normal(size=2000); c = a + b + rng.normal(size=2000)
>>> G = learn_dag(pd.DataFrame({"a": a, "b": b, "c": c}), method="pc")
>>> sorted(G.edges())
[('a', 'c'), ('b', 'c')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from causalvae.argtypes import check_float
from causalvae.causal.dags import check_dag, local_markov_statements, orient_by_order
from causalvae.graph.schema import new_graph


def _check_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame with one column per variable, got {type(frame).__name__}")
    if frame.shape[1] < 2 or len(frame) < 10:
        raise ValueError(f"need at least 2 columns and 10 rows, got shape {frame.shape}")
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise ValueError(f"column names must be strings (they become node ids), got {bad}")
    values = frame.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        cols = list(frame.columns[~np.isfinite(values).all(axis=0)])
        raise ValueError(f"frame has NaN or infinite values in columns {cols}")
    return pd.DataFrame(values, columns=list(frame.columns))


def learn_dag(frame: pd.DataFrame, *, method: str = "pc", alpha: float = 0.01, ci_test: str = "pearsonr",
              score: str = "bic-g", max_cond_vars: int = 5,
              tiers: Sequence[Iterable[str]] | None = None) -> nx.DiGraph:
    """Learn a causal graph over the columns of ``frame`` with pgmpy.

    Parameters
    ----------
    frame : samples (factors, or factors plus learned latents), one column per variable.
    method : ``"pc"`` (constraint-based), ``"ges"`` or ``"hill-climb"`` (score-based).
    alpha : PC's significance level.
    ci_test, score : pgmpy CI test (PC) and structure score (GES / hill climbing); the defaults
        suit linear-Gaussian data.
    max_cond_vars : PC's largest conditioning set.
    tiers : optional background knowledge: groups of variables in causal order; undirected edges
        between tiers are oriented forwards, then Meek's rules propagate.

    Returns
    -------
    A ``kind="factor"`` graph; edges the data cannot orient (Markov-equivalent) are two opposite
    arcs with ``oriented=False``.  Compare with :func:`causalvae.causal.dags.cpdag` of a reference
    DAG, or pass ``tiers`` to orient them.
    """
    alpha = check_float(alpha, name="alpha", minimum=0, maximum=1, include_min=False, include_max=False)
    from causalvae.causal.pgmpy_adapter import learn_structure

    data = _check_frame(frame)
    learned = learn_structure(data, method=method, alpha=alpha, ci_test=ci_test, score=score,
                              max_cond_vars=max_cond_vars)
    if tiers is not None:
        learned = orient_by_order(learned, tiers)
    G = new_graph("factor", method=method)
    for node in data.columns:
        G.add_node(node, role="factor")
    for u, v in learned.edges():
        G.add_edge(u, v, oriented=not learned.has_edge(v, u))
    return G


def skeleton(values: np.ndarray, *, alpha: float = 0.01) -> np.ndarray:
    """The skeleton PC (Pearson partial correlations) finds on ``values`` (N x d, one column per variable),
    as a symmetric d x d 0/1 array with a zero diagonal: a candidate set of edges, e.g. for the SCM-layer
    VAE's ``A`` (:meth:`causalvae.models.scm_vae.SCMVAE.restrict_support`).  A dependence without linear
    correlation (``c = b²``) is invisible to these tests.

    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal(2000); b = a + rng.standard_normal(2000); c = rng.standard_normal(2000)
    >>> skeleton(np.stack([a, b, c], 1)).astype(int).tolist()
    [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be N x d (one column per variable), got shape {values.shape}")
    index = {f"v{j}": j for j in range(values.shape[1])}
    graph = learn_dag(pd.DataFrame(values, columns=list(index)), method="pc", alpha=alpha)
    adjacent = np.zeros((len(index),) * 2)
    for a, b in graph.edges:
        adjacent[index[a], index[b]] = adjacent[index[b], index[a]] = 1.0
    return adjacent


def _partial_correlation(data: np.ndarray, i: int, j: int, cond: Sequence[int]) -> float:
    cols = [i, j, *cond]
    precision = np.linalg.pinv(np.corrcoef(data[:, cols], rowvar=False))
    return float(-precision[0, 1] / np.sqrt(precision[0, 0] * precision[1, 1]))


def check_independencies(dag: nx.DiGraph, frame: pd.DataFrame, *, alpha: float = 0.01) -> pd.DataFrame:
    """Test every local-Markov d-separation ``x ⫫ y | parents(x)`` of ``dag`` on data (Fisher z).

    Returns one row per statement with the partial correlation, p-value and ``consistent`` (the data
    do not reject the independence at level ``alpha``).  Assumes roughly linear-Gaussian relations.
    """
    from scipy import stats

    check_dag(dag, name="dag")
    data = _check_frame(frame)
    missing = sorted(set(dag.nodes) - set(data.columns))
    if missing:
        raise KeyError(f"dag nodes {missing} are not columns of the frame; columns: {list(data.columns)}")
    index = {c: k for k, c in enumerate(data.columns)}
    values, n = data.to_numpy(), len(data)
    rows = []
    for x, y, parents in local_markov_statements(dag):
        r = np.clip(_partial_correlation(values, index[x], index[y], [index[p] for p in parents]), -0.999999, 0.999999)
        z = np.sqrt(max(n - len(parents) - 3, 1)) * np.arctanh(r)
        p = float(2 * stats.norm.sf(abs(z)))
        rows.append({"x": x, "y": y, "given": ",".join(parents), "partial_corr": r, "p_value": p,
                     "consistent": p > alpha})
    return pd.DataFrame(rows, columns=["x", "y", "given", "partial_corr", "p_value", "consistent"])
