"""Analyse the paper study: every cell's checkpoint under a study folder, the variant table and the CES–DCI analysis.

Cells are the folders ``STUDY/<dataset>/<variant>_seed<k>/`` written by ``examples/paper_study_train.sh``.
Each cell below ``--target-step`` is listed as unfinished and left out of every statistic.  Per-cell
numbers are cached in ``OUT/cells/``, so re-running after more cells finish measures only those.

    nice -n 5 .venv/bin/python examples/paper_study_analyse.py --study /work/study --out runs/study_analysis

Writes ``OUT/cells.csv``, ``table.csv``, ``correlations.csv``, ``study.json`` and ``study.md``
(:mod:`causalvae.sweep.study_report`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from causalvae.argtypes import positive_int


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", required=True, help="study folder holding <dataset>/<variant>_seed<k>/last.safetensors")
    p.add_argument("--out", required=True, help="analysis folder (per-cell cache and tables)")
    p.add_argument("--target-step", type=positive_int, default=10_000, help="training steps of a finished cell")
    p.add_argument("--n", type=positive_int, default=None,
                   help="dataset size to load (default: the whole dataset, as `causalvae train` used)")
    p.add_argument("--n-analysis", type=positive_int, default=64, help="inputs for CES, specificity, modularity")
    p.add_argument("--n-train", type=positive_int, default=2000, help="DCI / MIG training split")
    p.add_argument("--n-test", type=positive_int, default=1000, help="DCI test split")
    p.add_argument("--seed", type=int, default=0, help="seed of the analysis inputs and splits (same for every cell)")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--measure-unfinished", action="store_true",
                   help="also measure cells below --target-step and list their numbers as provisional "
                        "(they stay out of every mean, interval and correlation)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from causalvae import data
    from causalvae.sweep import study, study_report

    args = parse(argv)
    cells = study.find_cells(args.study)
    if not cells:
        print(f"no cells (<dataset>/<variant>_seed<k>/{study.CHECKPOINT}) under {args.study}", file=sys.stderr)
        return 1
    measured = [c for c in cells if args.measure_unfinished or c.step >= args.target_step]
    settings = study.StudySettings(n_analysis=args.n_analysis, n_train=args.n_train, n_test=args.n_test,
                                   seed=args.seed)
    records = study.measure_cells(measured, out=args.out, settings=settings, device=args.device,
                                  load_dataset=lambda name: data.load(name, n=args.n, seed=args.seed),
                                  progress=lambda line: print(line, file=sys.stderr, flush=True))
    records.update({c.name: {"dataset": c.dataset, "variant": c.variant, "seed": c.seed, "step": c.step,
                             "metrics": {}} for c in cells if c.name not in records})
    summary = study_report.write_study(args.out, records, target_step=args.target_step)
    print(f"{len(summary['finished'])} finished cells, {len(summary['unfinished'])} unfinished: "
          f"{', '.join(summary['unfinished']) or 'none'}")
    print(f"tables: {Path(args.out) / 'study.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
