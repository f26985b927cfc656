"""The one module that imports dowhy (lazily): observational mediation estimates for comparison.

The factor DAG is extended by the mediator and the outcome: the treatment factor points to both,
the mediator points to the outcome, and every other factor that is not a descendant of the
treatment points to both (a possible common cause; the network sees every factor).  Descendant
factors of the treatment are left out, so their contribution counts as part of the treatment's
effect, as under ``do(treatment)``.  dowhy identifies the NIE / NDE (``nonparametric-nie`` /
``nonparametric-nde``) and estimates them by two-stage linear regression, for one mediator column
at a time (dowhy supports single-variable mediators only).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import networkx as nx
import pandas as pd

from causalvae.causal.dags import check_dag

_ESTIMAND_TYPES = {"NIE": "nonparametric-nie", "NDE": "nonparametric-nde"}


def _mediation_graph(dag: nx.DiGraph, treatment: str, mediator: str, outcome: str) -> nx.DiGraph:
    G = dag.subgraph(set(dag) - nx.descendants(dag, treatment)).copy()
    G.add_edges_from([(treatment, mediator), (treatment, outcome), (mediator, outcome)])
    for factor in set(G) - {treatment, mediator, outcome}:
        G.add_edges_from([(factor, mediator), (factor, outcome)])
    return G


def observational_mediation(frame: pd.DataFrame, *, dag: nx.DiGraph, treatment: str, mediators: Sequence[str],
                            outcome: str, control_value: float = 0.0,
                            treatment_value: float = 1.0) -> pd.DataFrame:
    """dowhy's TE, NIE, NDE and mediated fraction for each mediator column, for a treatment change.

    Parameters
    ----------
    frame : observational samples; columns for the factors of ``dag``, the mediators and the outcome.
    dag : DAG over factor names (the dataset's ``factor_dag``).
    treatment : factor name whose change is the treatment.
    mediators : mediator column names, each analysed on its own.
    outcome : outcome column name.
    control_value, treatment_value : the treatment change ``x -> x'`` (linear estimators scale with it).

    Returns
    -------
    A long frame like :func:`causalvae.causal.mediation.mediation` (``mediator, outcome, estimand,
    estimate``) with ``method = "dowhy"``; TE = NIE + NDE.
    """
    from dowhy import CausalModel
    from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator

    check_dag(dag, name="factor DAG")
    needed = {treatment, outcome, *mediators, *dag.nodes}
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise KeyError(f"columns {missing} are missing from the frame; columns: {list(frame.columns)}")
    if treatment not in dag:
        raise KeyError(f"treatment {treatment!r} is not a factor of the DAG; factors: {sorted(dag.nodes)}")
    clash = sorted(({outcome, *mediators}) & set(dag.nodes))
    if clash:
        raise ValueError(f"mediators / outcome must not be factors of the DAG, got {clash}")
    stages = {"init_params": {"first_stage_model": LinearRegressionEstimator,
                              "second_stage_model": LinearRegressionEstimator}}
    rows = []
    for mediator in mediators:
        graph = _mediation_graph(dag, treatment, mediator, outcome)
        data = frame[list(graph.nodes)]
        estimates = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dowhy warns about its own defaults on every call
            model = CausalModel(data=data, treatment=treatment, outcome=outcome, graph=graph)
            for estimand, kind in _ESTIMAND_TYPES.items():
                identified = model.identify_effect(estimand_type=kind)
                if list(identified.mediator_variables) != [mediator]:
                    raise ValueError(f"dowhy identified mediator {identified.mediator_variables}, "
                                     f"expected [{mediator!r}]")
                result = model.estimate_effect(identified, method_name="mediation.two_stage_regression",
                                               control_value=control_value, treatment_value=treatment_value,
                                               method_params=stages)
                estimates[estimand] = float(result.value)
        estimates["TE"] = estimates["NIE"] + estimates["NDE"]
        estimates["fraction"] = estimates["NIE"] / estimates["TE"] if estimates["TE"] != 0 else float("nan")
        rows += [{"mediator": mediator, "outcome": outcome, "estimand": k, "estimate": v, "method": "dowhy"}
                 for k, v in estimates.items()]
    return pd.DataFrame(rows, columns=["mediator", "outcome", "estimand", "estimate", "method"])
