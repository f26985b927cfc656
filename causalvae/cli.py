"""The ``causalvae`` command line.

Every sub-command imports its implementation lazily, so ``causalvae --help`` is instant.
Errors a user can fix (bad option values, missing files, unknown names, a busy or foreign run
folder, a full disk) print one line and exit with status 2; ``--debug`` (before or after the
sub-command) shows the traceback instead.  Every option's help states its default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from causalvae.argtypes import device, hyper_parameter, non_negative_int, positive_float, positive_int
from causalvae.errors import is_user_error, one_line


class _HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to each option's help unless the help states it (flags and required options aside)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if ("(default" in text or not action.option_strings or action.required or action.nargs == 0
                or action.default is argparse.SUPPRESS):
            return text
        return f"{text} (default: {'none' if action.default is None else '%(default)s'})"


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (plus a pointer to --help), exit status 2; help with every default."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

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
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the sample")
    p.add_argument("--path", default=None, help="official file (or folder) of a dataset read from disk")
    p.set_defaults(handler=_cmd_datasets)

    for register in _REGISTRARS:
        register(sub)
    for command in sub.choices.values():  # --debug after the sub-command too; SUPPRESS keeps one given before
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show full tracebacks on errors")
    return parser


def _register_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline: train, intervene, analyse, report")
    p.add_argument("--dataset", default="causal-sprites", help="dataset to analyse (see `causalvae datasets`)")
    p.add_argument("--path", default=None, help="official file (or folder) of a dataset read from disk")
    p.add_argument("--variant", default="beta-vae", help="VAE variant to train")
    _training_arguments(p)
    p.add_argument("--hyper", type=hyper_parameter, action="append", default=[], metavar="KEY=VALUE",
                   help="variant hyper-parameter, repeatable, e.g. --hyper beta=8 (default: the variant's)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seeds data, weights, batches and analyses")
    p.add_argument("--checkpoint", default=None, help="analyse an existing checkpoint instead of training")
    p.add_argument("--out", default="runs/default",
                   help="run folder; one holding this configuration's run is resumed, another's is refused")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the run outputs of another configuration in --out first")
    _analysis_arguments(p)
    p.add_argument("--quick", action="store_true",
                   help="tiny configuration for smoke tests: few training steps and analysis inputs "
                        "(docs/pipeline.md)")
    p.set_defaults(handler=_lazy("causalvae.pipeline", "run_command"))


def _training_arguments(p: argparse.ArgumentParser) -> None:
    per_dataset = "(default: per dataset, see docs/pipeline.md)"
    p.add_argument("--latent-dim", type=positive_int, default=None, help=f"latent coordinates {per_dataset}")
    p.add_argument("--steps", type=non_negative_int, default=None,
                   help=f"training steps, 0 with --checkpoint {per_dataset}")
    p.add_argument("--n", type=positive_int, default=None, help=f"dataset size to draw {per_dataset}")
    p.add_argument("--batch-size", type=positive_int, default=None, help=f"training mini-batch size {per_dataset}")
    p.add_argument("--lr", type=positive_float, default=None, help=f"Adam learning rate {per_dataset}")
    p.add_argument("--device", type=device, default="cpu", help="torch device: cpu, cuda, cuda:N or mps")


def _analysis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-analysis", type=positive_int, default=None, help="inputs of every sweep (default: 64)")
    p.add_argument("--n-pairs", type=positive_int, default=None,
                   help="factor-controlled pairs per factor (default: 64)")


def _register_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="variants x seeds table of arXiv 2505.03530 (resumable)")
    p.add_argument("--variants", default="vae,beta-vae,factor-vae", help="comma-separated variants")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds 0 .. SEEDS-1 per variant")
    p.add_argument("--dataset", default="dsprites", help="dataset to analyse (see `causalvae datasets`)")
    _training_arguments(p)
    p.add_argument("--out", default="runs/compare", help="folder of the cells and the table")
    _analysis_arguments(p)
    p.add_argument("--quick", action="store_true", help="tiny configuration, for smoke tests")
    p.set_defaults(handler=_lazy("causalvae.sweep.compare", "compare_command"))


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

    register(sub, _run_artifacts)


def _run_artifacts():
    """The run-folder registry the pipeline's stages declare (the report layer cannot import the pipeline)."""
    from causalvae.pipeline import run_artifacts

    return run_artifacts()


def _register_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="variants x datasets x seeds grid from a TOML/JSON file, locally or on Ray")
    p.add_argument("grid", help="grid file (.toml or .json): variants, datasets, seeds, options, analysis")
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="where the cells run")
    p.add_argument("--address", default=None,
                   help="Ray cluster address, e.g. auto, HOST:6379, ray://HOST:10001 (default: start a local one)")
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
    except Exception as exc:
        if args.debug or not is_user_error(exc):
            raise
        print(f"causalvae {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
