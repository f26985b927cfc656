"""Analyse a VAE class of your own with causalvae (not one of ``causalvae.models``).

The model below is a plain ``nn.Module`` written by hand: an ``encoder`` and a ``decoder``
``nn.Sequential``, two linear heads ``mu`` / ``logvar``, ``forward(x) -> (recon, mu, logvar)`` and
no ``sites`` attribute.  Sites are then simply its module paths (``encoder.1`` is the first ReLU,
``mu`` the latent means).  What nothing in a module path can say is declared once, as data:
``SPEC = ModelSpec(latent_site="mu", reconstruction=0, logvar_site="logvar")`` -- the latent mean
is ``mu``, the reconstruction the first output -- and passed to every intervention function; the
stages of the sites (encoder / latent / decoder) follow from it and the traced graph
(:func:`causalvae.interventions.site_roles`).  It is trained with an ordinary training loop on the
tabular ``scm-linear`` dataset, then analysed:

1. computational graph (torch.fx -> networkx) and its unit expansion;
2. input manipulation (:func:`causalvae.interventions.factor_effects`), unit ablation
   (:func:`~causalvae.interventions.ablation_effects`), unit -> unit edge effects and latent
   perturbation ``do(mu_i = c)`` (:func:`~causalvae.interventions.latent_effects`);
3. the causal unit graph (edges kept by a Benjamini-Hochberg test on standard errors from four
   independent input batches) and unit classes;
4. exports (GraphML, DOT, JSON, SVG, effect matrices as CSV + NPZ) under ``--out``.

Run ``python examples/own_vae.py --quick --out runs/own_vae`` (seconds) or without ``--quick``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from causalvae import causal, data, graph, interventions
from causalvae.effects import EffectMatrix
from causalvae.interventions import ModelSpec
from causalvae.io import write_json
from causalvae.units import parse_factor, site_of

SPEC = ModelSpec(latent_site="mu", reconstruction=0, logvar_site="logvar")  # forward -> (recon, mu, logvar)
ENCODER_SITES = ["encoder.1", "encoder.3"]  # post-ReLU outputs of the two hidden layers
REPLICATES = 4
DECODER_SITES = ["decoder.1"]


class TinyVAE(nn.Module):
    """A hand-written Gaussian MLP VAE; ``z = mu`` in eval mode."""

    def __init__(self, dim: int, latent_dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decoder(z), mu, logvar


def train_own_loop(model: TinyVAE, x: np.ndarray, *, steps: int, beta: float, obs_std: float, seed: int) -> float:
    """An ordinary beta-VAE training loop (Gaussian likelihood with std ``obs_std``); returns the last loss."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the reparameterisation noise of this script's own model
    xt = torch.as_tensor(x)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        batch = xt[torch.randint(len(xt), (128,), generator=gen)]
        recon, mu, logvar = model(batch)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        loss = ((recon - batch).pow(2).sum(1) / (2 * obs_std**2) + beta * kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss.detach())


def replicated(measure: Callable[[int], EffectMatrix]) -> EffectMatrix:
    """``measure(r)`` for ``r`` in ``range(REPLICATES)``, averaged with standard errors."""
    return EffectMatrix.average([measure(r) for r in range(REPLICATES)])


