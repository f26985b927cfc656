"""Stages that touch the dataset and the network: data, training, graph extraction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causalvae.pipeline.context import RunContext
from causalvae.report.artifacts import ArtifactSpec
from causalvae.units import unit_ids


#: What :func:`load_data` adds to the run folder.
DATA_ARTIFACTS = (ArtifactSpec.graph("factor_true", "True factor DAG", expected=True),)


def load_data(ctx: RunContext) -> None:
    from causalvae import data
    from causalvae.data.factor_dags import factor_graph

    cfg = ctx.config
    ds = data.load(cfg.dataset, n=cfg.n, seed=cfg.seed, path=cfg.path)
    rng = np.random.default_rng(cfg.seed + 1)
    rows = np.sort(rng.choice(len(ds), size=min(cfg.n_analysis, len(ds)), replace=False))
    ctx.dataset = ds
    ctx.x_analysis = ds.images(rows)
    ctx.graphs["factor_true"] = factor_graph(ds.name, ds.factor_names, ds.factor_kinds, ds.factor_dag.edges)
    ctx.folder.log(f"  {ds.name}: {len(ds)} observations {ds.obs_shape}, factors {list(ds.factor_names)}, "
                   f"{ctx.dataset.factor_dag.number_of_edges()} DAG edges; {len(rows)} analysis inputs")


def train_or_load(ctx: RunContext) -> None:
    from causalvae import models
    from causalvae.causal.discovery import skeleton
    from causalvae.models.scm_vae import SCMVAE

    cfg = ctx.config
    ckpt_path = ctx.folder.path("checkpoint/model.safetensors")
    if cfg.checkpoint is not None:
        model = models.load_model(cfg.checkpoint, device=cfg.device)
        if tuple(model.config.input_shape) != tuple(ctx.dataset.obs_shape):
            raise ValueError(f"checkpoint expects inputs of shape {tuple(model.config.input_shape)}, "
                             f"dataset {cfg.dataset!r} has {ctx.dataset.obs_shape}")
        models.save_checkpoint(ckpt_path, model)
    else:
        model = models.make_vae(cfg.variant, input_shape=ctx.dataset.obs_shape, latent_dim=cfg.latent_dim,
                                seed=cfg.seed, **cfg.hyper)
        if isinstance(model, SCMVAE):  # A's candidate edges: PC's skeleton on the labels (hybrid learning)
            model.restrict_support(skeleton(model.label_array(ctx.dataset)))
        result = models.train(model, ctx.dataset, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                              seed=cfg.seed, device=cfg.device, checkpoint_dir=ckpt_path.parent,
                              progress=ctx.folder.progress is not None)
        ctx.folder.log(f"  trained {cfg.steps} steps in {result.seconds:.1f}s ({result.images_per_second:.0f} img/s)")
        ctx.metric("train.seconds", result.seconds)
        models.save_checkpoint(ckpt_path, model)
    model.eval()
    ctx.model = model


#: What :func:`diagnostics` adds to the run folder (the figures it writes itself).
DIAGNOSTICS_ARTIFACTS = (
    ArtifactSpec.table("latent_kl", "KL per latent",
                       "KL divergence of each latent's posterior from the prior (nats); below 0.01 the latent is "
                       "collapsed."),
    ArtifactSpec.table("latent_code_entropy", "Code entropy per position (VQ-VAE)",
                       "Entropy of each position's code over the analysis inputs (nats); below 0.01 the position is "
                       "unused."),
    ArtifactSpec.figure("traversals", "Latent traversals",
                        "Each row decodes a sweep of one latent while the others stay fixed (rows sorted by KL)."),
    ArtifactSpec.figure("reconstructions", "Reconstructions",
                        "Analysis inputs (top) and their reconstructions from z = μ (bottom)."),
)


def diagnostics(ctx: RunContext) -> None:
    """Reconstruction quality against the best constant image, information per latent (KL, or a VQ-VAE's
    code entropy), traversal figure (Gaussian latents: a VQ position takes codebook vectors, not a sweep)."""
    from causalvae import models
    from causalvae.pipeline import latent_measures as lm

    cfg, model = ctx.config, ctx.model
    quality = models.reconstruction_quality(model, ctx.x_analysis, device=cfg.device)
    for key, value in quality.items():
        ctx.metric(f"recon.{key}", value)
    information = lm.latent_information(model, ctx.x_analysis, device=cfg.device)
    ctx.effects["latent_information"] = information
    ctx.metric("n_active_latents", int(lm.active(information).sum()))
    name = lm.information_name(model)
    ctx.tables[f"latent_{name}"] = pd.DataFrame({"latent": unit_ids(lm.latent_site(model), len(information)),
                                                 name: information})
    if lm.is_quantised(model):
        ctx.folder.log("  traversals: not drawn (a VQ-VAE position takes codebook vectors, there is no latent "
                       "value to sweep); code entropy per position in tables/latent_code_entropy.csv")
    if len(ctx.dataset.obs_shape) == 3:
        if not lm.is_quantised(model):
            models.plot_traversals(model, ctx.x_analysis[0], ctx.folder.path("figures/traversals.png"),
                                   latent_kl=information,
                                   title=f"{cfg.variant} on {cfg.dataset}: latent traversals (rows sorted by KL)")
        save_reconstructions(ctx)


def save_reconstructions(ctx: RunContext, n: int = 8) -> None:
    """``figures/reconstructions.png``: the first ``n`` analysis inputs over their reconstructions (z = μ)."""
    import torch

    from causalvae.report.plots import save_figure
    from causalvae.report.run_plots import reconstruction_grid

    x = ctx.x_analysis[:n]
    with torch.no_grad():
        x_hat = ctx.model.reconstruct(torch.as_tensor(x, device=ctx.config.device)).float().cpu().numpy()
    save_figure(reconstruction_grid(x, x_hat), ctx.folder.path("figures/reconstructions.png"), dpi=80)


#: What :func:`extract_graph` adds to the run folder.
GRAPH_ARTIFACTS = (ArtifactSpec.graph("computational", "Computational graph (torch.fx)", expected=True),)


def extract_graph(ctx: RunContext) -> None:
    import torch

    from causalvae import graph

    example = torch.as_tensor(ctx.x_analysis[:2], device=ctx.config.device)
    comp = graph.extract(ctx.model, example)
    ctx.graphs["computational"] = comp
    ctx.folder.log(f"  computational graph: {comp.number_of_nodes()} nodes, {comp.number_of_edges()} edges")
