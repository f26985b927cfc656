"""dSprites end to end: train a conv beta-VAE, intervene, build the causal unit graph, measure.

Steps, each with causalvae's public API (``causalvae run --dataset dsprites`` does all of this and
more in one command; this script shows the pieces):

1. procedurally rendered dSprites (no download) and a conv beta-VAE (:func:`causalvae.models.make_vae`,
   :func:`~causalvae.models.train`);
2. the computational graph (:func:`causalvae.graph.extract`);
3. interventions: input manipulation (factor x unit / latent responses), ablation of every encoder
   unit with its effect on the latent means, unit -> unit edge effects, and latent perturbation
   ``do(z_i = c)`` for the causal effect strength (CES) and intervention specificity;
4. the causal unit graph (:func:`causalvae.causal.causal_unit_graph`), unit classes and per-factor
   circuits;
5. metrics: MIG, DCI, CES (paper form and variants), specificity;
6. exports under ``--out``: graphs (GraphML, DOT, JSON, SVG), effect matrices (CSV + NPZ), metrics.json,
   the checkpoint.

Run ``python examples/dsprites_end_to_end.py --quick --out runs/dsprites_example`` (well under a
minute) or without ``--quick`` for a real model (about 15 minutes on a 2-core CPU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from causalvae.effects import EffectMatrix
from causalvae import causal, data, graph, interventions, metrics, models
from causalvae.interventions.circuit_discovery import find_circuit
from causalvae.interventions.circuit_patching import latent_behaviour
from causalvae.metrics import interventional
from causalvae.io import write_json

LATENT = "latent.mu"
REPLICATES = 8  # independent batches per effect matrix: the edge test is a t(REPLICATES - 1) test
MIN_EFFECT = 0.1  # an edge moves its target by >= 10 % of the target's spread over the data
#: 30 steps leave the latents active (4 left every latent at KL ~0.001: nothing to intervene on).
QUICK = dict(n=256, steps=30, batch_size=16, n_analysis=16, n_pairs=16, n_metric=256, latent_dim=6)
FULL = dict(n=50_000, steps=3000, batch_size=64, n_analysis=128, n_pairs=128, n_metric=6000, latent_dim=10)


def discrete(ds: data.FactorDataset, rows: np.ndarray) -> np.ndarray:
    """Factor values of ``rows`` with continuous factors binned (20 bins), as MIG / DCI expect."""
    factors = ds.factors[rows].copy()
    cont = [k for k, kind in enumerate(ds.factor_kinds) if kind == "continuous"]
    factors[:, cont] = metrics.histogram_discretize(factors[:, cont], n_bins=20)
    return factors


def shown(value: float) -> str:
    """``value`` to 3 decimals, or "n/a" where it is undefined (these scores average over the active latents)."""
    return f"{value:.3f}" if np.isfinite(value) else "n/a (no active latent)"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (well under a minute)")
    parser.add_argument("--out", default="runs/dsprites_example", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latent-dim", type=int, default=None, help="latents (default: 6 quick, 10 full)")
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: 30 quick, 3000 full)")
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    cfg.update({k: v for k, v in (("steps", args.steps), ("latent_dim", args.latent_dim)) if v is not None})
    out = Path(args.out)
    torch.set_num_threads(min(2, torch.get_num_threads()))

    # 1. data and model
    ds = data.load("dsprites", n=cfg["n"], seed=args.seed)
    model = models.make_vae("beta-vae", input_shape=ds.obs_shape, latent_dim=cfg["latent_dim"], seed=args.seed,
                            beta=args.beta)
    result = models.train(model, ds, steps=cfg["steps"], batch_size=cfg["batch_size"], lr=5e-4, seed=args.seed,
                          checkpoint_dir=out / "checkpoint", progress=False)
    model.eval()
    rng = np.random.default_rng(args.seed)
    x = ds.images(np.sort(rng.choice(len(ds), size=cfg["n_analysis"], replace=False)))
    kl = models.latent_kl(model, x)
    recon = models.reconstruction_quality(model, x)
    print(f"trained beta-VAE (beta={args.beta}) for {result.steps} steps on {len(ds)} dSprites images "
          f"in {result.seconds:.0f}s; active latents {int((kl > 0.01).sum())}/{cfg['latent_dim']}")

    # 2. computational graph
    comp = graph.extract(model, torch.as_tensor(x[:2]))
    encoder = [s.name for s in model.sites if s.stage == "encoder"]

    # 3. interventions
    # Effects on REPLICATES independent batches: mean ± batch-means standard error (for the edge test).
    responses = EffectMatrix.average([
        interventions.factor_effects(model, ds, sites=[*encoder, LATENT], n_pairs=cfg["n_pairs"] // REPLICATES,
                                     seed=s) for s in np.random.SeedSequence(args.seed).generate_state(REPLICATES)])
    latent_cols = [t for t in responses.targets if t.startswith(LATENT + "[")]
    factor_unit = responses.select(targets=[t for t in responses.targets if t not in latent_cols])
    factor_latent = responses.select(targets=latent_cols)
    unit_mu = interventions.ablation_effects(model, x, sites=encoder, targets=[LATENT], kind="mean")
    edges = EffectMatrix.average([interventions.edge_effects(model, part, sites=[*encoder, LATENT], kind="mean")
                                  for part in np.array_split(x, REPLICATES)])
    # CES and specificity on decoded observations: the same call as `causalvae run`
    ces, spec, decoded = interventions.paper_metrics(model, x, kl=kl, recon_error=recon.get("nll"))

    # 4. causal unit graph, unit classes, circuits
    matrices = [factor_unit, factor_latent, edges]
    spread = interventions.activation_spread(model, x, sites=[*encoder, LATENT]).values
    G = causal.causal_unit_graph(matrices, stages={s.name: s.stage for s in model.sites}, spread=spread,
                                 min_effect=MIN_EFFECT, alpha=0.05)
    classes = causal.classify_units(factor_unit)
    found = {}  # encoder circuits: the units carrying each factor's effect on its most responsive latent
    for factor, row in zip(factor_latent.sources, factor_latent.values):
        pairs = data.factor_pairs(ds, factor.removeprefix("factor."), n=cfg["n_pairs"], seed=args.seed)
        found[factor] = find_circuit(model, pairs, sites=encoder, reference=x,
                                     behaviour=latent_behaviour([int(np.argmax(row))]))

    # 5. metrics
    active = kl > interventional.ACTIVE_KL
    rows = np.sort(rng.choice(len(ds), size=min(cfg["n_metric"], len(ds)), replace=False))
    mu, _ = models.encode_dataset(model, ds, indices=rows)
    factors = discrete(ds, rows)
    half = len(rows) // 2
    scores = {"mig": metrics.mig(mu, factors)["mig"],
              **{f"dci.{k}": v for k, v in metrics.dci(mu[:half], factors[:half], mu[half:], factors[half:],
                                                       seed=args.seed).items() if "." not in k},
              "ces.paper": ces.paper, "ces.active_only": ces.active_only, "ces.sqrt_p_normalised": ces.sqrt_p_normalised,
              "specificity.paper": float(np.nanmean(spec.paper[active])) if active.any() else float("nan"),
              "specificity.bounded": float(np.nanmean(spec.bounded[active])) if active.any() else float("nan"),
              "n_active_latents": int(active.sum()), **{f"recon.{k}": v for k, v in recon.items()}}

    # 6. exports
    for name, matrix in {"factor_unit": factor_unit, "factor_latent": factor_latent, "unit_latent": unit_mu,
                         "unit_edges": edges}.items():
        matrix.save(out / "effects" / f"{name}.npz")
        matrix.to_frame().to_csv(out / "effects" / f"{name}.csv")
    named = {"computational": comp, "unit": G, **{f"circuit_{f.removeprefix('factor.')}": c.graph
                                                   for f, c in found.items()}}
    for name, g in named.items():
        graph.write_graphml(g, out / "graphs" / f"{name}.graphml")
        graph.write_dot(g, out / "graphs" / f"{name}.dot")
        graph.write_graph_json(g, out / "graphs" / f"{name}.json")
    graph.render(comp, out / "graphs" / "computational.svg")
    write_json(out / "metrics.json", {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                                      for k, v in scores.items()})

    best = {f.removeprefix("factor."): factor_latent.targets[int(np.argmax(r))]
            for f, r in zip(factor_latent.sources, factor_latent.values)}
    print(f"unit graph: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges kept "
          f"(each moves its target by >= {MIN_EFFECT} of its spread over the data; FDR 5 %)")
    print("unit classes: " + ", ".join(f"{k} {v}" for k, v in sorted(classes["class"].value_counts().items())))
    print("encoder circuits (measured faithfulness >= 0.8): "
          + ", ".join(f"{f.removeprefix('factor.')} {c.size if c.found else c.status}" for f, c in found.items()))
    print("most responsive latent per factor: " + ", ".join(f"{f} -> {u}" for f, u in best.items()))
    print(f"MIG {scores['mig']:.3f}  DCI-D {scores['dci.disentanglement']:.3f}  CES {ces.paper:.2f} "
          f"(active only {shown(ces.active_only)})  specificity (bounded) {shown(scores['specificity.bounded'])}")
    print(f"wrote {out}/ (graphs, effects, metrics.json, checkpoint)")
    return scores


if __name__ == "__main__":
    main()
