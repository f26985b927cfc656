"""Benchmark: circuit discovery with the engine against a naive per-unit hook loop, in one run.

Encoder circuit of one factor of causal-sprites on the 64x64 conv VAE (``make_vae("beta-vae")``,
random weights unless ``--checkpoint``), behaviour = the change of one latent mean.  Contenders:

- engine, screened: :func:`causalvae.interventions.circuit_discovery.find_circuit` as the pipeline
  runs it (attribution screen, top ``--verify`` units measured exactly, cached clean passes and
  downstream-only replays for every ``m(S)``);
- engine, exact: the same with every unit measured exactly (``n_verify`` = all units);
- hook loop: every unit's denoising and noising score from one full forward pass per unit and
  direction (a patch hook), every ``m(S)`` of the same search from full forward passes with ablation
  hooks (:func:`causalvae.interventions.ablate_outside` with the same fixed reference).

All three run the same torch-free search (grid, bisection, pruning, random baseline).  The hook loop
and the exact engine must find the same circuit with the same faithfulness.

    .venv/bin/python benchmarks/bench_circuits.py                # a few minutes on a busy 2-core machine
    .venv/bin/python benchmarks/bench_circuits.py --pairs 8      # quicker
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from causalvae.causal import circuits as circ
from causalvae.data import factor_pairs, load
from causalvae.interventions import ablate_outside
from causalvae.interventions.circuit_discovery import find_circuit
from causalvae.interventions.circuit_patching import PairRunner, latent_behaviour
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.ops import patch
from causalvae.models import load_model, make_vae

LATENT = "latent.mu"


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, os.getloadavg()[0], value


def hook_loop(model, runner: PairRunner, *, latents: list[int], reference, target: float, n_random: int,
              seed: int) -> tuple[circ.Search, np.ndarray]:
    """Exact scores from one full forward pass per unit and direction; every m(S) from full passes."""
    x, xp = torch.as_tensor(runner.x), torch.as_tensor(runner.xp)
    sites = runner.sites
    with torch.no_grad():
        acts = [forward_capture(model, inp, [*sites, LATENT])[0] for inp in (x, xp)]
        base = [a[LATENT][:, latents].double().numpy() for a in acts]
        scores = []
        for site in sites:
            for u in range(runner.n_units[site]):
                den = forward_capture(model, x, [LATENT], ops={site: patch([u], acts[1][site])})[0][LATENT]
                noi = forward_capture(model, xp, [LATENT], ops={site: patch([u], acts[0][site])})[0][LATENT]
                d = (den[:, latents].double().numpy() - base[0]) @ runner.signs
                n = (base[1] - noi[:, latents].double().numpy()) @ runner.signs
                scores.append((d.mean() + n.mean()) / 2)
    ids = [u for s in sites for u in runner.units_by_site[s]]
    ranking = [ids[i] for i in np.argsort(-np.asarray(scores), kind="stable")]

    def evaluate(sets):
        out = []
        for keep in sets:
            mu = [ablate_outside(model, inp, set(keep), sites=sites, outcome=LATENT, reference=reference)
                  for inp in (runner.x, runner.xp)]
            out.append(float(((mu[1] - mu[0])[:, latents] @ runner.signs).mean()))
        return np.array(out)

    found = circ.search(ranking, evaluate=evaluate, target=target)
    random = evaluate(circ.random_circuits(runner.units_by_site, found.units, n=n_random, seed=seed))
    return found, (random - found.m_empty) / (found.m_all - found.m_empty)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a trained model (default: random weights, seed 0)")
    parser.add_argument("--factor", default="brightness")
    parser.add_argument("--latent", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--verify", type=int, default=32)
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    ds = load("causal-sprites", n=2000, seed=0)
    model = load_model(args.checkpoint) if args.checkpoint else make_vae("beta-vae", input_shape=ds.obs_shape,
                                                                         latent_dim=6, seed=0)
    model.eval()
    pairs = factor_pairs(ds, args.factor, n=args.pairs, seed=0)
    reference = ds.images(np.arange(64))
    sites = [s.name for s in model.sites if s.stage == "encoder"]
    behaviour = latent_behaviour([args.latent])
    common = dict(sites=sites, behaviour=behaviour, reference=reference, target_faithfulness=0.8)
    n_units = sum(s.n_units for s in model.sites if s.stage == "encoder")
    print(f"encoder circuit of {args.factor!r} (latent {args.latent}) over {n_units} units, {args.pairs} pairs, "
          f"{'checkpoint ' + args.checkpoint if args.checkpoint else 'random weights'}; torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} cores")
    t_screen, load_screen, screened = timed(lambda: find_circuit(model, pairs, n_verify=args.verify, **common))
    t_exact, load_exact, exact = timed(lambda: find_circuit(model, pairs, n_verify=n_units, **common))
    if exact.curve is None:
        raise SystemExit(f"no search ran ({exact.status}); pick a factor / latent with an effect")
    runner = PairRunner(model, pairs, sites=sites, behaviour=behaviour, reference=reference)
    t_hook, load_hook, (hooked, random) = timed(lambda: hook_loop(
        model, runner, latents=[args.latent], reference=reference, target=0.8, n_random=20, seed=0))
    print("| contender | time (s) | load | speed-up vs hook loop | circuit size | faithfulness | random f (mean ± sd) |")
    print("|---|---|---|---|---|---|---|")
    for name, t, load_avg, size, f, rnd in (
            (f"engine, screen + exact top {args.verify}", t_screen, load_screen, screened.size,
             screened.faithfulness, screened.random),
            ("engine, every unit exact", t_exact, load_exact, exact.size, exact.faithfulness, exact.random),
            ("hook loop (full forward per unit / per m(S))", t_hook, load_hook, len(hooked.units),
             hooked.faithfulness, random)):
        print(f"| {name} | {t:.2f} | {load_avg:.1f} | {t_hook / t:.1f} | {size} | {f:.4f} | "
              f"{rnd.mean():.3f} ± {rnd.std(ddof=1):.3f} |")
    same = set(exact.units) == set(hooked.units)
    print(f"\nhook loop and exact engine find the same circuit: {same} (|f difference| "
          f"{abs(exact.faithfulness - hooked.faithfulness):.2e}); screened vs exact circuit Jaccard "
          f"{circ.jaccard(screened.units, exact.units):.3f}; screen-vs-exact Spearman on the verified units "
          f"{screened.screen_spearman:.3f}")


if __name__ == "__main__":
    main()
