"""The alignment stage: causal abstraction of the model against the dataset's factor SCM, with its
controls, and factor-DAG discovery from the data (pgmpy).

Pairs (base, source) of dataset rows are split into a training half (coordinate choice, DAS) and a
held-out half (every reported number).  Alignments: latent coordinates at ``latent.mu`` (and, for an
SCM-layer VAE, at its mechanism sites ``decoder.scm.m<j>``; for a VQ-VAE, whole code positions)
chosen per hypothesis, and DAS at ``latent.mu`` trained for the two hypotheses that frame the
question, ∅ (a renderer) and the DAG (the mechanisms), to bound the time (one training each);
controls: random subspaces, the no-swap predictor and the same alignments on a randomly initialised
network of the same architecture.  Read-outs are the factorial ones of the ``readouts`` stage; only
those with status ``ok`` are scored, with the tolerance ``max(τ_j, q95 |R_j(x̂_b) - v_{b,j}|)``: a
read-out's own error on true renders, or the trained network's reconstruction error if larger (on
the training bases; one tolerance for every network scored), and only while two random draws of
the factor match within it at most half the time
(:func:`~causalvae.interventions.alignment_search.network_readouts`).  The aligned graph is the
direct-effect graph of the headline alignment (DAS under its G*, else coordinates), compared with
the DAG; the total-effect graph is compared with the DAG's transitive closure.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from causalvae.pipeline import latent_measures as lm
from causalvae.pipeline.context import RunContext
from causalvae.report.artifacts import ArtifactSpec

#: Adam steps, learning rate and pairs per step of each DAS training (∅ and the DAG, per network);
#: ``--quick`` runs take a third of the steps.
DAS_STEPS, DAS_LR, DAS_BATCH = 60, 0.05, 32
#: Random-subspace swaps behind the max-null edge threshold; bootstrap draws of the IIA CIs.
N_NULL, N_BOOT = 24, 500


def _pairs(ctx: RunContext) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(x_base, x_source, v_base, v_source) of a training and a held-out half, 2 * n_pairs pairs each."""
    ds, n = ctx.dataset, 2 * ctx.config.n_pairs
    rows = np.random.default_rng(ctx.config.seed + 2).choice(len(ds), size=4 * n, replace=4 * n > len(ds))
    halves = []
    for part in (rows[: 2 * n], rows[2 * n:]):
        b, s = part[:n], part[n:]
        halves.append((ds.images(b), ds.images(s), ds.factors[b], ds.factors[s]))
    return halves[0], halves[1]


def _random_init(ctx: RunContext):
    """A freshly initialised network of the trained model's architecture (a different weight seed)."""
    from causalvae.models.variants import build_vae

    return build_vae(ctx.model.config, seed=ctx.config.seed + 1).to(ctx.config.device).eval()


def _interchangers(ctx: RunContext, net, train, test, readout) -> list:
    from causalvae.interventions.interchange import Interchanger

    return [Interchanger(net, xb, xs, sites=lm.mechanism_sites(net), readout=readout, device=ctx.config.device)
            for xb, xs, _, _ in (train, test)]


def _abstraction(ctx: RunContext, ics, spec, hl, train, test):
    from causalvae.causal.abstraction import EMPTY, FULL
    from causalvae.interventions.alignment_search import search_alignments
    from causalvae.pipeline.latent_measures import declared_latent_site

    latent = declared_latent_site(ctx.model)
    das_site = None if lm.is_quantised(ctx.model) else latent  # codes: whole-position swaps only
    result = search_alignments(ics[0], ics[1], hl, train_factors=train[2:], test_factors=test[2:], readouts=spec,
                               coordinate_sites=[latent, *lm.mechanism_sites(ctx.model)], das_site=das_site,
                               das_hypotheses=[EMPTY, FULL],
                               das_steps=DAS_STEPS // 3 if ctx.config.quick else DAS_STEPS,
                               das_lr=DAS_LR, das_batch=DAS_BATCH, n_boot=N_BOOT, seed=ctx.config.seed)
    return result


#: What :func:`alignment` adds to the run folder (``factor_learned`` through :func:`discovery`).
ALIGNMENT_ARTIFACTS = (
    ArtifactSpec.graph("aligned", "Factor graph implemented by the network (aligned)", expected=True),
    ArtifactSpec.graph("factor_learned", "Factor DAG learned from the data (pgmpy PC)"),
    ArtifactSpec.table("alignment_iia", "Interchange-intervention accuracy per hypothesis",
                       "Strict and graded IIA of each alignment under each high-level hypothesis, trained network and "
                       "random-init control, with bootstrap 95 % CIs (held-out pairs).", expected=True),
    ArtifactSpec.table("alignment_readouts", "Read-out tolerances of the alignment",
                       "Tolerance within which a read-out counts as matching the hypothesis' counterfactual."),
    ArtifactSpec.table("alignment_total_effects", "Total effects of interchanges",
                       "Mean change of read-out j (column) when factor k's representation (row) is swapped."),
    ArtifactSpec.table("alignment_direct_effects", "Direct effects of interchanges",
                       "As the total effects, with the other aligned blocks clamped to the base input."),
)


