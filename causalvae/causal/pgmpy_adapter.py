"""The one module that imports pgmpy (lazily): structure learning with ``pgmpy.causal_discovery``."""

from __future__ import annotations

import networkx as nx
import pandas as pd

METHODS = ("pc", "ges", "hill-climb")


def learn_structure(frame: pd.DataFrame, *, method: str, alpha: float, ci_test: str, score: str,
                    max_cond_vars: int) -> nx.DiGraph:
    """Run pgmpy's PC, GES or HillClimbSearch; undirected result edges become two opposite arcs.

    Parameters
    ----------
    frame : samples, one column per variable.
    method : ``"pc"``, ``"ges"`` or ``"hill-climb"``.
    alpha : significance level of PC's conditional-independence tests.
    ci_test : pgmpy CI test name for PC (``"pearsonr"`` for linear-Gaussian data).
    score : pgmpy structure score for GES / hill climbing (``"bic-g"`` for Gaussian data).
    max_cond_vars : largest conditioning set PC tests.
    """
    from pgmpy.causal_discovery import GES, PC, HillClimbSearch

    if method == "pc":
        estimator = PC(variant="stable", ci_test=ci_test, significance_level=alpha, max_cond_vars=max_cond_vars,
                       return_type="pdag", n_jobs=1, show_progress=False)
    elif method == "ges":
        estimator = GES(scoring_method=score, return_type="pdag")
    elif method == "hill-climb":
        estimator = HillClimbSearch(scoring_method=score, return_type="pdag", show_progress=False)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    learned = estimator.fit(frame).causal_graph_
    G = nx.DiGraph()
    G.add_nodes_from(frame.columns)
    G.add_edges_from(getattr(learned, "directed_edges", learned.edges()))
    for u, v in getattr(learned, "undirected_edges", ()):
        G.add_edges_from([(u, v), (v, u)])
    return G
