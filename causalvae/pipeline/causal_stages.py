"""Causal-analysis stages: unit graph, mediation, circuits, motifs, unit classes (alignment and discovery:
:mod:`causalvae.pipeline.alignment_stages`)."""

from __future__ import annotations


import numpy as np

from causalvae.pipeline.context import RunContext
from causalvae.pipeline import latent_measures as lm
from causalvae.report.artifacts import ArtifactSpec
from causalvae.units import unit_id

#: Matrices whose significant entries become the unit graph's edges: factor -> encoder units and latents,
#: encoder unit -> next encoder site (-> latent means), latent -> decoder units -> next decoder site, and
#: last decoder units -> read-outs of the decoded output.
UNIT_GRAPH_MATRICES = ("factor_unit", "factor_latent", "unit_edges", "decoder_edges", "decoder_readout")
#: An edge must change its target by at least this fraction of the target's spread over the data.
MIN_EFFECT = 0.1


#: What :func:`unit_graph` adds to the run folder.
UNIT_GRAPH_ARTIFACTS = (
    ArtifactSpec.graph("unit", "Unit-level causal graph", expected=True),
    ArtifactSpec.table("unit_graph_blocks", "Unit-graph density per block",
                       "Kept edges over tested unit pairs for each (source site, target site) block; a density near 1 "
                       "would be the network's wiring, not its effects.", sort_by=("density",)),
)


def unit_graph(ctx: RunContext) -> None:
    from causalvae import causal

    matrices = [ctx.effects[name] for name in UNIT_GRAPH_MATRICES if name in ctx.effects]
    spread = {**ctx.spread.values, **{causal.readout_id(f): float(sd)
                                      for f, sd in zip(ctx.dataset.factor_names, ctx.readouts.factor_std)}}
    G = causal.causal_unit_graph(matrices, stages={s.name: s.stage for s in ctx.model.sites}, spread=spread,
                                 min_effect=MIN_EFFECT, alpha=0.05, error="fdr")
    ctx.graphs["unit"] = G
    blocks = causal.block_density(G, matrices)
    ctx.tables["unit_graph_blocks"] = blocks
    ctx.metric("unit_graph.edges", G.number_of_edges())
    ctx.metric("unit_graph.max_block_density", blocks["density"].max())
    ctx.folder.log(f"  unit graph: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges of "
                   f"{G.graph['n_tested']} tested pairs (min effect {MIN_EFFECT} sd, FDR 0.05); "
                   f"densest block {blocks['density'].max():.2f}")


def _predicted_factors(ctx: RunContext, output: np.ndarray) -> np.ndarray:
    """Read-out predictions (N, K) from flattened decoder outputs (logits for Bernoulli models)."""
    out = output.reshape((-1, *ctx.dataset.obs_shape))
    if ctx.model.config.likelihood == "bernoulli":
        out = 1.0 / (1.0 + np.exp(-out))
    return ctx.readouts.predict(out.astype(np.float32))


#: What :func:`mediation` adds to the run folder.
MEDIATION_ARTIFACTS = (
    ArtifactSpec.table("mediation", "Mediation",
                       "Total, natural direct and natural indirect effects of each factor through each mediator.",
                       expected=True, sort_by=("q_value", "p_value")),
)


def mediation(ctx: RunContext) -> None:
    """For each factor change: TE, NIE, NDE through each active latent, on the read-outs of the output.

    Directed: every pair's differences are multiplied by sign(v'_k - v_k), so the estimands are the effects of
    raising factor k (a random-direction change would cancel in the mean)."""
    import pandas as pd

    from causalvae import causal, interventions

    cfg, ds = ctx.config, ctx.dataset
    active = np.flatnonzero(lm.active(ctx.effects["latent_information"]))
    latent = lm.declared_latent_site(ctx.model)
    latents = active if active.size else np.arange(ctx.model.latent_dim)
    frames = []
    for factor in ds.factor_names:
        p = ctx.pairs(factor)
        outcomes = {}
        for i in latents:
            raw = interventions.mediation_outcomes(ctx.model, p.x, p.x_prime, mediators=[unit_id(latent, int(i))],
                                                   outcome="output", device=cfg.device)
            outcomes[unit_id(latent, int(i))] = {k: _predicted_factors(ctx, v) for k, v in raw.items()}
        table = causal.mediation(outcomes, outcome_names=[causal.readout_id(f) for f in ds.factor_names],
                                 direction=causal.treatment_direction(p.delta), n_boot=500, seed=cfg.seed)
        table.insert(0, "treatment", f"factor.{factor}")
        frames.append(table)
    ctx.tables["mediation"] = pd.concat(frames, ignore_index=True)


#: What :func:`motifs_and_classes` adds to the run folder.
MOTIFS_AND_CLASSES_ARTIFACTS = (
    ArtifactSpec.table("motifs", "Circuit motifs", "Motif counts per layer against a degree-preserving null model.",
                       expected=True),
    ArtifactSpec.table("unit_classes", "Unit classes", "Class of every unit from its factor responses."),
    ArtifactSpec.table("unit_class_fractions", "Unit classes per layer",
                       "Fractions of silent / dead / monosemantic / polysemantic / diffuse units per layer.",
                       expected=True),
)


def motifs_and_classes(ctx: RunContext) -> None:
    from causalvae import causal

    ctx.tables["motifs"] = causal.motifs(ctx.graphs["unit"], n_null=50, seed=ctx.config.seed)
    classes = causal.classify_units(ctx.effects["factor_unit"])
    ctx.tables["unit_classes"] = classes
    ctx.tables["unit_class_fractions"] = causal.class_fractions(classes).reset_index()
    for cls, frac in classes["class"].value_counts(normalize=True).items():
        ctx.metric(f"unit_class.{cls}", frac)
