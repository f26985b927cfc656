"""The run-everything facade: ``causalvae run`` and :func:`run`.

Stages (each recorded in ``status.json``; a failure keeps what earlier stages wrote and skips
the stages that need it): data → train (or load) → diagnostics → graph → input manipulation → latent
perturbation → unit ablation → read-outs → read-out ablation → unit graph → alignment → mediation → circuits →
motifs and unit classes → disentanglement metrics → export → report.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from causalvae.errors import is_fatal, is_user_error
from causalvae.pipeline import alignment_stages as a
from causalvae.pipeline import causal_stages as c
from causalvae.pipeline import circuit_stages as cs
from causalvae.pipeline import effect_stages as e
from causalvae.pipeline import model_stages as m
from causalvae.pipeline import output_stages as o
from causalvae.pipeline.config import RunConfig, check_config
from causalvae.pipeline.context import RunContext
from causalvae.pipeline.runner import Progress, RunWorkspace
from causalvae.report.artifacts import ArtifactRegistry, ArtifactSpec

__all__ = ["RunConfig", "run", "run_command", "check_config", "STAGES", "STAGE_TABLE", "Stage", "run_artifacts"]


@dataclass(frozen=True)
class Stage:
    """One stage of a run: its name (in ``status.json``), its body, the stages it needs, and the run-folder
    artifacts it declares (bound to this stage; the body stores them in ``ctx.effects`` / ``graphs`` /
    ``tables``, or writes a figure itself)."""

    name: str
    body: Callable[[RunContext], None]
    needs: tuple[str, ...] = ()
    artifacts: tuple[ArtifactSpec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "artifacts", tuple(a.of_stage(self.name) for a in self.artifacts))


#: The stages in run order.
STAGE_TABLE: tuple[Stage, ...] = (
    Stage("data", m.load_data, (), m.DATA_ARTIFACTS),
    Stage("train", m.train_or_load, ("data",)),
    Stage("diagnostics", m.diagnostics, ("train",), m.DIAGNOSTICS_ARTIFACTS),
    Stage("graph", m.extract_graph, ("train",), m.GRAPH_ARTIFACTS),
    Stage("input_manipulation", e.input_manipulation, ("train",), e.INPUT_MANIPULATION_ARTIFACTS),
    Stage("latent_perturbation", e.latent_perturbation, ("diagnostics",), e.LATENT_PERTURBATION_ARTIFACTS),
    Stage("unit_ablation", e.unit_ablation, ("train",), e.UNIT_ABLATION_ARTIFACTS),
    Stage("readouts", e.readout_effects, ("train",), e.READOUTS_ARTIFACTS),
    Stage("readout_ablation", e.readout_ablation, ("readouts",), e.READOUT_ABLATION_ARTIFACTS),
    Stage("unit_graph", c.unit_graph, ("input_manipulation", "unit_ablation", "readout_ablation"),
          c.UNIT_GRAPH_ARTIFACTS),
    Stage("alignment", a.alignment, ("readouts",), a.ALIGNMENT_ARTIFACTS),
    Stage("mediation", c.mediation, ("readouts", "diagnostics"), c.MEDIATION_ARTIFACTS),
    Stage("circuits", cs.circuits, ("input_manipulation", "readouts", "diagnostics"), cs.CIRCUITS_ARTIFACTS),
    Stage("motifs_and_classes", c.motifs_and_classes, ("unit_graph",), c.MOTIFS_AND_CLASSES_ARTIFACTS),
    Stage("disentanglement", o.disentanglement, ("diagnostics",)),
    Stage("export", o.export, ("data",)),
    Stage("report", o.report, ("export",)),
)
STAGES = tuple(stage.name for stage in STAGE_TABLE)


def run_artifacts() -> ArtifactRegistry:
    """The run-folder registry: every artifact the stages of :data:`STAGE_TABLE` declare, in run order.

    What ``export`` may write and what the report reads (``causalvae.report.build_report(run_dir,
    run_artifacts())``).

    >>> run_artifacts().spec("table", "alignment_iia").stage
    'alignment'
    """
    return ArtifactRegistry(a for stage in STAGE_TABLE for a in stage.artifacts)


#: Stages every other one needs: a user-fixable error there (a checkpoint that does not fit the dataset)
#: stops the run and reaches the caller, instead of a run folder of skipped stages.
ESSENTIAL_STAGES = ("data", "train")


def run(config: RunConfig, *, progress: Progress | None = None, overwrite: bool = False) -> RunContext:
    """Run every stage for ``config``, writing the run folder ``config.out``; returns the context.

    The folder is locked while the run executes; one holding another configuration's run is refused
    unless ``overwrite``, and one holding this configuration's run is resumed (see
    :mod:`causalvae.pipeline.runner`).

    Raises
    ------
    causalvae.errors.UserError : the folder is busy or holds another configuration's run.
    Exception : a user-fixable error of an essential stage (see :data:`ESSENTIAL_STAGES`), or a full disk.
    """
    import causalvae

    settings = {**config.to_dict(), "versions": _versions(causalvae.__version__)}
    folder = RunWorkspace(Path(config.out), progress=progress, config=settings, overwrite=overwrite)
    try:
        ctx = RunContext(config=config, folder=folder, artifacts=run_artifacts())
        folder.log(f"causalvae run: {config.dataset} / {config.variant} / seed {config.seed} -> {folder.root}")
        for stage in STAGE_TABLE:
            folder.run_stage(stage.name, lambda body=stage.body: body(ctx), needs=stage.needs,
                             abort_on=_stops_the_run(stage.name))
            if stage.name not in ("export", "report"):
                o.write_metrics(ctx)  # metrics so far survive a later failure
    finally:
        folder.close()
    return ctx


def _stops_the_run(stage: str) -> Callable[[BaseException], bool]:
    """Errors after which :func:`run` stops: a full disk anywhere, a user-fixable error in an essential stage."""
    essential = stage in ESSENTIAL_STAGES
    return lambda exc: is_fatal(exc) or essential and is_user_error(exc)


def _versions(own: str) -> dict[str, str]:
    from importlib import metadata

    versions = {"causalvae": own, "python": platform.python_version()}
    for dist in ("torch", "numpy", "networkx", "dowhy", "pgmpy", "scikit-learn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_command(args: argparse.Namespace) -> int:
    """``causalvae run``: resolve the options, run, print where the results are."""
    config = RunConfig.resolve(dataset=args.dataset, path=args.path, variant=args.variant, latent_dim=args.latent_dim,
                               steps=args.steps, n=args.n, batch_size=args.batch_size, lr=args.lr,
                               hyper=dict(args.hyper), seed=args.seed, device=args.device,
                               checkpoint=args.checkpoint, out=args.out, quick=args.quick or None,
                               n_analysis=args.n_analysis, n_pairs=args.n_pairs)
    check_config(config)
    ctx = run(config, progress=lambda line: print(line, file=sys.stderr, flush=True), overwrite=args.overwrite)
    failed = {k: v for k, v in ctx.folder.status.items() if v["state"] != "done"}
    print(f"run folder: {ctx.folder.root}")
    if (ctx.folder.root / "report.html").exists():
        print(f"report:     {ctx.folder.root / 'report.html'}")
    for name, status in failed.items():
        print(f"stage {name} {status['state']}: {status.get('error') or status.get('reason')}", file=sys.stderr)
    # stages skipped because they do not apply to the model (runner.NotApplicable) are no failure of the run
    return 1 if any(status["state"] == "failed" for status in failed.values()) else 0

