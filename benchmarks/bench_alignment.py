"""Benchmark: training and evaluating the alignment maps of the ``alignment`` stage.

The default run's setting: causal-sprites, the conv β-VAE with 6 latents, ``n_pairs = 64`` (128
training and 128 held-out (base, source) pairs), DAS at ``latent.mu`` under ∅ and the DAG
(60 Adam steps of 32 pairs each), coordinates per hypothesis, 24 random-subspace null swaps, 500
bootstrap draws.  Each part is timed on the trained model (``--checkpoint``; a freshly initialised
one otherwise: the cost does not depend on the weights), then the whole stage body
(trained + random-init control) once.  The 1-min load average is recorded with every timing.

    .venv/bin/python benchmarks/bench_alignment.py --checkpoint runs/default/checkpoint/model.safetensors
    .venv/bin/python benchmarks/bench_alignment.py --quick     # the --quick run's sizes
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from causalvae import causal, data, models
from causalvae.causal import abstraction as ab
from causalvae.interventions import alignment_search as search_mod
from causalvae.interventions.interchange import LATENT, Interchanger, coordinate_block, torch_readout, train_das
from causalvae.io import write_text
from causalvae.pipeline import alignment_stages as stage
from causalvae.pipeline.config import RunConfig
from causalvae.pipeline.context import RunContext
from causalvae.pipeline.runner import RunWorkspace

NOTES = """Notes. DAS is the cost that reacts most to machine load: its backward passes through the conv
decoder run two intra-op threads each, and with more runnable processes than cores those threads
wait on each other (the same training step is ~30x slower at a load average of 9 than at 2, while
forward-only decoding slows ~5x). On a quiet 2-core machine the stage is a small share of the
default run (its training alone is 1000 steps of 64 images)."""


def timed(rows: list, name: str, fn, note: str = ""):
    start = time.perf_counter()
    out = fn()
    rows.append((name, time.perf_counter() - start, os.getloadavg()[0], note))
    print(f"{name}: {rows[-1][1]:.2f} s (load {rows[-1][2]:.2f}) {note}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a trained causal-sprites model (default: fresh weights)")
    parser.add_argument("--quick", action="store_true", help="the --quick run's sizes")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "alignment.md"))
    args = parser.parse_args()
    cfg = RunConfig.resolve(dataset="causal-sprites", quick=args.quick or None, out="/tmp/bench_alignment_run")
    rows: list = []
    load_at_start = os.getloadavg()
    ds = data.load(cfg.dataset, n=cfg.n, seed=cfg.seed)
    model = (models.load_model(args.checkpoint) if args.checkpoint else
             models.make_vae(cfg.variant, input_shape=ds.obs_shape, latent_dim=cfg.latent_dim, seed=cfg.seed)).eval()
    readouts = timed(rows, "factorial read-outs (fit + tolerance + cross-talk)",
                     lambda: causal.readouts(ds, n=min(len(ds), 4000), seed=cfg.seed), "n = 4000, 200 pairs/factor")
    ctx = RunContext(config=cfg, folder=RunWorkspace(Path(cfg.out)), dataset=ds, model=model, readouts=readouts)
    train, test = stage._pairs(ctx)
    spec = search_mod.ReadoutSpec(ds.factor_names, readouts.tolerance, readouts.factor_std ** 2, readouts.usable)
    readout = torch_readout(readouts.parameters(), ds.factor_names)
    ic = timed(rows, "interchanger set-up (encode + base read-outs)",
               lambda: Interchanger(model, train[0], train[1], sites=[], readout=readout), f"{len(train[0])} pairs")
    hl = ab.HighLevelModel.from_dataset(ds)
    goal = hl.targets(train[2], train[3])
    timed(rows, "coordinate candidates (every latent swapped)",
          lambda: [ic.run(coordinate_block(LATENT, [i], dim=ic.dim(LATENT))) for i in range(ic.dim(LATENT))],
          f"{ic.dim(LATENT)} x {ic.n} decodes")
    blocks = timed(rows, "DAS training, one hypothesis", lambda: train_das(
        ic, site=LATENT, sizes=dict.fromkeys(ds.factor_names, 1), targets=goal[ab.FULL], variance=spec.variance,
        usable=spec.usable, steps=stage.DAS_STEPS, lr=stage.DAS_LR, batch_size=stage.DAS_BATCH),
        f"{stage.DAS_STEPS} steps x {stage.DAS_BATCH} pairs")
    timed(rows, "held-out evaluation of one alignment", lambda: [ic.run(b) for b in blocks.values()],
          f"{len(blocks)} x {ic.n} decodes")
    timed(rows, "interchange graphs (total, direct, null)", lambda: search_mod.interchange_graphs(
        ic, blocks, readouts=spec, n_null=stage.N_NULL, leakage=readouts.cross_talk), f"{stage.N_NULL} null swaps")
    ctx.metrics.clear()
    timed(rows, "whole alignment stage (trained + random-init, discovery)", lambda: stage.alignment(ctx))
    g = {k: v for k, v in ctx.metrics.items() if k.startswith("alignment.iia.") or k.startswith("alignment.g_star")}
    lines = ["# Alignment stage benchmark", "",
             f"Command: `.venv/bin/python benchmarks/bench_alignment.py{' --quick' if args.quick else ''}"
             f"{' --checkpoint <trained>' if args.checkpoint else ''}`; causal-sprites, conv β-VAE, latent_dim "
             f"{cfg.latent_dim}, n_pairs {cfg.n_pairs}; {os.cpu_count()} CPUs, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads. Load = 1-min load average right after each timing "
             f"(load averages at the start: {', '.join(f'{x:.2f}' for x in load_at_start)}).", "",
             "| part | seconds | load | size |", "|---|---:|---:|---|"]
    lines += [f"| {name} | {sec:.2f} | {load:.2f} | {note} |" for name, sec, load, note in rows]
    lines += ["", "IIA (strict, held-out) and G* of this model:", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v['value'] if isinstance(v, dict) else v:.4g} |" for k, v in g.items()]
    lines += ["", NOTES]
    write_text(Path(args.out), "\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
