"""Wall time of a tiny sweep grid on 1 vs 2 workers (local processes, and a local Ray cluster).

The grid is 2 variants x 2 seeds of ``scm-linear`` in the tiny quick configuration (4 cells, one
thread each).  Configurations run interleaved, best-of-N, each into a fresh folder (so no cell is
reused); the 1-minute load average is recorded for every timing.  The first Ray round includes
starting the cluster; Ray rounds start and stop their own cluster, as ``causalvae sweep --backend ray``
without ``--address`` does.

Run:  .venv/bin/python benchmarks/bench_sweep.py [--repeats 2]
Writes benchmarks/results/sweep.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from causalvae.io import write_text
from causalvae.sweep import SweepGrid, sweep

RESULTS = Path(__file__).resolve().parent / "results" / "sweep.md"
TINY = {"quick": True, "steps": 10, "n": 200, "n_analysis": 8, "n_pairs": 8}
CONFIGS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def timed_sweep(backend: str, workers: int, out: Path) -> tuple[float, float]:
    grid = SweepGrid(variants=("vae", "beta-vae"), datasets=("scm-linear",), seeds=(0, 1), options=TINY, out=str(out))
    start = time.perf_counter()
    result = sweep(grid, backend=backend, workers=workers, write=False)
    seconds = time.perf_counter() - start
    if result.missing or any(o.state != "done" for o in result.outcomes):
        raise RuntimeError(f"{backend} x{workers}: cells missing {result.missing}")
    return seconds, os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description="tiny sweep grid: 1 vs 2 workers")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    times: dict[tuple[str, int], list[tuple[float, float]]] = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for backend, workers in CONFIGS:
                times[(backend, workers)].append(timed_sweep(backend, workers, Path(tmp) / f"{backend}{workers}-{r}"))
    best = {c: min(t for t, _ in ts) for c, ts in times.items()}
    lines = [f"# Sweep wall time: tiny grid (4 cells), 1 vs 2 workers", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; best of {args.repeats}, "
             "interleaved; load = 1-min load average after each timing.", "",
             "| backend | workers | best (s) | all runs (s @ load) | speed-up vs 1 worker |", "|---|---|---|---|---|"]
    for backend, workers in CONFIGS:
        runs = ", ".join(f"{t:.1f} @ {load:.1f}" for t, load in times[(backend, workers)])
        lines.append(f"| {backend} | {workers} | {best[(backend, workers)]:.1f} | {runs} | "
                     f"{best[(backend, 1)] / best[(backend, workers)]:.2f}x |")
    lines += ["", "Command: `.venv/bin/python benchmarks/bench_sweep.py --repeats "
              f"{args.repeats}`", ""]
    text = "\n".join(lines)
    print(text)
    write_text(RESULTS, text)


if __name__ == "__main__":
    main()
