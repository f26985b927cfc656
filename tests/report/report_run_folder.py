"""A realistic run folder, written where the run-folder registry says the pipeline writes, for the report tests.

Planted content the tests look for: SHD = 3 between the aligned graph and the true DAG (one correct,
one reversed, one missing, one extra edge), a learned DAG, three expected effect matrices and one
more, three circuits (a small one drawn unit by unit, a large one drawn per site, one not found) with
their faithfulness curves, an IIA table with controls, the expected tables and one more (70 rows),
a training log, a traversal grid and reconstructions, a model that is barely disentangled with one
collapsed latent and one weak read-out, and markup-bearing strings in files that must come out escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from causalvae.effects import EffectMatrix
from causalvae.graph.dot import render, write_dot
from causalvae.graph.export import write_graphml
from causalvae.graph.schema import new_graph
from causalvae.pipeline import run_artifacts
from causalvae.units import factor_id, unit_ids

FACTORS = ("shape", "scale", "orientation", "pos_x")
TRUE_EDGES = (("shape", "scale"), ("scale", "orientation"), ("shape", "pos_x"))
ALIGNED_EDGES = (("shape", "scale"), ("orientation", "scale"), ("pos_x", "orientation"))
LEARNED_EDGES = (("shape", "scale"), ("scale", "orientation"))
LATENTS = unit_ids("latent.mu", 6)
UNITS = unit_ids("encoder.conv1", 16) + unit_ids("encoder.conv2", 32)
SILENT_UNITS = UNITS[:5]
#: name -> (status, number of circuit units per encoder site)
CIRCUITS = {"shape_encoder": ("found", 3), "scale_encoder": ("found", 30), "pos_x_decoder": ("not found", 0)}
#: The run-folder registry the pipeline's stages declare (what the report reads).
ARTIFACTS = run_artifacts()
HOSTILE = "<script>alert('x')</script>"
METRICS = {  # flat dotted keys as the pipeline writes them, plus one nested group
    "alignment.shd": 3, "alignment.precision": 0.3333, "alignment.recall": 0.3333,
    "alignment.iia.coordinates.dag": {"value": 0.91, "ci_low": 0.85, "ci_high": 0.95},
    "alignment.iia.coordinates.empty": {"value": 0.62, "ci_low": 0.55, "ci_high": 0.7},
    "alignment.control.no-swap": 0.4, "alignment.g_star.coordinates.n_edges": 3,
    "alignment.dag_edges": 4, "alignment.checked_edges": 3,
    "ces.paper": {"value": 3.99, "ci_low": 3.5, "ci_high": 4.4}, "ces.active_only": 5.2,
    "discovery.shd": 1, "discovery.precision": 1.0, "discovery.recall": 0.6667,
    "disentanglement": {"dci.random-forest.disentanglement": {"value": 0.042, "ci_low": 0.03, "ci_high": 0.05},
                        "mig": {"value": 0.1234, "ci_low": 0.1, "ci_high": 0.15}, "sap": 0.05},
    "n_active_latents": 5, "recon.mse": 0.004, "recon.baseline_mse": 0.016, "specificity.paper": 1.7,
    "specificity.bounded": 0.31, "circuit_modularity.mean": 0.64, "unit_class.dead": None,
    HOSTILE: 1.0,
}
CONFIG = {"dataset": "causal-sprites", "variant": "beta-vae", "latent_dim": 6, "steps": 300, "seed": 0,
          "device": "cpu", "lr": 0.0005, "versions": {"torch": "2.13.0", "causalvae": "0.1.0"},
          "timings": {"train_s": 41.2, "interventions_s": 3.5}, "note": HOSTILE}
STATUS = {stage: {"state": "done", "seconds": seconds} for stage, seconds in  # in run order
          (("data", 0.3), ("train", 41.2), ("diagnostics", 0.8), ("graph", 0.4), ("input_manipulation", 3.5), ("unit_ablation", 2.0),
           ("readouts", 1.2), ("unit_graph", 0.2), ("alignment", 0.2), ("mediation", 1.1), ("circuits", 0.3),
           ("motifs_and_classes", 0.5), ("export", 0.9))}
IIA = pd.DataFrame([{"hypothesis": hyp, "factor": "all", "n": 64, "strict": strict, "strict_low": strict - 0.05,
                     "strict_high": strict + 0.04, "graded": strict / 2, "distinguishing": 0.5, "alignment": alignment,
                     "network": network}
                    for hyp, base in (("empty", 0.62), ("dag", 0.91))
                    for alignment, network, strict in (("coordinates", "trained", base), ("random", "trained", 0.3),
                                                       ("no-swap", "trained", 0.4),
                                                       ("coordinates", "random-init", 0.12))])
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
    "readout_scores": pd.DataFrame({"factor": list(FACTORS), "kind": ["discrete"] + ["continuous"] * 3,
                                    "metric": ["accuracy", "r2", "r2", "r2"], "test": [0.97, 0.9, 0.002, 0.88],
                                    "baseline": [0.33, 0.0, 0.0, 0.0], "status": ["ok", "ok", "weak", "ok"]}),
    "circuits": pd.DataFrame([{"factor": name.rsplit("_", 1)[0], "part": name.rsplit("_", 1)[1], "status": status,
                               "reason": "" if status == "found" else "read-out too weak: held-out score 0.002 < 0.1",
                               "size": 2 * n, "n_units": 64, "faithfulness": 0.85 if n else np.nan,
                               "random_mean": 0.05 if n else np.nan, "random_sd": 0.01 if n else np.nan,
                               "overlap": 0.1 if n else np.nan, "overlap_with": "scale" if n else ""}
                              for name, (status, n) in CIRCUITS.items()]),
    "circuit_curves": pd.DataFrame([{"factor": name.rsplit("_", 1)[0], "part": name.rsplit("_", 1)[1],
                                     "size": size, "n_units": 64, "faithfulness": min(1.0, size / (2 * n))}
                                    for name, (_, n) in CIRCUITS.items() if n for size in (0, 2, 6, 16, 32, 64)]),
    "alignment_iia": IIA,
    "latent_kl": pd.DataFrame({"latent": LATENTS, "kl": [2.1, 1.5, 0.9, 0.4, 0.2, 0.001]}),
    "unit_classes": pd.DataFrame({"unit": unit_ids("encoder.conv1", 70),
                                  "class": ["silent"] * 5 + ["dead", "monosemantic"] * 32 + ["monosemantic"]}),
}


def planted_matrix(sources, targets, *, seed: int) -> np.ndarray:
    """Small noise plus a strong diagonal band: source i acts mostly on target i mod len(targets)."""
    rng = np.random.default_rng(seed)
    values = 0.05 * rng.random((len(sources), len(targets)))
    for i in range(len(sources)):
        values[i, i % len(targets)] += 1.0
    return values


def path_of(root: Path, kind: str, name: str, suffix: str) -> Path:
    path = root / f"{ARTIFACTS.spec(kind, name).path}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_graph(G, root: Path, name: str, *, draw: bool = True) -> None:
    write_graphml(G, path_of(root, "graph", name, ".graphml"))
    write_dot(G, path_of(root, "graph", name, ".dot"))
    if draw:
        render(G, path_of(root, "graph", name, ".svg"))


def factor_graph(kind: str, edges, *, ids) -> object:
    G = new_graph(kind)
    for name in FACTORS:
        G.add_node(ids(name), role="factor")
    for a, b in edges:
        attrs = {} if kind == "factor" else {"effect": 0.5, "weight": 0.5, "intervention": "interchange",
                                              "statistic": "mean_abs", "status": "found"}
        G.add_edge(ids(a), ids(b), **attrs)
    if kind == "aligned":  # the alignment also draws reference edges it did not find, marked missing
        G.add_edge(ids("shape"), ids("pos_x"), effect=0.0, weight=0.0, intervention="interchange",
                   statistic="mean_abs", status="missing")
    return G


def circuit_graph(factor: str, part: str, status: str, n_per_site: int, kind: str = "circuit"):
    """factor -> n units of conv1 -> n units of conv2 -> latent.mu[1] (endpoints only when not found)."""
    G = new_graph(kind, factor=factor, part=part, status=status)
    G.add_node(factor_id(factor), site="factor", index=-1, layer=0, role="factor", active=True)
    G.add_node("latent.mu[1]", site="latent.mu", index=1, layer=3, role="latent", active=True)
    previous = [factor_id(factor)]
    for layer, site in enumerate(("encoder.conv1", "encoder.conv2"), start=1):
        units = unit_ids(site, n_per_site)
        for i, uid in enumerate(units):
            G.add_node(uid, site=site, index=i, layer=layer, role="hidden", active=True)
            for source in previous:
                G.add_edge(source, uid, effect=0.8 / layer, weight=0.8 / layer, intervention="patch", statistic="mean")
        previous = units
    for source in previous:
        G.add_edge(source, "latent.mu[1]", effect=0.3, weight=0.3, intervention="patch", statistic="mean")
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
    from causalvae.report.run_plots import reconstruction_grid

    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(CONFIG, indent=2))  # first: the run claims the folder
    (root / "metrics.json").write_text(json.dumps(METRICS, indent=2))
    (root / "status.json").write_text(json.dumps(STATUS, indent=2))
    factors = [factor_id(f) for f in FACTORS]
    for name, sources, targets, seed in (("factor_latent", factors, LATENTS, 1),
                                         ("factor_unit", factors, UNITS, 2),
                                         ("latent_readout", LATENTS, factors, 3),
                                         ("unit_latent", UNITS[:8], LATENTS, 4)):
        values = planted_matrix(sources, targets, seed=seed)
        if name == "factor_unit":  # silent units' normalised responses are noise, and large
            values[:, [targets.index(u) for u in SILENT_UNITS]] = 50.0
        EffectMatrix(values, sources, targets, intervention="factor-pair", statistic="mean_abs", n_samples=64,
                     seed=seed).save(path_of(root, "effect", name, ".npz"))
    write_graph(factor_graph("factor", TRUE_EDGES, ids=str), root, "factor_true")
    write_graph(factor_graph("aligned", ALIGNED_EDGES, ids=factor_id), root, "aligned")
    write_graph(factor_graph("factor", LEARNED_EDGES, ids=str), root, "factor_learned")
    write_graph(computational_graph(), root, "computational")
    write_graph(circuit_graph("all", "encoder", "found", 2, kind="unit"), root, "unit")
    for name, (status, n) in CIRCUITS.items():
        factor, part = name.rsplit("_", 1)
        write_graph(circuit_graph(factor, part, status, n), root, f"circuit_{name}", draw=False)
    for name, frame in TABLES.items():
        frame.to_csv(path_of(root, "table", name, ".csv"), index=False)
    traversal = new_figure(5, 3)
    traversal.add_subplot().imshow(traversal_mosaic(), cmap="gray")
    save_figure(traversal, path_of(root, "figure", "traversals", ".png"), dpi=60)
    images = traversal_mosaic(1, 4, 16)[:16, :16][None, None].repeat(4, axis=0)
    save_figure(reconstruction_grid(images, images * 0.9), path_of(root, "figure", "reconstructions", ".png"), dpi=40)
    training = root / "checkpoint" / "log.jsonl"
    training.parent.mkdir()
    training.write_text("".join(json.dumps({"step": s, "loss": 900 / s + 50, "recon": 850 / s + 40, "kl": 10.0})
                                + "\n" for s in range(1, 301)))
    log = [f"[12:00:{i:02d}] > {stage} ...\n[12:00:{i:02d}]   {stage}: done" for i, stage in enumerate(STATUS)]
    (root / "log.txt").write_text("\n".join(log) + "\n" + HOSTILE + "\n")
    return root
