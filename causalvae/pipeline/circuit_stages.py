"""The circuits stage: each factor's encoder and decoder circuit, found by interchange patching.

Encoder circuit of factor k: encoder units carrying the factor's effect on its aligned latents (the
active latents whose factor response is at least :data:`ALIGNED_SHARE` of the largest).  Decoder
circuit: decoder units carrying the aligned latents' change to the read-out of factor k on the decoded
output; a read-out whose held-out score (R², or chance-corrected accuracy for discrete factors) is
below :data:`MIN_READOUT_SCORE` defines no circuit.  Ablated units take their mean over the run's
analysis batch, the same values for x and x′.  Method and definitions: :mod:`causalvae.causal.circuits`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causalvae.pipeline.context import RunContext
from causalvae.pipeline import latent_measures as lm
from causalvae.pipeline.effect_stages import stage_sites
from causalvae.report.artifacts import ArtifactSpec
from causalvae.units import factor_id, unit_id

#: Latents aligned with a factor: active, with a response of at least this share of the factor's largest.
ALIGNED_SHARE = 0.5
#: Least held-out read-out score (R²; chance-corrected accuracy for discrete factors) for a decoder circuit.
MIN_READOUT_SCORE = 0.1
TARGET_FAITHFULNESS = 0.8
#: Pairs per factor (the first of the run's pairs), screened units verified exactly, and no backward
#: pruning: every m(S) replays the network on the pairs, which keeps the stage within its time budget.
CIRCUIT_PAIRS, N_VERIFY, PRUNE = 16, 16, False
#: What :func:`circuits` adds to the run folder.
CIRCUITS_ARTIFACTS = (
    ArtifactSpec.table("circuits", "Circuits",
                       "Per factor and part: size, measured faithfulness, same-size random baseline and largest "
                       "overlap (Jaccard) with another factor's circuit.", expected=True),
    ArtifactSpec.table("circuit_curves", "Faithfulness against circuit size",
                       "Faithfulness of each prefix of the circuit's unit ranking (the curve behind CPR)."),
    ArtifactSpec.graph("circuit_*", "Circuit", "Encoder or decoder circuit of one factor"),
)


def aligned_latents(response_row: np.ndarray, active: np.ndarray, *, share: float = ALIGNED_SHARE) -> list[int]:
    """Indices of the latents aligned with a factor: among the active latents (all, if none is active),
    those whose response is at least ``share`` of the largest.

    >>> aligned_latents(np.array([0.1, 0.9, 0.5, 2.0]), np.array([True, True, True, False]))
    [1, 2]
    """
    pool = np.flatnonzero(active) if np.any(active) else np.arange(len(response_row))
    values = np.asarray(response_row, dtype=np.float64)[pool]
    return [int(i) for i in pool[values >= share * values.max()]]


def first_pairs(pairs, n: int):
    """The first ``n`` of a :class:`causalvae.data.FactorPairs` (all when there are fewer)."""
    import dataclasses

    fields = ("x", "x_prime", "factors", "factors_prime", "rows")
    return dataclasses.replace(pairs, **{f: getattr(pairs, f)[:n] for f in fields})


def readout_score(row) -> float:
    """Held-out R² of a continuous read-out; ``(accuracy − majority rate) / (1 − majority rate)`` of a discrete one.

    >>> readout_score({"metric": "accuracy", "test": 0.75, "baseline": 0.5})
    0.5
    """
    if row["metric"] == "r2":
        return float(row["test"])
    return float((row["test"] - row["baseline"]) / (1.0 - row["baseline"])) if row["baseline"] < 1 else 0.0


def circuits(ctx: RunContext) -> None:
    """Encoder and decoder circuits of every factor: table ``circuits``, graphs ``circuit_<factor>_<part>``."""
    import torch

    from causalvae import causal
    from causalvae.interventions import circuit_patching as cp
    from causalvae.interventions.circuit_discovery import find_circuit

    cfg, ds, model = ctx.config, ctx.dataset, ctx.model
    responses = ctx.effects["factor_latent"]
    active = lm.active(ctx.effects["latent_information"])
    encoded, decoded = lm.encoder_latent_site(model), lm.declared_latent_site(model)
    scores = ctx.readouts.scores.set_index("factor")
    transform = torch.sigmoid if model.config.likelihood == "bernoulli" else None
    common = dict(target_faithfulness=TARGET_FAITHFULNESS, reference=ctx.x_analysis, n_verify=N_VERIFY, prune=PRUNE,
                  units_per_pass=16,
                  seed=cfg.seed, device=cfg.device)
    results = []
    for factor in ds.factor_names:
        pairs = first_pairs(ctx.pairs(factor), CIRCUIT_PAIRS)
        row = responses.values[list(responses.sources).index(factor_id(factor))]
        latents = aligned_latents(np.array([row[list(responses.targets).index(unit_id(encoded, i))]
                                            for i in range(model.latent_dim)]), active)
        k = ds.factor_index(factor)
        read = cp.readout_behaviour(lambda images, k=k: ctx.readouts.predict(images)[:, k], transform=transform)
        results.append(find_circuit(model, pairs, sites=stage_sites(model, "encoder"),
                                       behaviour=cp.latent_behaviour(latents, site=encoded), **common))
        results.append(find_circuit(model, pairs, sites=stage_sites(model, "decoder"), behaviour=read,
                                       sources=[unit_id(decoded, i) for i in latents],
                                       readout_score=readout_score(scores.loc[factor]),
                                       min_readout_score=MIN_READOUT_SCORE, **common))
    ctx.tables["circuits"] = causal.circuit_table(results)
    ctx.tables["circuit_curves"] = pd.DataFrame(
        [{"factor": r.factor, "part": r.part, "size": int(size), "n_units": r.curve.n_units, "faithfulness": f}
         for r in results if r.curve is not None for size, f in zip(r.curve.sizes, r.curve.faithfulness)],
        columns=["factor", "part", "size", "n_units", "faithfulness"])
    for r in results:
        ctx.graphs[f"circuit_{r.factor}_{r.part}"] = r.graph
        for key, value in (("faithfulness", r.faithfulness), ("size", r.size), ("random_mean", r.random_mean),
                           ("cpr", r.curve.cpr if r.curve else float("nan"))):
            ctx.metric(f"circuit.{r.factor}.{r.part}.{key}", value if r.found else float("nan"))
        ctx.folder.log(f"  circuit {r.factor} / {r.part}: {r.status}" + (
            f", {r.size} units, f = {r.faithfulness:.3f}, random {r.random_mean:.3f} ± {r.random_sd:.3f}"
            if r.found else ""))
