"""The ``causalvae`` command line.

Every sub-command imports its implementation lazily, so ``causalvae --help`` is instant.
Errors a user can fix (bad option values, missing files, unknown names) print one line and
exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from causalvae.argtypes import non_negative_int, positive_int

USER_ERRORS = (ValueError, KeyError, FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (plus a pointer to --help), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _cmd_datasets(args: argparse.Namespace) -> int:
    from causalvae import data

    if args.name is None:
        for name in data.names():
            print(name)
        return 0
    ds = data.load(args.name, n=args.n, seed=args.seed, path=args.path)
    print(f"{ds.name}: {len(ds)} observations of shape {ds.obs_shape}")
    for name, kind in zip(ds.factor_names, ds.factor_kinds):
        col = ds.factors[:, ds.factor_index(name)]
        print(f"  factor {name:<12} {kind:<10} min {col.min():.4g}  max {col.max():.4g}  "
              f"distinct {len(set(col.tolist())) if len(col) <= 100_000 else 'many'}")
    edges = ", ".join(f"{a} -> {b}" for a, b in ds.factor_dag.edges) or "none (independent factors)"
    print(f"  factor DAG edges: {edges}")
    return 0


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return importlib.import_module(module).__getattribute__(function)(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="causalvae", description=(
        "Mechanistic interpretability of VAEs through causal interventions."))
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list the datasets, or summarise one")
    p.add_argument("name", nargs="?", help="dataset to summarise")
    p.add_argument("--n", type=positive_int, default=None, help="sample size (default: whole dataset)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--path", default=None, help="official file (or folder) of a dataset read from disk")
    p.set_defaults(handler=_cmd_datasets)

    for register in _REGISTRARS:
        register(sub)
    return parser


def _register_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline: train, intervene, analyse, report")
    p.add_argument("--dataset", default="causal-sprites")
    p.add_argument("--path", default=None, help="official file (or folder) of a dataset read from disk")
    p.add_argument("--variant", default="beta-vae")
    p.add_argument("--latent-dim", type=positive_int, default=None)
    p.add_argument("--steps", type=non_negative_int, default=None, help="training steps (0 with --checkpoint)")
    p.add_argument("--n", type=positive_int, default=None, help="dataset size to draw")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--checkpoint", default=None, help="analyse an existing checkpoint instead of training")
    p.add_argument("--out", default="runs/default", help="run folder")
    _analysis_arguments(p)
    p.add_argument("--quick", action="store_true", help="tiny configuration (seconds), for smoke tests")
    p.set_defaults(handler=_lazy("causalvae.pipeline", "run_command"))


def _analysis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-analysis", type=positive_int, default=None, help="inputs of every sweep (default 64)")
    p.add_argument("--n-pairs", type=positive_int, default=None, help="factor-controlled pairs per factor (default 64)")


def _register_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="variants x seeds table of arXiv 2505.03530 (resumable)")
    p.add_argument("--variants", default="vae,beta-vae,factor-vae", help="comma-separated variants")
    p.add_argument("--seeds", type=positive_int, default=3)
    p.add_argument("--dataset", default="dsprites")
    p.add_argument("--latent-dim", type=positive_int, default=None)
    p.add_argument("--steps", type=non_negative_int, default=None)
    p.add_argument("--n", type=positive_int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/compare", help="folder of the cells and the table")
    _analysis_arguments(p)
    p.add_argument("--quick", action="store_true", help="tiny configuration, for smoke tests")
    p.set_defaults(handler=_lazy("causalvae.pipeline.compare", "compare_command"))


def _register_models(sub: argparse._SubParsersAction) -> None:
    from causalvae.models.cli import add_evaluate_arguments, add_train_arguments

    p = sub.add_parser("train", help="train a VAE variant on a dataset (resumable)")
    add_train_arguments(p)
    p.set_defaults(handler=_lazy("causalvae.models.cli", "train_command"))
    p = sub.add_parser("evaluate", help="reconstruction, per-latent KL and traversals of a checkpoint")
    add_evaluate_arguments(p)
    p.set_defaults(handler=_lazy("causalvae.models.cli", "evaluate_command"))


def _register_graph(sub: argparse._SubParsersAction) -> None:
    from causalvae.graph.cli import add_graph_arguments

    p = sub.add_parser("graph", help="computational and unit graphs of a checkpoint (DOT, GraphML, JSON, SVG)")
    add_graph_arguments(p)
    p.set_defaults(handler=_lazy("causalvae.graph.cli", "graph_command"))


def _register_report(sub: argparse._SubParsersAction) -> None:
    from causalvae.report.cli import register

    register(sub)


def _register_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="variants x datasets x seeds grid from a TOML/JSON file, locally or on Ray")
    p.add_argument("grid", help="grid file (.toml or .json): variants, datasets, seeds, options, analysis")
    p.add_argument("--backend", choices=("local", "ray"), default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (e.g. auto, HOST:6379, ray://HOST:10001)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local processes (default: CPU count); CPUs of a Ray cluster started here")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads per cell")
    p.add_argument("--gpus-per-cell", type=float, default=1.0, help="GPUs a Ray task requests for a CUDA cell")
    p.add_argument("--max-retries", type=non_negative_int, default=3, help="re-runs of a cell whose worker died")
    p.add_argument("--out", default=None, help="folder of the cells and the table (default: the grid's out)")
    p.set_defaults(handler=_lazy("causalvae.sweep.command", "sweep_command"))


_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _register_run, _register_compare, _register_models, _register_graph, _register_report, _register_sweep]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("causalvae: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"causalvae {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
