"""Train an SCM-layer VAE, a plain β-VAE and two models without the DAG (controls, :data:`MODELS`) per seed
on causal-sprites or Pendulum, and align each with the dataset's factor SCM by causal abstraction (issue
#15, "trained models").

Per model: training (resumable), for ``scm-vae`` the learned ``A`` thresholded at 0.3 and pruned to a DAG
(GraphML + DOT), then the alignment: held-out strict IIA per hypothesis for coordinate alignments (at
``latent.mu``, and for ``scm-vae`` also at its mechanism sites ``decoder.scm.m<j>``), DAS at ``latent.mu``
for ∅ and the DAG, G*, the direct interchange graph of the coordinate alignment under G*, and the same
coordinate search on a randomly initialised network of the architecture (control); SHDs of the direct graph
against the DAG and A over all pairs and over the pairs it can test (projected on the factors with a
used read-out).  One JSON per model;
``--table`` pools them into the markdown table of docs/results.md (means with t-intervals over seeds);
``--realign`` measures the alignment of finished models again with the current method.

    nice -n 5 .venv/bin/python examples/scm_vae_alignment.py --dataset pendulum --out runs/scm_align
    .venv/bin/python examples/scm_vae_alignment.py --table runs/scm_align
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import torch

from causalvae import causal
from causalvae.causal import abstraction as ab
from causalvae.causal.discovery import skeleton
from causalvae.causal.readouts import factorial_sample, readouts
from causalvae.data import causal_sprites, pendulum
from causalvae.graph.dot import write_dot
from causalvae.graph.export import write_graphml
from causalvae.interventions.alignment_search import interchange_graphs, network_readouts, search_alignments
from causalvae.interventions.interchange import LATENT, Interchanger, torch_readout
from causalvae.io import write_text
from causalvae.models.checkpoint import save_checkpoint
from causalvae.models.training import train
from causalvae.models.variants import build_vae, make_vae
from causalvae.pipeline.latent_measures import mechanism_sites
from causalvae.sweep.correlations import seed_interval

DATASETS = {"causal-sprites": causal_sprites, "pendulum": pendulum}
#: The models trained here: name -> (make_vae variant, A's candidate edges, training images).
#: ``scm-vae-empty`` is the SCM-layer VAE with A's support empty (label-supervised concepts rendered with no
#: mechanism); ``-factorial`` models are trained on renders of independently sampled factors (do(all
#: factors)), so their decoder has never seen the DAG's dependence: networks without the structure.
MODELS = {"scm-vae": ("scm-vae", "skeleton", "observational"), "beta-vae": ("beta-vae", None, "observational"),
          "scm-vae-empty": ("scm-vae", "empty", "observational"),
          "beta-vae-factorial": ("beta-vae", None, "factorial"),
          "scm-vae-empty-factorial": ("scm-vae", "empty", "factorial")}
VARIANTS = tuple(MODELS)
FREE_LATENTS = 2
#: Faster SCM fitting than the variant's defaults for the short budgets here (A from zero either way).
SCM_HYPER = {"scm_lr": 2e-2, "dual_every": 25}


def _pairs(ds, n: int, seed: int):
    rows = np.random.default_rng(seed + 2).choice(len(ds), size=4 * n, replace=False)
    halves = []
    for part in (rows[: 2 * n], rows[2 * n:]):
        b, s = part[:n], part[n:]
        halves.append((ds.images(b), ds.images(s), ds.factors[b], ds.factors[s]))
    return halves


def _causes(dag: nx.DiGraph) -> list[str]:
    """Factors with a child: the swaps on which ∅ and the DAG predict different outputs."""
    return [k for k in dag if dag.out_degree(k) > 0]


def _iia(table, alignment: str, hypothesis: str, factors) -> float:
    rows = table[(table.alignment == alignment) & (table.hypothesis == hypothesis) & table.factor.isin(factors)]
    return float(rows["strict"].mean())


def align(model, ds, r, *, seed: int, n_pairs: int, das_steps: int) -> dict:
    """Causal abstraction of ``model`` against ``ds``'s SCM; the numbers the results table reports."""
    hl = ab.HighLevelModel.from_dataset(ds)
    train_half, test_half = _pairs(ds, n_pairs, seed)
    readout = torch_readout(r.parameters(), ds.factor_names)
    sites = mechanism_sites(model)

    def interchangers(net):
        return [Interchanger(net, xb, xs, sites=sites, readout=readout) for xb, xs, _, _ in (train_half, test_half)]

    ics = interchangers(model)
    spec, _ = network_readouts(r, ics[0].base_readout, train_half[2], np.concatenate([train_half[2], train_half[3]]))
    used = list(spec.verified)
    if not used:  # the network renders no factor finely enough: strict IIA is refused (as `causalvae run` does)
        return {"readouts_used": used, "n_readouts_used": 0, "g_star": {}}, nx.create_empty_copy(hl.dag)
    kw = dict(train_factors=train_half[2:], test_factors=test_half[2:], readouts=spec,
              coordinate_sites=[LATENT, *sites], n_boot=300, seed=seed)
    result = search_alignments(*ics, hl, das_site=LATENT, das_hypotheses=[ab.EMPTY, ab.FULL], das_steps=das_steps,
                               das_lr=0.05, das_batch=32, **kw)
    control = search_alignments(*interchangers(build_vae(model.config, seed=seed + 1).eval()), hl, **kw)
    g_star = result.g_star.get("coordinates") or ab.EMPTY
    graphs = interchange_graphs(ics[1], result.blocks["coordinates"][g_star], readouts=spec, n_null=24,
                                leakage=r.cross_talk, seed=seed)
    # IIA over the swaps a read-out can check (the factor's own read-out usable), as G* is chosen
    dag, t = hl.dag, result.table
    causes = [k for k in _causes(dag) if k in used]
    checked = next((sorted(map(list, h.edges)) for h in result.hypotheses if h.name == ab.FULL), [])
    out = {"g_star": result.g_star, "g_star_random_init": control.g_star, "checked_edges": checked,
           "readouts_used": used, "n_readouts_used": len(used), "causes": causes,
           "direct_edges": sorted(map(list, graphs.direct.edges)),
           "shd_direct_dag": causal.shd(graphs.direct, dag),
           "shd_direct_dag_checkable": causal.shd(graphs.direct, checkable(dag, used)),
           "shd_direct_empty": causal.shd(graphs.direct, nx.create_empty_copy(dag)),
           "distinguishing": float(t[(t.factor == "all")]["distinguishing"].iloc[0]),
           "blocks": {k: f"{b.site}[{int(np.argmax(np.abs(b.basis[:, 0])))}]"
                      for k, b in result.blocks["coordinates"][g_star].items()}}
    for cls in ("coordinates", "das", "random", "no-swap"):
        for h in (ab.EMPTY, ab.FULL):
            out[f"iia.{cls}.{h}"] = _iia(t, cls, h, used)
            out[f"iia_causes.{cls}.{h}"] = _iia(t, cls, h, causes)
    for h in (ab.EMPTY, ab.FULL):
        out[f"iia_causes.random_init.{h}"] = _iia(control.table, "coordinates", h, causes)
    return out, graphs.direct


