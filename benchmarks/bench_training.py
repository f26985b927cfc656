"""Training throughput (images/s): ``causalvae.models.train`` versus bare PyTorch loops.

Same model (64x64 conv VAE, 10 latents), same batch size (64), same thread count (2).  Every
contender runs in fresh processes of its own, one process at a time and round-robin (``train``
tunes the process's allocator, which must not leak into the bare loops; and throughput varies
more between processes than within one, so several processes are measured).  Bare loops run
on a pre-materialised tensor; ours runs on the same array and on the lazy procedural dSprites
(rendered ahead by its prefetch thread).

    .venv/bin/python benchmarks/bench_training.py            # writes benchmarks/results/training.md
    .venv/bin/python benchmarks/bench_training.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causalvae.io import write_text  # noqa: E402
from causalvae.models import make_vae, train  # noqa: E402
from causalvae.models.losses import discriminator_loss  # noqa: E402

BATCH = 64
LATENT = 10


class BareLoop:
    """The textbook loop: random batches, BCE + beta*KL (+ FactorVAE TC and discriminator step)."""

    def __init__(self, variant: str, x: torch.Tensor, *, channels_last: bool) -> None:
        self.model = make_vae(variant, input_shape=(1, 64, 64), latent_dim=LATENT)
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.model.to(memory_format=self.fmt).train()
        self.x = x
        self.opt = torch.optim.Adam(self.model.vae_parameters(), lr=1e-4)
        self.disc_opt = (torch.optim.Adam(self.model.discriminator.parameters(), lr=1e-4, betas=(0.5, 0.9))
                         if self.model.discriminator is not None else None)
        self.g = torch.Generator().manual_seed(0)

    def __call__(self, steps: int) -> tuple[float, float]:
        """Run ``steps`` steps; return images per second and the fraction of time spent on batches."""
        model, hyper = self.model, self.model.config.hyper
        started, data_seconds = time.perf_counter(), 0.0
        for _ in range(steps):
            fetch_started = time.perf_counter()
            batch = self.x[torch.randint(0, len(self.x), (BATCH,), generator=self.g)].contiguous(
                memory_format=self.fmt)
            data_seconds += time.perf_counter() - fetch_started
            mu, logvar = model.encode(batch)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=self.g)
            logits = model.decode(z)
            recon = F.binary_cross_entropy_with_logits(logits, batch, reduction="sum") / BATCH
            kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).sum(1).mean()
            loss = recon + hyper.get("beta", 1.0) * kl
            if self.disc_opt is not None:
                loss = loss + hyper["gamma"] * model.discriminator(z).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            if self.disc_opt is not None:
                d_loss = discriminator_loss(model.discriminator, z, generator=self.g)
                self.disc_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                self.disc_opt.step()
            loss.item()
        seconds = time.perf_counter() - started
        return steps * BATCH / seconds, data_seconds / seconds


class OurLoop:
    """``causalvae.models.train`` on the same model; each call is one ``train`` call (loop time)."""

    def __init__(self, variant: str, data, *, retain_freed_memory: bool = True) -> None:
        self.model = make_vae(variant, input_shape=(1, 64, 64), latent_dim=LATENT)
        self.data, self.calls, self.retain = data, 0, retain_freed_memory

    def __call__(self, steps: int) -> tuple[float, float]:
        self.calls += 1
        result = train(self.model, self.data, steps=steps, batch_size=BATCH, progress=False, seed=self.calls,
                       retain_freed_memory=self.retain)
        return result.images_per_second, result.data_seconds / result.seconds


CONTENDERS = (
    ("beta-vae", "bare NCHW, oneDNN off"), ("beta-vae", "bare NCHW"), ("beta-vae", "bare channels_last"),
    ("beta-vae", "ours, allocator untouched"), ("beta-vae", "ours"),
    ("beta-vae", "ours (lazy dSprites, prefetch)"),
    ("factor-vae", "bare NCHW"), ("factor-vae", "bare channels_last"), ("factor-vae", "ours"),
)


def _contender(variant: str, loop: str, n_images: int):
    """Build one contender (in its own process)."""
    torch.set_num_threads(2)
    from causalvae.data import load

    dsprites = load("dsprites", seed=0)
    sample = np.sort(np.random.default_rng(0).choice(len(dsprites), n_images, replace=False))
    x_np = np.asarray(dsprites.x[sample], dtype=np.float32)
    if loop == "bare NCHW, oneDNN off":  # torch's native convolutions (im2col + GEMM)
        torch.backends.mkldnn.enabled = False
    if loop.startswith("bare"):
        return BareLoop(variant, torch.from_numpy(x_np), channels_last=loop.endswith("channels_last"))
    if loop.startswith("ours (lazy"):
        return OurLoop(variant, dsprites)
    return OurLoop(variant, x_np, retain_freed_memory=loop != "ours, allocator untouched")


def _measure(key: tuple[str, str], n_images: int, chunks: int, steps: int, warmup: int) -> dict:
    """In a fresh process: build the contender, warm up, time ``chunks`` chunks of ``steps`` steps.

    Returns per chunk the img/s, the 1-min load average and the fraction of time spent obtaining
    batches, and the minor page faults per timed step.
    """
    run = _contender(*key, n_images)
    run(warmup)  # allocations, oneDNN kernel selection, the allocator's steady state
    measured, faults_before = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(chunks):
        load_before = os.getloadavg()[0]
        rate, data_fraction = run(steps)
        measured.append((rate, max(load_before, os.getloadavg()[0]), data_fraction))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return {"chunks": measured, "faults_per_step": faults / (chunks * steps)}


def main(argv: list[str] | None = None) -> int:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per timed chunk")
    parser.add_argument("--chunks", type=int, default=5, help="timed chunks per process")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per process")
    parser.add_argument("--rounds", type=int, default=5, help="round-robin rounds (fresh processes each)")
    parser.add_argument("--n-images", type=int, default=4096, help="size of the in-memory training set")
    parser.add_argument("--long-steps", type=int, default=200,
                        help="steps of one long train() call on the lazy dSprites (prefetch in steady state)")
    parser.add_argument("--quick", action="store_true", help="2-step chunks, 1 round, no results file")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "training.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.chunks, args.rounds, args.warmup = 2, 1, 1, 2
    processes: dict[tuple[str, str], list[dict]] = {k: [] for k in CONTENDERS}
    # one process per task, one at a time: no contender shares a process or a core with another
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
        for _ in range(args.rounds):  # round-robin: neighbouring processes see the same machine load
            for key in CONTENDERS:
                processes[key].append(
                    pool.submit(_measure, key, args.n_images, args.chunks, args.steps, args.warmup).result())
        lazy = ("beta-vae", "ours (lazy dSprites, prefetch)")
        long_rate, _, long_data = pool.submit(_measure, lazy, args.n_images, 1, args.long_steps,
                                              args.warmup).result()["chunks"][0]

    def typical(key: tuple[str, str], column: int) -> float:
        return float(np.median([np.median([c[column] for c in p["chunks"]]) for p in processes[key]]))

    lines = [f"# Training throughput (images/s), batch {BATCH}, 2 threads",
             "", f"`{' '.join(['.venv/bin/python', 'benchmarks/bench_training.py', *(argv or sys.argv[1:])])}`",
             "", f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}. "
             f"Each contender runs in a fresh process per round ({args.rounds} rounds, round-robin, one process "
             f"at a time): {args.warmup} warm-up steps, then {args.chunks} timed chunks of {args.steps} steps. "
             f"*Typical* is the median over processes of each process's median chunk (what one run gets: "
             f"throughput varies between processes more than within one); *best* is the best chunk of all, with "
             f"the 1-min load average during it. Ratios compare typical rates. *Data*: typical share of the time "
             f"spent obtaining batches. *Page faults*: minor page faults per timed step, median over processes "
             f"[min-max] (a count, so immune to machine load).", "",
             "| variant | loop | img/s (typical) | img/s (best) | vs bare NCHW | vs best bare | load at best "
             "| data | page faults / step |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for variant, loop in CONTENDERS:
        key = (variant, loop)
        rate, nchw = typical(key, 0), typical((variant, "bare NCHW"), 0)
        best_bare = max(nchw, typical((variant, "bare channels_last"), 0))
        top, load_avg, _ = max(c for p in processes[key] for c in p["chunks"])
        faults = [p["faults_per_step"] for p in processes[key]]
        lines.append(f"| {variant} | {loop} | {rate:.0f} | {top:.0f} | {rate / nchw:.2f}x | {rate / best_bare:.2f}x "
                     f"| {load_avg:.2f} | {typical(key, 2):.1%} | {np.median(faults):.0f} "
                     f"[{min(faults):.0f}-{max(faults):.0f}] |")
    lines += ["", f"Each chunk of ours is one `train()` call, so the lazy dataset's prefetch worker starts afresh "
              f"every {args.steps} steps. One {args.long_steps}-step call on the lazy dSprites (fresh process): "
              f"{long_rate:.0f} img/s, {long_data:.1%} of the time obtaining batches."]
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.quick:
        write_text(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
