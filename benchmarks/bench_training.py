"""Training throughput (images/s): ``causalvae.models.train`` versus bare PyTorch loops.

Same model (64x64 conv VAE, 10 latents), same batch size (64), same thread count (2).
Contenders run round-robin in short chunks (so neighbouring chunks see the same load), the
best chunk counts, and the machine load (``os.getloadavg()[0]``) is recorded beside it.  Bare loops run on a
pre-materialised tensor; ours runs on the same array and on the lazy procedural dSprites
(rendered ahead by its prefetch thread).

    .venv/bin/python benchmarks/bench_training.py            # writes benchmarks/results/training.md
    .venv/bin/python benchmarks/bench_training.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
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

    def __call__(self, steps: int) -> float:
        """Run ``steps`` steps; return images per second."""
        model, hyper = self.model, self.model.config.hyper
        started = time.perf_counter()
        for _ in range(steps):
            batch = self.x[torch.randint(0, len(self.x), (BATCH,), generator=self.g)].contiguous(
                memory_format=self.fmt)
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
        return steps * BATCH / (time.perf_counter() - started)


class OurLoop:
    """``causalvae.models.train`` on the same model; each call is one ``train`` call (loop time)."""

    def __init__(self, variant: str, data) -> None:
        self.model = make_vae(variant, input_shape=(1, 64, 64), latent_dim=LATENT)
        self.data, self.calls = data, 0

    def __call__(self, steps: int) -> float:
        self.calls += 1
        result = train(self.model, self.data, steps=steps, batch_size=BATCH, progress=False, seed=self.calls)
        return result.images_per_second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="steps per timed chunk")
    parser.add_argument("--repeats", type=int, default=8, help="round-robin rounds")
    parser.add_argument("--n-images", type=int, default=4096, help="size of the in-memory training set")
    parser.add_argument("--quick", action="store_true", help="2-step chunks, 1 round, no results file")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "training.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 2, 1
    torch.set_num_threads(2)
    from causalvae.data import load

    dsprites = load("dsprites", seed=0)
    sample = np.sort(np.random.default_rng(0).choice(len(dsprites), args.n_images, replace=False))
    x_np = np.asarray(dsprites.x[sample], dtype=np.float32)
    x_t = torch.from_numpy(x_np)
    contenders = {
        ("beta-vae", "bare NCHW"): BareLoop("beta-vae", x_t, channels_last=False),
        ("beta-vae", "bare channels_last"): BareLoop("beta-vae", x_t, channels_last=True),
        ("beta-vae", "ours (in-memory array)"): OurLoop("beta-vae", x_np),
        ("beta-vae", "ours (lazy dSprites, prefetch)"): OurLoop("beta-vae", dsprites),
        ("factor-vae", "bare NCHW"): BareLoop("factor-vae", x_t, channels_last=False),
        ("factor-vae", "bare channels_last"): BareLoop("factor-vae", x_t, channels_last=True),
        ("factor-vae", "ours (in-memory array)"): OurLoop("factor-vae", x_np),
    }
    for run in contenders.values():  # warm-up (allocations, oneDNN kernel selection)
        run(2)
    rates: dict[tuple[str, str], list[tuple[float, float]]] = {k: [] for k in contenders}
    for _ in range(args.repeats):  # round-robin: neighbouring chunks see the same machine load
        for key, run in contenders.items():
            load_before = os.getloadavg()[0]
            rate = run(args.steps)
            rates[key].append((rate, max(load_before, os.getloadavg()[0])))
    best = {k: max(v) for k, v in rates.items()}
    median = {k: float(np.median([r for r, _ in v])) for k, v in rates.items()}
    lines = [f"# Training throughput (images/s), batch {BATCH}, 2 threads",
             "", f"`{' '.join(['.venv/bin/python', 'benchmarks/bench_training.py', *(argv or sys.argv[1:])])}`",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
             f"contenders run round-robin in chunks of {args.steps} steps, {args.repeats} rounds; img/s of the "
             f"best chunk (and the median chunk); load = 1-min load average during the best chunk.", "",
             "| variant | loop | img/s (best) | img/s (median) | vs bare NCHW | vs best bare | load |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for (variant, loop), (rate, load_avg) in best.items():
        nchw = best[(variant, "bare NCHW")][0]
        best_bare = max(best[(variant, "bare NCHW")][0], best[(variant, "bare channels_last")][0])
        lines.append(f"| {variant} | {loop} | {rate:.0f} | {median[(variant, loop)]:.0f} | {rate / nchw:.2f}x "
                     f"| {rate / best_bare:.2f}x | {load_avg:.2f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.quick:
        write_text(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
