"""Throughput of procedural dSprites rendering (images/s, one core), measured side by side.

Variants, interleaved and best-of-N on the same random grid indices:

- ``lazy[batch]`` : ``load("dsprites").x[indices]`` (vectorised, chunks of 256) -- the library path
- ``per-image``   : the same images rendered with one renderer call per image (the naive loop)
- ``uint8 lookup``: indexing an in-memory uint8 image array and converting to float32, i.e. what
                    holding the official .npz in memory costs (the floor for any loader)

The renderer is pure numpy elementwise code, which runs on one core.

Run:  .venv/bin/python benchmarks/bench_data_render.py [--quick]
Writes benchmarks/results/data_render.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from causalvae.data import load
from causalvae.data.dsprites import SpriteObserver, FACTOR_NAMES
from causalvae.io import write_text

RESULTS = Path(__file__).resolve().parent / "results" / "data_render.md"


def _timed(fn) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description="dSprites rendering throughput")
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    args = parser.parse_args()
    n_images, repeats = (2_000, 3) if args.quick else (8_192, 5)

    grid = load("dsprites")
    indices = np.sort(np.random.default_rng(0).choice(len(grid), n_images, replace=False))
    factors = grid.factors[indices]
    observe = SpriteObserver(FACTOR_NAMES)
    stored = (grid.x[indices][:, 0] > 0).astype(np.uint8)        # an in-memory uint8 copy, like the .npz
    n_loop = n_images // 8                                        # the naive loop is slow: time a slice

    variants = {
        "lazy[batch]": (lambda: grid.x[indices], n_images),
        "per-image": (lambda: [observe(factors[i:i + 1]) for i in range(n_loop)], n_loop),
        "uint8 lookup": (lambda: stored[np.arange(n_images)][:, None].astype(np.float32), n_images),
    }
    best = {name: (np.inf, 0.0) for name in variants}
    for _ in range(repeats):                                      # interleaved: load drifts hit all variants
        for name, (fn, _) in variants.items():
            seconds, load_avg = _timed(fn)
            if seconds < best[name][0]:
                best[name] = (seconds, load_avg)

    rate = {name: variants[name][1] / best[name][0] for name in variants}
    lines = [
        "# dSprites procedural rendering throughput",
        "",
        f"`.venv/bin/python benchmarks/bench_data_render.py{' --quick' if args.quick else ''}` -- "
        f"{n_images} random grid images, best of {repeats} (interleaved), one core, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs.",
        "",
        "| variant | images/s | 1-min load avg at best run |",
        "|---|---:|---:|",
        *[f"| {name} | {rate[name]:,.0f} | {best[name][1]:.2f} |" for name in variants],
        "",
        f"- lazy[batch] / per-image: **{rate['lazy[batch]'] / rate['per-image']:.1f}x**",
        f"- lazy[batch] / uint8 lookup: **{rate['lazy[batch]'] / rate['uint8 lookup']:.3f}x**",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_text(RESULTS, text)


if __name__ == "__main__":
    main()
