"""Intervention stages: the four levels of DESIGN §5 and the paper's metrics computed from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from causalvae.effects import EffectMatrix
from causalvae.pipeline.config import REPLICATES
from causalvae.pipeline.context import RunContext
from causalvae.pipeline import latent_measures as lm
from causalvae.report.artifacts import ArtifactSpec
from causalvae.units import unit_id


def sub_seeds(seed: int, purpose: str, n: int) -> list[int]:
    """``n`` seeds for ``purpose`` derived from the run's ``seed`` with ``numpy.random.SeedSequence`` (no
    arithmetic such as ``seed * 4 + r``, whose values collide across runs and purposes).

    >>> sub_seeds(0, "input_manipulation", 2) == sub_seeds(0, "input_manipulation", 2) != sub_seeds(1, "input_manipulation", 2)
    True
    """
    import zlib

    sequence = np.random.SeedSequence(entropy=int(seed), spawn_key=(zlib.crc32(purpose.encode()),))
    return [int(s) for s in sequence.generate_state(n)]


def replicated(measure: Callable[[int], EffectMatrix], replicates: int = REPLICATES) -> EffectMatrix:
    """``measure(r)`` on ``replicates`` independent batches, averaged with batch-means standard errors."""
    return EffectMatrix.average([measure(r) for r in range(replicates)])


def batches(x: np.ndarray, replicates: int = REPLICATES) -> list[np.ndarray]:
    if len(x) < 2 * replicates:
        raise ValueError(f"need at least {2 * replicates} analysis inputs for {replicates} batches, got {len(x)}")
    return np.array_split(x, replicates)


def stage_sites(model, stage: str) -> list[str]:
    """Post-activation sites of ``stage`` (the output logits are reached through ``"output"``)."""
    return [s.name for s in model.sites if s.stage == stage and s.name != model.output_site]


#: What :func:`input_manipulation` adds to the run folder.
INPUT_MANIPULATION_ARTIFACTS = (
    ArtifactSpec.effect("factor_latent", "factor × latent",
                        "Response of each latent mean to a change of one factor of the input", expected=True),
    ArtifactSpec.effect("factor_unit", "factor × unit",
                        "Response of each encoder unit to a change of one factor of the input", expected=True),
)


def input_manipulation(ctx: RunContext) -> None:
    """Factor x unit and factor x latent responses from factor-controlled pairs."""
    from causalvae import interventions

    cfg, model = ctx.config, ctx.model
    latent = lm.encoder_latent_site(model)
    sites = [*stage_sites(model, "encoder"), latent]
    per_batch = max(2, cfg.n_pairs // REPLICATES)
    reps = [interventions.factor_effects(model, ctx.dataset, sites=sites, n_pairs=per_batch, seed=s, device=cfg.device)
            for s in sub_seeds(cfg.seed, "input_manipulation", REPLICATES)]
    silent = sorted(set().union(*(r.meta["silent"] for r in reps)))  # silent in any replicate
    averaged = EffectMatrix.average(reps)
    responses = dataclasses.replace(averaged, meta={**averaged.meta, "silent": silent})
    latents = [t for t in responses.targets if t.startswith(latent + "[")]
    ctx.effects["factor_unit"] = responses.select(targets=[t for t in responses.targets if t not in latents])
    ctx.effects["factor_latent"] = responses.select(targets=latents)


#: What :func:`latent_perturbation` adds to the run folder.
LATENT_PERTURBATION_ARTIFACTS = (
    ArtifactSpec.effect("latent_decoder", "latent → decoder unit", "Change of each decoder unit under do(z_i = c)"),
    ArtifactSpec.effect("latent_decoder_signed", "latent → decoder unit (signed)",
                        "Signed change of each decoder unit under do(z_i = c)"),
    ArtifactSpec.effect("ces_per_latent", "causal effect strength per latent", "E‖D(z) − D(z̃_i)‖₂ for each latent i"),
)


def latent_perturbation(ctx: RunContext) -> None:
    """do(z_i = c) (a VQ-VAE: the code swaps do(c_i = j)): effects on decoder units; CES, intervention
    specificity and circuit modularity (:func:`causalvae.pipeline.latent_measures.paper_measures`, shared
    with the study analysis).

    CES and specificity compare *decoded observations* D(z) (:func:`causalvae.interventions.paper_metrics`,
    or :func:`causalvae.interventions.code_swap_profile` for codes), as DESIGN §5 defines them.
    """
    cfg, model, x = ctx.config, ctx.model, ctx.x_analysis
    information = ctx.effects["latent_information"]
    measures = lm.paper_measures(model, x, information=information, recon_error=ctx.metrics.get("recon.nll"),
                                 device=cfg.device)
    ctx.effects["latent_decoder_signed"] = measures.decoder_signed
    ctx.effects["latent_decoder"] = measures.decoder_abs
    per_latent = measures.ces.per_latent
    ctx.effects["ces_per_latent"] = EffectMatrix(
        per_latent[:, None], [unit_id(lm.latent_site(model), i) for i in range(len(per_latent))], ["decoded_l2"],
        intervention=measures.intervention, statistic="mean", n_samples=len(x),
        meta={"values": list(lm.GRID)} if measures.intervention == "do(z=c)"
        else {"codes": measures.decoder_signed.meta["codes"]})
    for key, value in measures.scores(information).items():
        ctx.metric(key, value)


#: What :func:`unit_ablation` adds to the run folder.
UNIT_ABLATION_ARTIFACTS = (
    ArtifactSpec.effect("unit_latent", "unit → latent",
                        "Effect of mean-ablating each encoder unit on the latent means"),
    ArtifactSpec.effect("unit_edges", "unit → unit (encoder)",
                        "Mean-ablation effect of each encoder unit on the units of the next site"),
    ArtifactSpec.effect("decoder_edges", "latent → decoder unit → decoder unit",
                        "Mean-ablation effect of each latent and decoder unit on the units of the next site "
                        "(a VQ-VAE's positions: resampled codes)"),
)


def unit_ablation(ctx: RunContext) -> None:
    """Mean-ablation edge effects between consecutive sites, encoder (→ latent means) and decoder (latent →
    decoder units), each unit replaced by its mean over the batch so that an effect measures the signal
    the unit carries, not its resting activation; plus every unit's natural spread (the edge test's scale)
    and a μ-only sweep of encoder units on the latent means."""
    from causalvae import interventions

    cfg, model = ctx.config, ctx.model
    latent = lm.declared_latent_site(model)
    encoder, decoder = [*stage_sites(model, "encoder"), latent], [latent, *stage_sites(model, "decoder")]
    parts = batches(ctx.x_analysis)
    # a VQ-VAE's positions are ablated by resampling their codes from the batch (a mean vector is no code)
    kinds = {**dict.fromkeys([*encoder, *decoder], "mean"), latent: "resample" if lm.is_quantised(model) else "mean"}
    seeds = sub_seeds(cfg.seed, "unit_ablation", REPLICATES)
    for name, chain in (("unit_edges", encoder), ("decoder_edges", decoder)):
        ctx.effects[name] = replicated(lambda r, chain=chain: interventions.edge_effects(
            model, parts[r], sites=chain, kind=kinds, statistic="mean_abs", seed=seeds[r], device=cfg.device))
    ctx.spread = interventions.activation_spread(model, ctx.x_analysis, sites=dict.fromkeys([*encoder, *decoder]),
                                                 device=cfg.device)
    ctx.effects["unit_latent"] = interventions.ablation_effects(
        model, ctx.x_analysis, sites=stage_sites(model, "encoder"), targets=[latent],
        kind="mean", statistic="mean_abs", device=cfg.device)


#: What :func:`readout_ablation` adds to the run folder.
READOUT_ABLATION_ARTIFACTS = (
    ArtifactSpec.effect("decoder_readout", "decoder unit → read-out factor",
                        "Mean-ablation effect of each last-layer decoder unit on the factors read out from the "
                        "decoded output"),
)


def readout_ablation(ctx: RunContext) -> None:
    """Decoder units of the last hidden decoder site → factor read-outs of the decoded output (mean ablation)."""
    from causalvae import interventions

    cfg, model = ctx.config, ctx.model
    last = stage_sites(model, "decoder")[-1]
    readout = interventions.Readout(lambda out: _torch_readouts(ctx, out), tuple(ctx.dataset.factor_names))
    parts = batches(ctx.x_analysis)
    ctx.effects["decoder_readout"] = replicated(lambda r: interventions.ablation_effects(
        model, parts[r], sites=[last], targets=[], kind="mean", statistic="mean_abs", readout=readout,
        device=cfg.device))


def _torch_readouts(ctx: RunContext, output):
    """Read-out predictions (N, K) of decoder outputs given as a tensor (logits for Bernoulli models)."""
    import torch

    from causalvae.interventions import decoded_mean

    images = decoded_mean(ctx.model, output)
    return torch.as_tensor(ctx.readouts.predict(images.detach().cpu().numpy().astype(np.float32)))


#: What :func:`readout_effects` adds to the run folder.
READOUTS_ARTIFACTS = (
    ArtifactSpec.effect("latent_readout", "latent → read-out factor",
                        "Effect of do(z_i = c) on the factors read out from the reconstruction", expected=True),
    ArtifactSpec.table("readout_scores", "Factor read-outs",
                       "Held-out score of each factor's read-out from an image (R² or accuracy against the majority "
                       "baseline) and its leakage onto other factors; 'weak' read-outs define no behaviour.",
                       expected=True),
)


def readout_effects(ctx: RunContext) -> None:
    """Factor read-outs, and B = latent x read-out-factor effects of do(z_i = c) on the decoded output."""
    from causalvae import causal, interventions

    cfg, model, x = ctx.config, ctx.model, ctx.x_analysis
    ctx.readouts = causal.readouts(ctx.dataset, n=min(len(ctx.dataset), 4000), seed=cfg.seed)
    scores = ctx.readouts.scores
    ctx.tables["readout_scores"] = scores
    for _, row in scores.iterrows():
        ctx.metric(f"readout.{row['factor']}.{row['metric']}", row["test"])
    if lm.is_quantised(model):
        ctx.folder.log("  latent -> read-out effects and factor-level specificity: not measured for VQ codes "
                       "(defined for do(z_i = c) on a Gaussian latent); the read-outs are fitted")
        return

    latent = lm.declared_latent_site(model)

    def readout_effects_on(part: np.ndarray) -> EffectMatrix:
        base, under_do = interventions.decoded_under_do(model, part, np.asarray(lm.GRID), device=cfg.device)
        baseline = np.concatenate([base] * len(lm.GRID))
        intervened = {unit_id(latent, i): under_do[i].reshape(-1, *base.shape[1:]) for i in range(model.latent_dim)}
        return ctx.readouts.effects(baseline, intervened, intervention="do(z=c)", statistic="mean_abs")

    parts = batches(x)
    B = replicated(lambda r: readout_effects_on(parts[r]))
    ctx.effects["latent_readout"] = B
    from causalvae.metrics import interventional

    active = lm.active(ctx.effects["latent_information"])
    specificity = interventional.factor_specificity(B.values)
    ctx.metric("specificity.factor_level", np.mean(specificity[active]) if active.any() else float("nan"))
