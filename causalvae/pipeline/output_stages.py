"""Final stages: disentanglement metrics, exports of every matrix / graph / table, the report."""

from __future__ import annotations

import math

import numpy as np

from causalvae.effects import EffectMatrix
from causalvae.io import write_json, write_text
from causalvae.pipeline.context import RunContext
from causalvae.report.artifacts import ArtifactRegistry


def disentanglement(ctx: RunContext) -> None:
    """The disentanglement suite on the model's latent representation (:func:`latent_measures.disentanglement_codes`).

    For a VQ-VAE the codes are categorical indices: only the metrics that treat them so are kept (MIG,
    modularity, DCI's tree ensembles, the active count); the log names the ones left out.
    """
    from causalvae import metrics
    from causalvae.pipeline import latent_measures as lm

    cfg, ds = ctx.config, ctx.dataset
    n_pool = min(len(ds), 6000)
    rows = np.sort(np.random.default_rng(cfg.seed + 2).choice(len(ds), size=n_pool, replace=False))
    codes, n_bins = lm.disentanglement_codes(ctx.model, ds, indices=rows, device=cfg.device)
    continuous = [k for k, kind in enumerate(ds.factor_kinds) if kind == "continuous"]
    factors, _ = metrics.discrete_factors(ds.factors[rows], columns=continuous)   # the suite assumes classes
    cache = metrics.CodeCache(factors, codes=codes)
    n_train = int(n_pool * 2 / 3)
    scores = metrics.suite(cache, n_train=n_train, n_test=n_pool - n_train, sampled=False,
                           kl=ctx.effects["latent_information"], n_bins=n_bins, seed=cfg.seed)
    if lm.is_quantised(ctx.model):
        dropped = sorted(k for k in scores if not k.startswith(CATEGORICAL_CODE_METRICS))
        scores = {k: v for k, v in scores.items() if k.startswith(CATEGORICAL_CODE_METRICS)}
        ctx.folder.log(f"  VQ code indices are categories: not reported {', '.join(dropped)} "
                       "(they read codes as numbers or Gaussians)")
    for key, value in scores.items():
        ctx.metric(f"disentanglement.{key}", value)


#: Suite metrics defined for categorical codes (mutual information, tree-ensemble importances, activity).
CATEGORICAL_CODE_METRICS = ("mig", "modularity", "dci.random-forest.", "n_active_latents")


#: Larger graphs are unreadable as one picture (and slow to lay out): they get GraphML / DOT / JSON only.
MAX_RENDER_NODES, MAX_RENDER_EDGES = 400, 1500


def export(ctx: RunContext) -> None:
    """Write effect matrices (NPZ + CSV), graphs (GraphML, DOT, JSON, SVG), tables (CSV) and metrics.json.

    Only what the stages declare (``ctx.artifacts``): an undeclared output is refused before anything is written.
    """
    from causalvae import graph
    from causalvae.report.graph_drawing import circuit_drawing

    folder, registry = ctx.folder, _registry(ctx)
    produced = {"effect": [n for n, m in ctx.effects.items() if isinstance(m, EffectMatrix)],
                "graph": list(ctx.graphs), "table": list(ctx.tables)}
    registry.check_registered(produced)
    for s in registry.unproduced(produced, [n for n in folder.status if folder.ok(n)]):
        folder.log(f"  export: {s.kind} {s.name} is listed as an output of {s.stage}, which finished without it")
    for name, matrix in ctx.effects.items():
        if isinstance(matrix, EffectMatrix):
            matrix.save(folder.path(f"effects/{name}.npz"))
            _write_csv(matrix.to_frame(), folder.path(f"effects/{name}.csv"))
    for name, G in ctx.graphs.items():
        graph.write_graphml(G, folder.path(f"graphs/{name}.graphml"))
        graph.write_dot(G, folder.path(f"graphs/{name}.dot"))
        graph.write_graph_json(G, folder.path(f"graphs/{name}.json"))
        if name.startswith("circuit_"):  # readable: unit by unit when small, else collapsed per site
            write_text(folder.path(f"graphs/{name}.svg"), circuit_drawing(G)[0].decode("utf-8"))
        elif G.number_of_nodes() <= MAX_RENDER_NODES and G.number_of_edges() <= MAX_RENDER_EDGES:
            graph.render(G, folder.path(f"graphs/{name}.svg"))
    for name, table in ctx.tables.items():
        _write_csv(table, folder.path(f"tables/{name}.csv"), index=False)
    write_metrics(ctx)


def write_metrics(ctx: RunContext) -> None:
    clean = {k: json_safe(v) for k, v in sorted(ctx.metrics.items())}
    write_json(ctx.folder.path("metrics.json"), clean)


def report(ctx: RunContext) -> None:
    from causalvae.report import build_report

    path = build_report(ctx.folder.root, _registry(ctx))
    ctx.folder.log(f"  report: {path}")


def _registry(ctx: RunContext) -> ArtifactRegistry:
    if ctx.artifacts is None:
        raise ValueError("ctx.artifacts is None: export and report need the run's artifact registry "
                         "(causalvae.pipeline.run_artifacts(), set by causalvae.pipeline.run)")
    return ctx.artifacts


def json_safe(value):
    """NaN / inf are not JSON: they are written as null (a metric that is undefined for this run).

    >>> json_safe({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _write_csv(frame, path, *, index: bool = True) -> None:
    from causalvae.io import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=index)