def alignment(ctx: RunContext) -> None:
    """Factorial read-outs + causal abstraction: IIA per hypothesis, G*, interchange graphs, controls."""
    from causalvae.causal import abstraction as ab
    from causalvae.causal import factor_graphs as fg
    from causalvae.interventions.alignment_search import interchange_graphs, network_readouts
    from causalvae.interventions.interchange import torch_readout

    discovery(ctx)
    ds, r = ctx.dataset, ctx.readouts
    ctx.metric("alignment.readouts_usable", int(r.usable.sum()))
    if not r.usable.any():
        raise ValueError(f"no usable factor read-out (statuses {r.scores['status'].tolist()}); IIA is refused")
    hl = ab.HighLevelModel.from_dataset(ds)
    train, test = _pairs(ctx)
    readout = torch_readout(r.parameters(), ds.factor_names)
    ics = _interchangers(ctx, ctx.model, train, test, readout)
    # The trained network's own reconstructions miss v by more than a true render's read-out does:
    # an interchange is held to that same standard (one tolerance for every network scored).
    spec, ctx.tables["alignment_readouts"] = network_readouts(r, ics[0].base_readout, train[2],
                                                              np.concatenate([train[2], train[3]]))
    ctx.metric("alignment.readouts_used", int(spec.usable.sum()))
    if not spec.usable.any():  # a finding about the network (e.g. collapsed or barely trained), not a failure
        from causalvae.pipeline.runner import NotApplicable

        raise NotApplicable("the network renders no factor finely enough for strict IIA: its reconstructions miss "
                            "every usable factor by more than two random draws of it differ half the time "
                            f"(table alignment_readouts, match_chance > {ab.MAX_MATCH_CHANCE})")
    result, ic = _abstraction(ctx, ics, spec, hl, train, test), ics[1]
    control = _abstraction(ctx, _interchangers(ctx, _random_init(ctx), train, test, readout), spec, hl, train, test)
    ctx.tables["alignment_iia"] = pd.concat([result.table.assign(network="trained"),
                                             control.table.assign(network="random-init")], ignore_index=True)
    _iia_metrics(ctx, result, control)
    cls = "das" if result.g_star.get("das") else "coordinates"
    chosen = result.g_star.get(cls) or ab.EMPTY
    graphs = interchange_graphs(ic, result.blocks[cls][chosen], readouts=spec, n_null=N_NULL,
                                leakage=r.cross_talk, seed=ctx.config.seed)
    dag = hl.dag
    ctx.metric("alignment.threshold", graphs.threshold)
    for name, graph, delta, reference in (("total", graphs.total, graphs.total_effects, nx.transitive_closure_dag(dag)),
                                          ("direct", graphs.direct, graphs.direct_effects, dag)):
        for key, value in fg.graph_scores(graph, reference, delta, spec.usable).items():
            ctx.metric(f"alignment.{name}.{key}", value)
        ctx.tables[f"alignment_{name}_effects"] = delta.reset_index(names="swapped")
    for key in ("shd", "precision", "recall", "f1"):
        ctx.metric(f"alignment.{key}", ctx.metrics[f"alignment.direct.{key}"])
    ctx.graphs["aligned"] = fg.aligned_graph(graphs.direct, dag)
    ctx.folder.log(f"  alignment: G* {result.g_star} (random-init {control.g_star}); headline {cls} under "
                   f"{chosen}: direct graph {sorted(graphs.direct.edges)}, SHD {ctx.metrics['alignment.shd']:.0f}")


def _iia_metrics(ctx: RunContext, result, control) -> None:
    from causalvae.causal.abstraction import FULL

    pooled = result.table[result.table["factor"] == "all"]
    ctx.metric("alignment.distinguishing", pooled["distinguishing"].iloc[0])
    for row in pooled[pooled["alignment"].isin(["coordinates", "das"])].itertuples():
        ctx.metric(f"alignment.iia.{row.alignment}.{row.hypothesis}", row.strict, ci=(row.strict_low, row.strict_high))
        ctx.metric(f"alignment.iia_graded.{row.alignment}.{row.hypothesis}", row.graded,
                   ci=(row.graded_low, row.graded_high))
    for name in ("random", "no-swap"):
        ctx.metric(f"alignment.control.{name}", pooled[pooled["alignment"] == name]["strict"].max())
    other = control.table[control.table["factor"] == "all"]
    for name in ("coordinates", "das"):
        ctx.metric(f"alignment.control.random_init.{name}", other[other["alignment"] == name]["strict"].max())
    sizes = {h.name: len(h.edges) for h in result.hypotheses}
    ctx.metric("alignment.dag_edges", ctx.dataset.factor_dag.number_of_edges())
    ctx.metric("alignment.checked_edges", sizes.get(FULL, 0))
    for cls, g in result.g_star.items():
        ctx.metric(f"alignment.g_star.{cls}.n_edges", sizes[g] if g is not None else float("nan"))


def discovery(ctx: RunContext) -> None:
    """The factor DAG learned from the data by PC, scored against the true DAG and its CPDAG."""
    from causalvae import causal
    from causalvae.data.factor_dags import factor_graph

    ds = ctx.dataset
    learned = causal.learn_dag(ds.frame().iloc[: min(len(ds), 5000)], method="pc")
    ctx.graphs["factor_learned"] = factor_graph(ds.name, ds.factor_names, ds.factor_kinds, learned.edges,
                                               acyclic=False)  # PC output: a CPDAG
    for key, value in causal.compare_dags(learned, ds.factor_dag).items():
        ctx.metric(f"discovery.{key}", value)
    # Data cannot orient every edge: also score against the true DAG's equivalence class (CPDAG).
    ctx.metric("discovery.shd_cpdag", causal.shd(learned, causal.cpdag(ds.factor_dag)))
