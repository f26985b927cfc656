"""What each metric of ``metrics.json`` means: its direction (↑ higher is better, ↓ lower is better,
· descriptive) and a one-line definition, matched on the dotted key ``group.name``.  The
disentanglement suite's keys are described by their row of :data:`causalvae.metrics.suite_registry.SUITE`.

>>> describe("alignment.shd").direction
'↓'
>>> describe("disentanglement.dci.random-forest.disentanglement").direction
'↑'
>>> describe("something.new").definition
''
"""

from __future__ import annotations

import fnmatch
from typing import NamedTuple

from causalvae.metrics.suite_registry import HIGHER, LOWER, suite_metric_of


class MetricInfo(NamedTuple):
    direction: str
    definition: str


UP, DOWN, NEUTRAL = "↑", "↓", "·"
_ARROW = {HIGHER: UP, LOWER: DOWN}
_SHD = "Structural Hamming distance to the true DAG: missing, extra and reversed edges (0 = identical)."
#: (key pattern, direction, definition); the first matching pattern wins.
METRIC_INFO: tuple[tuple[str, str, str], ...] = (
    ("alignment.shd", DOWN, "SHD of the aligned (direct-interchange) factor graph to the true DAG; 0 = identical."),
    ("alignment.total.shd", DOWN, "SHD of the total-effect interchange graph to the DAG's transitive closure."),
    ("alignment.*shd", DOWN, _SHD),
    ("alignment.*precision", UP, "Share of the graph's directed edges that are in the reference graph."),
    ("alignment.*recall", UP, "Share of the reference graph's directed edges that the graph has."),
    ("alignment.*f1", UP, "Harmonic mean of directed-edge precision and recall."),
    ("alignment.*roc_auc", UP, "ROC-AUC of interchange effects as scores for the reference edges, over all thresholds."),
    ("alignment.iia_graded.*", UP, "Graded IIA: mean closeness of read-outs to the hypothesis' counterfactual "
                                   "(1 = exact), held-out pairs."),
    ("alignment.iia.*", UP, "Strict IIA: share of held-out (base, source) pairs whose usable read-outs match "
                            "the hypothesis' counterfactual within tolerance."),
    ("alignment.control.random_init.*", DOWN, "Control: best IIA of the same alignment on a randomly initialised "
                                              "network (near chance expected)."),
    ("alignment.control.random", DOWN, "Control: IIA of swaps along random subspaces of equal size."),
    ("alignment.control.no-swap", DOWN, "Control: IIA of predicting the base's own read-outs (no interchange)."),
    ("alignment.distinguishing", UP, "Share of pairs on which the hypotheses predict different counterfactuals."),
    ("alignment.threshold", NEUTRAL, "Edge threshold: the 95 % max-null of swapping the unaligned remainder "
                                     "(random latent subspaces, every aligned block clamped)."),
    ("alignment.readouts_usable", UP, "Factors whose read-out is good enough to score interchanges (status ok)."),
    ("alignment.readouts_used", UP, "Usable read-outs the network renders finely enough for strict IIA "
                                    "(match chance <= 0.5)."),
    ("alignment.dag_edges", NEUTRAL, "Edges of the dataset's factor DAG."),
    ("alignment.checked_edges", UP, "DAG edges some used read-out of a verifiable swap can see; the hypothesis "
                                    "'dag' holds these only."),
    ("alignment.g_star.*", NEUTRAL, "Edges of G*, the best-scoring hypothesis (empty when none is significant)."),
    ("discovery.shd_cpdag", DOWN, "SHD of the learned DAG to the true DAG's equivalence class (CPDAG)."),
    ("discovery.*shd", DOWN, "SHD of the factor DAG learned from data (pgmpy PC) to the true DAG."),
    ("discovery.*precision", UP, "Share of the learned DAG's edges (or skeleton edges) that are true."),
    ("discovery.*recall", UP, "Share of the true edges (or skeleton edges) that were learned."),
    ("discovery.f1", UP, "Harmonic mean of the learned DAG's edge precision and recall."),
    ("discovery.n_*", DOWN, "Learned-DAG edges of this kind of error."),
    ("ces.paper", NEUTRAL, "Causal effect strength (paper form): E‖D(z) − D(z̃_i)‖₂ over the do-grid, mean over latents."),
    ("ces.active_only", NEUTRAL, "CES averaged over active latents only (KL > 0.01 nats)."),
    ("ces.sqrt_p_normalised", NEUTRAL, "CES divided by √(output size): effect per output element."),
    ("ces.calibrated", NEUTRAL, "CES with do-values at quantiles of each latent's posterior marginal."),
    ("specificity.paper", UP, "Intervention specificity (paper): 1 / (entropy of the output-change map + 1e-6)."),
    ("specificity.bounded", UP, "1 − H(p_i)/log P: 1 when do(z_i) changes one output element, 0 when all alike."),
    ("specificity.factor_level", UP, "max_k B[i,k] / Σ_k B[i,k]: share of a latent's effect on its main factor."),
    ("circuit_modularity.*", UP, "1 − mean |corr| of the layer's changes under interventions on different latents."),
    ("circuit.*.faithfulness", UP, "Behaviour kept when everything outside the circuit is mean-ablated (1 = all)."),
    ("circuit.*.random_mean", DOWN, "Faithfulness of random circuits of the same size per site (baseline)."),
    ("circuit.*.size", DOWN, "Units in the minimal circuit reaching the target faithfulness."),
    ("circuit.*.cpr", UP, "Area under faithfulness over the normalised circuit size (CPR)."),
    ("disentanglement.*", NEUTRAL, "Bookkeeping of the disentanglement suite."),
    ("n_active_latents", UP, "Latents whose KL from the prior exceeds 0.01 nats (not collapsed)."),
    ("readout.*.r2", UP, "Held-out R² of the factor's read-out from a rendered image."),
    ("readout.*.accuracy", UP, "Held-out accuracy of the factor's read-out from a rendered image."),
    ("recon.baseline_*", NEUTRAL, "The same error of the best constant image (reference)."),
    ("recon.mse", DOWN, "Mean squared reconstruction error per element (analysis inputs)."),
    ("recon.nll", DOWN, "Reconstruction negative log-likelihood per image (nats)."),
    ("recon.n", NEUTRAL, "Analysis inputs the reconstruction metrics use."),
    ("train.seconds", DOWN, "Wall time of training."),
    ("unit_class.*", NEUTRAL, "Share of encoder units of this class (from their factor responses)."),
    ("unit_graph.edges", NEUTRAL, "Edges of the unit graph that pass the edge test."),
    ("unit_graph.max_block_density", DOWN, "Largest kept/tested edge share of a site block (near 1 = wiring)."),
)


def describe(key: str) -> MetricInfo:
    """Direction and definition of a metric key (``group.name``); · and an empty definition if unknown."""
    suite_row = suite_metric_of(key.removeprefix("disentanglement.")) if key.startswith("disentanglement.") else None
    if suite_row is not None:
        return MetricInfo(_ARROW.get(suite_row.direction, NEUTRAL),
                          suite_row.definition_of(key.removeprefix("disentanglement.")))
    for pattern, direction, definition in METRIC_INFO:
        if fnmatch.fnmatchcase(key, pattern):
            return MetricInfo(direction, definition)
    return MetricInfo(NEUTRAL, "")