def build_model(name: str, ds, *, seed: int, beta: float = 1.0, scm_hyper=None):
    """The untrained model ``name`` (:data:`MODELS`) for ``ds`` (its training set), and its hyper-parameters."""
    variant, support, _ = MODELS[name]
    k = len(ds.factor_names)
    scm = variant == "scm-vae"
    hyper = {"n_concepts": k, **SCM_HYPER, **(scm_hyper or {})} if scm else {"beta": beta}
    model = make_vae(variant, input_shape=tuple(ds.x.shape[1:]), latent_dim=k + FREE_LATENTS, seed=seed, **hyper)
    if support == "skeleton":  # A's candidates: PC's skeleton on the training labels (hybrid, as causalvae run)
        model.restrict_support(skeleton(model.label_array(ds)))
    elif support == "empty":
        model.restrict_support(np.zeros((k, k)))
    return model, hyper


def training_set(name: str, ds, *, seed: int):
    """``ds`` itself, or for a ``factorial`` model as many renders of independently sampled factors."""
    if MODELS[name][2] == "observational":
        return ds
    factors, x = factorial_sample(ds, n=len(ds), seed=seed + 5)
    return replace(ds, x=x, factors=factors, meta={**ds.meta, "training": "factorial"})


def checkable(graph: nx.DiGraph, nodes) -> nx.DiGraph:
    """``graph`` projected on ``nodes`` (the factors with a used read-out): ``u -> v`` when a directed path
    from u to v has no inner node among them.  That is what a direct interchange graph can show: it
    claims edges between those factors only and clamps only their blocks
    (:func:`causalvae.interventions.alignment_search.interchange_graphs`)."""
    keep = set(nodes)
    out = nx.create_empty_copy(graph)
    for u in keep:
        seen, stack = set(), list(graph.successors(u))
        while stack:
            w = stack.pop()
            if w in seen:
                continue
            seen.add(w)
            if w not in keep:
                stack.extend(graph.successors(w))
            elif w != u:
                out.add_edge(u, w)
    return out


