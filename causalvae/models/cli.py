"""``causalvae train`` / ``causalvae evaluate``: arguments and handlers (torch imported only when run).

Wiring into the main command::

    p = sub.add_parser("train", help="train a VAE variant on a dataset")
    add_train_arguments(p)
    p.set_defaults(handler=_lazy("causalvae.models.cli", "train_command"))
    p = sub.add_parser("evaluate", help="reconstruction, per-latent KL and traversals of a checkpoint")
    add_evaluate_arguments(p)
    p.set_defaults(handler=_lazy("causalvae.models.cli", "evaluate_command"))

Stand-alone: ``python -m causalvae.models.cli train|evaluate ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from causalvae.argtypes import device, hyper_parameter, positive_float, positive_int


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``train`` options to ``parser`` (cheap: no torch import)."""
    parser.add_argument("--dataset", required=True, help="dataset name for causalvae.data.load")
    parser.add_argument("--n", type=positive_int, default=None, help="dataset size to draw (default: per dataset)")
    parser.add_argument("--path", default=None, help="local file for datasets read from disk (default: none)")
    parser.add_argument("--variant", default="beta-vae", help="vae, beta-vae, beta-tc-vae, factor-vae, dip-vae-ii, vq-vae")
    parser.add_argument("--latent-dim", type=positive_int, default=10, help="latent coordinates")
    parser.add_argument("--steps", type=positive_int, required=True, help="total training steps of the run")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="mini-batch size")
    parser.add_argument("--lr", type=positive_float, default=1e-4, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seeds data draw, weights, batches and noise")
    parser.add_argument("--device", type=device, default="cpu", help="torch device (cpu, cuda, cuda:N, mps)")
    parser.add_argument("--out", default="runs/train", help="checkpoint directory (resumed if it holds a run)")
    parser.add_argument("--checkpoint-every", type=positive_int, default=500, help="steps between checkpoints")
    parser.add_argument("--hyper", type=hyper_parameter, action="append", default=[], metavar="KEY=VALUE",
                        help="variant hyper-parameter, repeatable, e.g. --hyper beta=8 (default: the variant's)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def train_command(args: argparse.Namespace) -> int:
    """Run ``causalvae train`` from parsed arguments; prints a short summary, returns 0."""
    from causalvae.data import load
    from causalvae.folder_lock import FolderLock
    from causalvae.models.training import train
    from causalvae.models.variants import make_vae

    kwargs = {"n": args.n, "seed": args.seed}
    if args.path is not None:
        kwargs["path"] = args.path
    with FolderLock(args.out):  # a second train into this folder would duplicate the log history
        dataset = load(args.dataset, **kwargs)
        model = make_vae(args.variant, input_shape=dataset.obs_shape, latent_dim=args.latent_dim, seed=args.seed,
                         **dict(args.hyper))
        result = train(model, dataset, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       device=args.device, checkpoint_dir=args.out, checkpoint_every=args.checkpoint_every,
                       progress=not args.no_progress)
    last = result.history[-1] if result.history else {}
    terms = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "step")
    print(f"trained {args.variant} on {dataset.name} to step {result.steps}: {terms}")
    print(f"checkpoint: {result.checkpoint}  log: {result.checkpoint.parent / 'log.jsonl'}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``evaluate`` options to ``parser`` (cheap: no torch import)."""
    parser.add_argument("--checkpoint", required=True, help="a last.safetensors written by train")
    parser.add_argument("--dataset", required=True, help="dataset name for causalvae.data.load")
    parser.add_argument("--path", default=None, help="local file for datasets read from disk (default: none)")
    parser.add_argument("--n", type=positive_int, default=2048, help="observations to evaluate on")
    parser.add_argument("--seed", type=int, default=0, help="seeds the dataset and the evaluation sample")
    parser.add_argument("--figure", default=None, help="write a latent-traversal figure here, PNG/SVG (default: none)")
    parser.add_argument("--json", default=None, help="write the numbers here as JSON (default: none)")
    return parser


def evaluate_command(args: argparse.Namespace) -> int:
    """Print reconstruction error vs the constant-image baseline and per-latent KL (a VQ-VAE: code entropy per
    position and codebook usage); optional figure (Gaussian latents) / JSON."""
    import numpy as np

    from causalvae.data import load
    from causalvae.io import write_json
    from causalvae.models.checkpoint import load_checkpoint, load_model
    from causalvae.models.diagnostics import (ACTIVE_KL_THRESHOLD, code_entropy, code_usage, latent_kl,
                                              reconstruction_quality)
    from causalvae.models.traversals import plot_traversals
    from causalvae.models.vq import VQVAE

    model = load_model(args.checkpoint)
    step = load_checkpoint(args.checkpoint).training.get("step")
    dataset = load(args.dataset, seed=args.seed, **({"path": args.path} if args.path else {}))
    if tuple(model.config.input_shape) != tuple(dataset.obs_shape):
        raise ValueError(f"checkpoint {args.checkpoint} expects observations of shape "
                         f"{tuple(model.config.input_shape)}, dataset {dataset.name!r} has {tuple(dataset.obs_shape)}")
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(dataset), size=min(args.n, len(dataset)), replace=False))
    quality = reconstruction_quality(model, dataset, indices=idx)
    quantised = isinstance(model, VQVAE)
    # a VQ-VAE has no posterior: the information a position carries is its code entropy (models.diagnostics)
    name, information = (("code_entropy", code_entropy(model, dataset, indices=idx)) if quantised
                         else ("latent_kl", latent_kl(model, dataset, indices=idx)))
    summary = {"checkpoint": str(args.checkpoint), "variant": model.config.variant, "step": step,
               "dataset": dataset.name, **quality, name: information.tolist(),
               "active_latents": int((information > ACTIVE_KL_THRESHOLD).sum())}
    print(f"{model.config.variant} at step {step} on {quality['n']:.0f} {dataset.name} observations:")
    print(f"  reconstruction NLL {quality['nll']:.2f} nats/obs (constant image {quality['baseline_nll']:.2f}), "
          f"MSE {quality['mse']:.5f} (constant image {quality['baseline_mse']:.5f})")
    what = ("active positions {}/{}; code entropy (nats) per position " if quantised
            else "active latents {}/{}; KL per latent ")
    print("  " + what.format(summary["active_latents"], len(information))
          + " ".join(f"{v:.2f}" for v in information))
    if quantised:
        used = code_usage(model, dataset, indices=idx).sum(0) > 0
        summary["codes_used"] = int(used.sum())
        print(f"  codebook: {used.sum()} of {len(used)} codes used")
    if args.figure and quantised:
        print("  traversals: not drawn (a VQ-VAE position takes codebook vectors, there is no latent value to sweep)")
    elif args.figure:
        image = np.asarray(dataset.x[idx[:1]], dtype=np.float32)[0]
        plot_traversals(model, image, args.figure, latent_kl=information,
                        title=f"{model.config.variant}, {dataset.name}, step {step}")
        print(f"  traversals: {args.figure}")
    if args.json:
        write_json(args.json, summary)
    return 0


def cli_train(argv: Sequence[str] | None = None) -> int:
    """Stand-alone ``train``: ``cli_train(["--dataset", "dsprites", "--steps", "1000"])``."""
    parser = add_train_arguments(argparse.ArgumentParser(prog="causalvae train"))
    return train_command(parser.parse_args(argv))


def cli_evaluate(argv: Sequence[str] | None = None) -> int:
    """Stand-alone ``evaluate``: ``cli_evaluate(["--checkpoint", "runs/x/last.safetensors", ...])``."""
    parser = add_evaluate_arguments(argparse.ArgumentParser(prog="causalvae evaluate"))
    return evaluate_command(parser.parse_args(argv))


if __name__ == "__main__":
    commands = {"train": cli_train, "evaluate": cli_evaluate}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python -m causalvae.models.cli {{train,evaluate}} ...")
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
