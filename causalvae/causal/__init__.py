"""The causal layer (torch-free): mediation, factor-DAG discovery, the causal unit graph, alignment,
circuits, motifs, unit classes and factor read-outs.

Works on numpy arrays, pandas frames, networkx graphs and :class:`causalvae.effects.EffectMatrix`.
dowhy (:mod:`.dowhy_adapter`), pgmpy (:mod:`.pgmpy_adapter`) and scikit-learn are imported only
inside the functions that use them.
"""

from causalvae.causal.alignment import Alignment, align
from causalvae.causal.circuits import CircuitResult, circuit_table, search
from causalvae.causal.dags import (check_dag, compare_dags, cpdag, d_separated, edge_precision_recall,
                                   orient_by_order, shd)
from causalvae.causal.discovery import check_independencies, learn_dag
from causalvae.causal.dowhy_adapter import observational_mediation
from causalvae.causal.effect_graph import block_density, causal_unit_graph, entry_graph, readout_id
from causalvae.causal.mediation import compare_mediation, mediation, treatment_direction
from causalvae.causal.motifs import count_motifs, motifs
from causalvae.causal.readouts import FactorReadouts, fit_readouts, readouts
from causalvae.causal.stats import benjamini_hochberg, holm, minimal_effect_pvalues
from causalvae.causal.unit_classes import class_fractions, classify_units

__all__ = ["Alignment", "CircuitResult", "FactorReadouts", "align", "benjamini_hochberg", "causal_unit_graph", "check_dag",
           "check_independencies", "circuit_table", "class_fractions",
           "classify_units", "compare_dags", "compare_mediation", "count_motifs", "cpdag", "d_separated",
           "edge_precision_recall", "entry_graph", "fit_readouts", "learn_dag",
           "holm", "minimal_effect_pvalues", "mediation", "motifs", "observational_mediation", "orient_by_order",
           "readout_id", "readouts", "search", "shd", "treatment_direction", "block_density"]
