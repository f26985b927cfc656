"""The causal layer (torch-free): mediation, factor-DAG discovery, the causal unit graph, causal
abstraction (alignment), circuits, motifs, unit classes and factor read-outs.

Works on numpy arrays, pandas frames, networkx graphs and :class:`causalvae.effects.EffectMatrix`.
dowhy (:mod:`.dowhy_adapter`), pgmpy (:mod:`.pgmpy_adapter`) and scikit-learn are imported only
inside the functions that use them.
"""

from causalvae.causal.abstraction import HighLevelModel, Hypothesis, best_hypothesis, iia_table
from causalvae.causal.circuits import CircuitResult, circuit_table, search
from causalvae.causal.dags import (check_dag, classify_edges, compare_dags, cpdag, d_separated,
                                   edge_precision_recall, edge_roc_auc, orient_by_order, shd)
from causalvae.causal.discovery import check_independencies, learn_dag
from causalvae.causal.dowhy_adapter import observational_mediation
from causalvae.causal.effect_graph import block_density, causal_unit_graph, entry_graph, readout_id
from causalvae.causal.mediation import compare_mediation, mediation, treatment_direction
from causalvae.causal.motifs import count_motifs, motifs
from causalvae.causal.readouts import FactorReadouts, cross_talk, factorial_sample, fit_readouts, readouts
from causalvae.causal.stats import benjamini_hochberg, holm, minimal_effect_pvalues
from causalvae.causal.unit_classes import class_fractions, classify_units

__all__ = ["CircuitResult", "FactorReadouts", "HighLevelModel", "Hypothesis", "best_hypothesis", "benjamini_hochberg", "causal_unit_graph", "check_dag",
           "check_independencies", "circuit_table", "class_fractions",
           "classify_edges", "classify_units", "compare_dags", "cross_talk", "compare_mediation", "count_motifs", "cpdag", "d_separated",
           "edge_precision_recall", "edge_roc_auc", "entry_graph", "factorial_sample", "fit_readouts", "iia_table", "learn_dag",
           "holm", "minimal_effect_pvalues", "mediation", "motifs", "observational_mediation", "orient_by_order",
           "readout_id", "readouts", "search", "shd", "treatment_direction", "block_density"]
