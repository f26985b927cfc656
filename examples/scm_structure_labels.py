"""How well does the SCM-layer VAE learn its factor DAG?  Measured on the labels alone, next to PC.

The reconstruction's gradient never reaches the SCM layer, so ``fit_structure`` (the layer trained on
the factor labels with the variant's schedule) is exactly the ``A`` a full training run learns, in a
fraction of the time.  Per dataset, configuration and seed: the learned DAG after ``--steps``, its
SHD against the true DAG and against its equivalence class (CPDAG vs CPDAG).  Configurations:
``hybrid`` (candidate edges from PC's skeleton on the labels, as ``causalvae run`` trains it) and
``continuous`` (the augmented Lagrangian alone).  The reference of what
the labels identify: pgmpy's PC (Pearson partial correlations, α = 0.01) on 2,000 of them.

    .venv/bin/python examples/scm_structure_labels.py --steps 2000 --out docs/results/scm_structure
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from causalvae import causal
from causalvae.causal.discovery import learn_dag, skeleton
from causalvae.data import load
from causalvae.io import write_text
from causalvae.models.training import fit_structure
from causalvae.models.variants import make_vae

DATASETS = ("causal-sprites", "pendulum", "scm-linear", "scm-nonlinear")
#: The schedule of the trained runs in docs/results.md (run 3 onwards).
SCHEDULE = {"scm_lr": 0.02, "dual_every": 50.0, "rho_mult": 1.5, "lambda_l1": 0.002}
#: Configuration -> whether A's candidates are restricted to PC's skeleton of the labels.
CONFIGS = {"hybrid": True, "continuous": False}


def scores(learned, truth, *, is_class: bool = False) -> dict:
    """SHD against the DAG and against its CPDAG (``is_class``: ``learned`` is already a class, as PC's is)."""
    learned_class = learned if is_class else causal.cpdag(learned)
    return {"shd_dag": causal.shd(learned, truth), "shd_cpdag": causal.shd(learned_class, causal.cpdag(truth)),
            "edges": sorted(map(list, learned.edges))}


def run_one(name: str, config: str, seed: int, steps: int, n: int) -> dict:
    ds = load(name, n=n, seed=0)
    k = len(ds.factor_names)
    mlp = {"hidden": (16,)} if len(ds.x.shape) == 2 else {}
    model = make_vae("scm-vae", input_shape=tuple(ds.x.shape[1:]), latent_dim=k, seed=seed, n_concepts=k,
                     **mlp, **SCHEDULE)
    if CONFIGS[config]:
        model.restrict_support(skeleton(model.label_array(ds)))
    began = time.perf_counter()
    history = fit_structure(model, ds, steps=steps, seed=seed)
    learned = model.learned_dag(ds.factor_names, ds.factor_kinds, dataset=name)
    stopped = max((r["step"] for r in history if r["dag_h"] > 0), default=0) + 1 if model.scm.pruned else None
    return {"dataset": name, "config": config, "seed": seed, "steps": steps, "seconds": round(time.perf_counter() - began, 1),
            "ascent_stopped_at_step": stopped, "rho": float(model.rho), "alpha": float(model.alpha),
            "A": model.scm.adjacency().detach().numpy().round(3).tolist(), **scores(learned, ds.factor_dag)}


def pc_reference(name: str, n: int) -> dict:
    ds = load(name, n=n, seed=0)
    frame = pd.DataFrame(np.asarray(ds.factors), columns=ds.factor_names).sample(min(2000, n), random_state=0)
    learned = learn_dag(frame, method="pc", alpha=0.01)
    return scores(learned, ds.factor_dag, is_class=True)


def table(rows: list[dict], pcs: dict[str, dict]) -> str:
    lines = ["| dataset | configuration | steps | seeds | SHD vs DAG per seed | SHD vs CPDAG per seed | "
             "PC: SHD vs DAG / CPDAG |", "|---|---|---|---|---|---|---|"]
    for name in DATASETS:
        for config in CONFIGS:
            for steps in sorted({r["steps"] for r in rows if r["dataset"] == name and r["config"] == config}):
                mine = sorted((r for r in rows if (r["dataset"], r["config"], r["steps"]) == (name, config, steps)),
                              key=lambda r: r["seed"])
                pc = pcs[name]
                lines.append(f"| {name} | {config} | {steps} | {len(mine)} | {', '.join(str(r['shd_dag']) for r in mine)} "
                             f"| {', '.join(str(r['shd_cpdag']) for r in mine)} | {pc['shd_dag']} / {pc['shd_cpdag']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", nargs="+", type=int, default=[2000])
    p.add_argument("--n", type=int, default=10_000, help="labels per dataset")
    p.add_argument("--out", default="runs/scm_structure")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    for name in args.datasets:
        for config in args.configs:
            for steps in args.steps:
                for seed in args.seeds:
                    path = out / f"{name}-{config}-steps{steps}-seed{seed}.json"
                    if not path.exists():
                        write_text(path, json.dumps(run_one(name, config, seed, steps, args.n), indent=1))
                    print(path.read_text().split('"A"')[0].replace("\n", " "), flush=True)
        pc_path = out / f"{name}-pc.json"
        if not pc_path.exists():
            write_text(pc_path, json.dumps(pc_reference(name, args.n), indent=1))
    rows = [json.loads(f.read_text()) for f in sorted(out.glob("*-seed*.json"))]
    pcs = {f.name[:-len("-pc.json")]: json.loads(f.read_text()) for f in out.glob("*-pc.json")}
    write_text(out / "table.md", table(rows, {k: v for k, v in pcs.items() if k in DATASETS}))
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