def run_one(dataset: str, variant: str, seed: int, args) -> dict:
    torch.set_num_threads(1)
    mod = DATASETS[dataset]
    ds = mod.load(n=args.n, seed=0)
    folder = Path(args.out) / dataset / f"{variant}-seed{seed}"
    result_path = folder / "result.json"
    if result_path.exists():
        done = json.loads(result_path.read_text())
        return realign(done, folder, ds, seed, args) if args.realign else done
    scm = MODELS[variant][0] == "scm-vae"
    data = training_set(variant, ds, seed=seed)
    model, hyper = build_model(variant, data, seed=seed, beta=args.beta, scm_hyper=args.scm_hyper)
    began = time.time()
    fit = train(model, data, steps=args.steps, batch_size=64, lr=5e-4, seed=seed, checkpoint_dir=folder / "train",
                progress=False)
    out = {"dataset": dataset, "variant": variant, "training_data": MODELS[variant][2], "seed": seed,
           "steps": args.steps, "n": args.n, "hyper": hyper,
           "recon": float(np.mean([h["recon"] for h in fit.history[-50:]])), "train_seconds": time.time() - began}
    if scm:
        out["A"] = model.scm.adjacency().detach().numpy().round(3).tolist()
        model.scm.prune()
        learned = model.learned_dag(ds.factor_names, ds.factor_kinds, dataset=dataset)
        write_graphml(learned, folder / "learned_dag.graphml")
        write_dot(learned, folder / "learned_dag.dot")
        save_checkpoint(folder / "pruned.safetensors", model, training={"step": args.steps, "pruned": True})
        out["learned_edges"] = sorted(map(list, learned.edges))
        out["shd_A_dag"] = causal.shd(learned, ds.factor_dag)
        out["shd_A_cpdag"] = causal.shd(causal.cpdag(learned), causal.cpdag(ds.factor_dag))
        out["dag_h_final"] = fit.history[-1]["dag_h"]
    return _aligned(out, model, learned if scm else None, folder, ds, seed, args)


def realign(done: dict, folder: Path, ds, seed: int, args) -> dict:
    """``done`` with its alignment measured again on the saved model (after a change of the method)."""
    from causalvae.graph import read_graphml
    from causalvae.models.checkpoint import load_model

    scm = MODELS[done["variant"]][0] == "scm-vae"
    model = load_model(folder / ("pruned.safetensors" if scm else "train/last.safetensors"))
    learned = read_graphml(folder / "learned_dag.graphml") if scm else None
    training = {k: v for k, v in done.items() if k in ("dataset", "variant", "training_data", "seed", "steps", "n",
                                                         "hyper", "recon",
                                                         "train_seconds", "A", "learned_edges", "shd_A_dag",
                                                         "shd_A_cpdag", "dag_h_final")}
    return _aligned(training, model, learned, folder, ds, seed, args)


