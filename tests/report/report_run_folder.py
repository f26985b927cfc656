"""A realistic run folder, written the way the pipeline writes one, for the report tests.

Planted content the tests look for: SHD = 3 between the aligned graph and the true DAG
(one correct, one reversed, one missing, one extra edge), a learned DAG, three expected effect
matrices and one more, two circuits, four expected tables and one more (70 rows), a traversal
grid, and markup-bearing strings in files that must come out escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from causalvae.effects import EffectMatrix
from causalvae.graph.dot import write_dot
from causalvae.graph.dot import render
from causalvae.graph.export import write_graphml
from causalvae.graph.schema import new_graph
from causalvae.units import factor_id, unit_ids

FACTORS = ("shape", "scale", "orientation", "pos_x")
TRUE_EDGES = (("shape", "scale"), ("scale", "orientation"), ("shape", "pos_x"))
ALIGNED_EDGES = (("shape", "scale"), ("orientation", "scale"), ("pos_x", "orientation"))
LEARNED_EDGES = (("shape", "scale"), ("scale", "orientation"))
LATENTS = unit_ids("latent.mu", 6)
UNITS = unit_ids("encoder.conv1", 16) + unit_ids("encoder.conv2", 32) + LATENTS
CIRCUIT_FACTORS = ("shape", "scale")
HOSTILE = "<script>alert('x')</script>"
METRICS = {  # flat dotted keys as the pipeline writes them, plus one nested group
    "alignment.shd": 3, "alignment.precision": 0.3333, "alignment.recall": 0.3333,
    "alignment.skeleton_precision": 0.6667,
    "ces.paper": {"value": 3.99, "ci_low": 3.5, "ci_high": 4.4}, "ces.active_only": 5.2,
    "discovery.shd": 1, "discovery.precision": 1.0, "discovery.recall": 0.6667,
    "disentanglement": {"dci_disentanglement": {"value": 0.412, "ci_low": 0.35, "ci_high": 0.47},
                        "mig": {"value": 0.1234, "ci_low": 0.1, "ci_high": 0.15}, "sap": 0.05},
    "n_active_latents": 4, "recon.mse": 21.75, "specificity.paper": 1.7, "specificity.bounded": 0.31,
    "circuit_modularity.mean": 0.64, "unit_class.dead": None,
    HOSTILE: 1.0,
}
CONFIG = {"dataset": "causal-sprites", "variant": "beta-vae", "latent_dim": 6, "steps": 300, "seed": 0,
          "device": "cpu", "lr": 0.0005, "versions": {"torch": "2.13.0", "causalvae": "0.1.0"},
          "timings": {"train_s": 41.2, "interventions_s": 3.5}, "note": HOSTILE}
STATUS = {stage: {"state": "done", "seconds": seconds} for stage, seconds in  # in run order
          (("data", 0.3), ("train", 41.2), ("diagnostics", 0.8), ("graph", 0.4), ("input_manipulation", 3.5),
           ("readouts", 1.2), ("unit_graph", 0.2), ("alignment", 0.2), ("mediation", 1.1), ("circuits", 0.3),
           ("motifs_and_classes", 0.5), ("export", 0.9))}
TABLES = {
    "mediation": pd.DataFrame({"treatment": ["factor.scale", "factor.shape"],
                               "mediator": ["latent.mu[1]", "latent.mu[0]"],
                               "te": [0.42, 0.91], "nie": [0.40, 0.83], "nde": [0.02, 0.08],
                               "q_value": [0.04, 0.001]}),
    "motifs": pd.DataFrame({"layer": ["encoder.conv1", "encoder.conv2"], "motif": ["detector", "convergent"],
                            "count": [7, 3], "null_mean": [2.5, 4.0], "z": [3.1, -0.6]}),
    "unit_class_fractions": pd.DataFrame({"layer": ["encoder.conv1", "encoder.conv2", HOSTILE],
                                          "dead": [0.25, 0.125, 0.0], "monosemantic": [0.5, 0.375, 1.0],
                                          "polysemantic": [0.125, 0.25, 0.0]}),
    "circuits": pd.DataFrame({"factor": ["factor.shape", "factor.scale"], "size": [4, 4], "carried": [0.85, 0.81],
                              "faithfulness": [0.93, 0.88]}),
    "unit_classes": pd.DataFrame({"unit": unit_ids("encoder.conv1", 70), "class": ["dead", "monosemantic"] * 35}),
}
def planted_matrix(sources, targets, *, seed: int) -> np.ndarray:
    """Small noise plus a strong diagonal band: source i acts mostly on target i mod len(targets)."""
    rng = np.random.default_rng(seed)
    values = 0.05 * rng.random((len(sources), len(targets)))
    for i in range(len(sources)):
        values[i, i % len(targets)] += 1.0
    return values


def write_graph(G, folder: Path, name: str) -> None:
    write_graphml(G, folder / f"{name}.graphml")
    write_dot(G, folder / f"{name}.dot")
    render(G, folder / f"{name}.svg")


def factor_graph(kind: str, edges, *, ids) -> object:
    G = new_graph(kind)
    for name in FACTORS:
        G.add_node(ids(name), role="factor")
    for a, b in edges:
        attrs = {} if kind == "factor" else {"effect": 0.5, "weight": 0.5, "intervention": "induced",
                                              "statistic": "sum", "status": "found"}
        G.add_edge(ids(a), ids(b), **attrs)
    if kind == "aligned":  # the alignment also draws reference edges it did not find, marked missing
        G.add_edge(ids("shape"), ids("pos_x"), effect=0.0, weight=0.0, intervention="induced", statistic="sum",
                   status="missing")
    return G


def circuit_graph(factor: str, kind: str = "circuit"):
    G = new_graph(kind, factor=factor)
    G.add_node(factor_id(factor), site="factor", index=-1, layer=0, role="factor", active=True)
    previous = factor_id(factor)
    for layer, (uid, role) in enumerate((("encoder.conv1[3]", "hidden"), ("encoder.conv2[7]", "hidden"),
                                         ("latent.mu[1]", "latent")), start=1):
        site, index = uid.split("[")
        G.add_node(uid, site=site, index=int(index[:-1]), layer=layer, role=role, active=True)
        G.add_edge(previous, uid, effect=0.8 / layer, weight=0.8 / layer, intervention="zero-ablation",
                   statistic="mean_abs")
        previous = uid
    return G


def computational_graph():
    G = new_graph("computational")
    for i, (name, stage) in enumerate((("x", "input"), ("encoder.conv1", "encoder"), ("latent.mu", "latent"),
                                       ("decoder.deconv1", "decoder"), ("output", "output"))):
        G.add_node(name, op="call_module" if 0 < i < 4 else ("placeholder" if i == 0 else "output"),
                   target=name, module_type="Conv2d" if "conv" in name else "", stage=stage,
                   tensor_shape="1x64x64", n_params=10 * i)
    nodes = list(G.nodes)
    G.add_edges_from(zip(nodes, nodes[1:]))
    return G


def traversal_mosaic(n_latents: int = 3, n_steps: int = 7, size: int = 16) -> np.ndarray:
    """A stand-in traversal grid: latent r moves a blob along x, along y or grows it."""
    yy, xx = np.mgrid[:size, :size] / (size - 1)
    mosaic = np.ones((n_latents * (size + 1), n_steps * (size + 1)))
    for r in range(n_latents):
        for s, t in enumerate(np.linspace(0.2, 0.8, n_steps)):
            cx, cy, radius = (t, 0.5, 0.15) if r == 0 else (0.5, t, 0.15) if r == 1 else (0.5, 0.5, 0.3 * t)
            tile = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius ** 2))
            mosaic[r * (size + 1):r * (size + 1) + size, s * (size + 1):s * (size + 1) + size] = tile
    return mosaic


def make_run_folder(root: Path) -> Path:
    """Write a complete run folder under ``root`` and return it."""
    from causalvae.report.plots import new_figure, save_figure

    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(CONFIG, indent=2))
    (root / "metrics.json").write_text(json.dumps(METRICS, indent=2))
    (root / "status.json").write_text(json.dumps(STATUS, indent=2))
    factors = [factor_id(f) for f in FACTORS]
    for name, sources, targets, seed in (("factor_latent", factors, LATENTS, 1), ("factor_unit", factors, UNITS, 2),
                                         ("latent_readout", LATENTS, factors, 3),
                                         ("unit_latent", UNITS[:8], LATENTS, 4)):
        EffectMatrix(planted_matrix(sources, targets, seed=seed), sources, targets, intervention="factor-pair",
                     statistic="mean_abs", n_samples=64, seed=seed).save(root / "effects" / f"{name}.npz")
    graphs = root / "graphs"
    graphs.mkdir()
    write_graph(factor_graph("factor", TRUE_EDGES, ids=str), graphs, "factor_true")
    write_graph(factor_graph("aligned", ALIGNED_EDGES, ids=factor_id), graphs, "aligned")
    write_graph(factor_graph("factor", LEARNED_EDGES, ids=str), graphs, "factor_learned")
    write_graph(computational_graph(), graphs, "computational")
    write_graph(circuit_graph("all", kind="unit"), graphs, "unit")
    for factor in CIRCUIT_FACTORS:
        write_graph(circuit_graph(factor), graphs, f"circuit_{factor}")
    (root / "tables").mkdir()
    for name, frame in TABLES.items():
        frame.to_csv(root / "tables" / f"{name}.csv", index=False)
    traversal = new_figure(5, 3)
    traversal.add_subplot().imshow(traversal_mosaic(), cmap="gray")
    save_figure(traversal, root / "figures" / "traversals.png", dpi=60)
    log = [f"[12:00:{i:02d}] > {stage} ...\n[12:00:{i:02d}]   {stage}: done" for i, stage in enumerate(STATUS)]
    (root / "log.txt").write_text("\n".join(log) + "\n" + HOSTILE + "\n")
    return root