def save_matrix(matrix: EffectMatrix, out: Path, name: str) -> None:
    matrix.save(out / f"{name}.npz")
    matrix.to_frame().to_csv(out / f"{name}.csv")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (a few seconds)")
    parser.add_argument("--out", default="runs/own_vae", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n, steps, n_pairs, n_x = (1000, 300, 64, 64) if args.quick else (10_000, 4000, 256, 256)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ds = data.load("scm-linear", n=n, seed=args.seed)
    x = ds.images(np.arange(len(ds)))
    torch.manual_seed(args.seed)
    model = TinyVAE(x.shape[1], latent_dim=ds.n_factors)
    loss = train_own_loop(model, x, steps=steps, beta=1.0, obs_std=0.1, seed=args.seed)
    print(f"trained TinyVAE ({sum(p.numel() for p in model.parameters())} parameters) "
          f"for {steps} steps on {ds.name}: loss {loss:.3f}")

    # 1. computational graph, its unit expansion and the role of every site (from SPEC and the graph)
    comp = graph.extract(model, torch.as_tensor(x[:4]))
    units = graph.unit_graph(comp, sites=[*ENCODER_SITES, SPEC.latent_site, *DECODER_SITES])
    stages = {site: role.stage for site, role in interventions.site_roles(model, spec=SPEC).items()}
    print(f"computational graph: {comp.number_of_nodes()} nodes; unit graph: {units.number_of_nodes()} units, "
          f"{units.number_of_edges()} structural edges")

    # 2. interventions at three levels
    xa = x[:n_x]
    # signed mean changes on REPLICATES independent batches: averaged, with batch-means standard errors
    responses = replicated(lambda r: interventions.factor_effects(
        model, ds, sites=[*ENCODER_SITES, SPEC.latent_site], n_pairs=n_pairs // REPLICATES,
        seed=args.seed * REPLICATES + r, statistic="mean", spec=SPEC))
    latent_cols = [t for t in responses.targets if site_of(t) == SPEC.latent_site]
    factor_unit = responses.select(targets=[t for t in responses.targets if t not in latent_cols])
    factor_latent = responses.select(targets=latent_cols)
    on_mu = interventions.ablation_effects(model, xa, sites=ENCODER_SITES, targets=[SPEC.latent_site], kind="mean",
                                           spec=SPEC)
    parts = np.array_split(xa, REPLICATES)
    edges = replicated(lambda r: interventions.edge_effects(model, parts[r], sites=[*ENCODER_SITES, SPEC.latent_site],
                                                            kind="zero", statistic="mean", spec=SPEC))
    latent = interventions.latent_effects(model, xa, targets=[*DECODER_SITES, "output_l2"], statistic="mean",
                                          spec=SPEC)
    ces = latent.select(targets=["output_l2"]).values[:, 0]
    for name, m in {"factor_unit": factor_unit, "factor_latent": factor_latent, "ablation_mu": on_mu,
                    "unit_edges": edges, "latent_effects": latent}.items():
        save_matrix(m, out, name)

    # 3. causal unit graph (an edge moves its target by >= 0.1 of its spread; BH q <= 0.05 on the replicate
    #    standard errors) and unit classes (on response magnitudes, DESIGN's E|change|).  Which factor DAG the
    #    network implements is the causal-abstraction alignment of `causalvae run` (docs/causal.md).
    spread = interventions.activation_spread(model, xa, sites=[*ENCODER_SITES, SPEC.latent_site], spec=SPEC).values
    G = causal.causal_unit_graph([factor_unit, factor_latent, edges], stages=stages, spread=spread, alpha=0.05,
                                 error="fdr")
    magnitudes = interventions.factor_effects(model, ds, sites=[*ENCODER_SITES, SPEC.latent_site], n_pairs=n_pairs,
                                              seed=args.seed, spec=SPEC)  # "mean_abs": E|a(x') - a(x)| / spread
    classes = causal.classify_units(magnitudes)
    best_latent = {f: factor_latent.targets[int(np.argmax(np.abs(row)))] for f, row in
                   zip(factor_latent.sources, factor_latent.values)}

    # 4. exports
    graph.write_graphml(comp, out / "computational.graphml")
    graph.write_graphml(G, out / "unit.graphml")
    graph.write_dot(G, out / "unit.dot")
    graph.write_graph_json(G, out / "unit.json")
    counts = classes["class"].value_counts().to_dict()
    summary = {"loss": loss, "n_units": int(len(classes)), "unit_classes": {k: int(v) for k, v in counts.items()},
               "unit_graph_edges": G.number_of_edges(), "ces_per_latent": ces.tolist(),
               "best_latent_per_factor": best_latent}
    write_json(out / "summary.json", summary)

    print(f"causal unit graph: {G.number_of_nodes()} nodes, {G.number_of_edges()} significant edges (BH q <= 0.05)")
    print("unit classes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("most responsive latent per factor: " + ", ".join(f"{parse_factor(f)} -> {u}" for f, u in best_latent.items()))
    print("CES per latent (E||D(z) - D(z~_i)||, c in -3..3): " + " ".join(f"{v:.2f}" for v in ces))
    print(f"wrote {out}/ (GraphML, DOT, JSON, effect matrices CSV + NPZ, summary.json)")
    return summary


if __name__ == "__main__":
    main()