def _aligned(out: dict, model, learned, folder: Path, ds, seed: int, args) -> dict:
    began = time.time()
    r = _readouts(ds)
    aligned, direct = align(model.eval(), ds, r, seed=seed, n_pairs=args.pairs, das_steps=args.das_steps)
    out = {**out, **aligned, "align_seconds": time.time() - began}
    if learned is not None:
        out["shd_direct_A"] = causal.shd(direct, learned)
        used = out["readouts_used"]
        out["shd_direct_A_checkable"] = causal.shd(checkable(direct, used), checkable(learned, used))
    write_text(folder / "result.json", json.dumps(out, indent=1))
    return out


_READOUTS: dict[int, object] = {}


def _readouts(ds):
    """Factorial read-outs of the dataset (fitted once per process)."""
    if id(ds.intervene) not in _READOUTS:
        _READOUTS.clear()
        _READOUTS[id(ds.intervene)] = readouts(ds, n=2000, n_pairs=100, seed=0)
    return _READOUTS[id(ds.intervene)]


def _ci(values) -> str:
    ci = seed_interval(values)
    if ci["n"] < 2:
        return f"{ci['mean']:.3g}" if ci["n"] else "n/a"
    return f"{ci['mean']:.3g} ± {ci['ci_high'] - ci['mean']:.2g}"


#: The columns of :func:`table`: means with t-intervals over seeds.
COLUMNS = ["recon", "n_readouts_used", "distinguishing", "iia_causes.coordinates.empty", "iia_causes.coordinates.dag",
           "iia_causes.das.empty", "iia_causes.das.dag", "iia_causes.random_init.empty", "iia_causes.random_init.dag",
           "shd_direct_dag", "shd_direct_dag_checkable", "shd_direct_empty", "shd_A_dag", "shd_A_cpdag", "shd_direct_A",
           "shd_direct_A_checkable"]


def table(root: Path, columns: list[str] | None = None) -> str:
    """The markdown table over every ``result.json`` under ``root`` (``columns``: default :data:`COLUMNS`)."""
    results = [json.loads(p.read_text()) for p in sorted(root.glob("*/*/result.json"))]
    cols = columns or COLUMNS
    lines = ["| dataset | model | seeds | G* coordinates / DAS per seed | " + " | ".join(cols) + " |",
             "|" + "---|" * (4 + len(cols))]
    for (d, v) in sorted({(r["dataset"], r["variant"]) for r in results}):
        rows = [r for r in results if (r["dataset"], r["variant"]) == (d, v)]
        gs = ", ".join(f"{r['g_star'].get('coordinates')} / {r['g_star'].get('das')}" for r in rows)
        lines.append(f"| {d} | {v} | {len(rows)} | {gs} | "
                     + " | ".join(_ci([r.get(c) for r in rows]) if any(c in r for r in rows) else "–" for c in cols)
                     + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(DATASETS))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--n", type=int, default=5000, help="training images")
    p.add_argument("--pairs", type=int, default=96, help="base/source pairs per half (training, held-out)")
    p.add_argument("--das-steps", type=int, default=40)
    p.add_argument("--beta", type=float, default=1.0, help="β of the plain β-VAE")
    p.add_argument("--scm-hyper", nargs="*", default=[], metavar="KEY=VALUE",
                   help="scm-vae hyper-parameters over SCM_HYPER (e.g. dual_every=50 rho_mult=1.5)")
    p.add_argument("--out", default="runs/scm_align")
    p.add_argument("--table", metavar="ROOT", help="print the table of the results under ROOT and exit")
    p.add_argument("--columns", nargs="+", help="the table's columns (default: COLUMNS)")
    p.add_argument("--realign", action="store_true",
                   help="measure the alignment of finished models again (after a change of the method)")
    args = p.parse_args(argv)
    args.scm_hyper = {k: float(v) for k, v in (item.split("=", 1) for item in args.scm_hyper)}
    if args.table:
        print(table(Path(args.table), args.columns))
        return 0
    if args.dataset is None:
        p.error("--dataset is required unless --table is given")
    for seed in args.seeds:
        for variant in args.variants:
            out = run_one(args.dataset, variant, seed, args)
            print(json.dumps({k: out.get(k) for k in ("dataset", "variant", "seed", "g_star", "learned_edges",
                                                      "shd_A_cpdag", "shd_direct_dag", "iia_causes.coordinates.empty",
                                                      "iia_causes.coordinates.dag")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
