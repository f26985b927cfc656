"""Read a run folder for the report, never failing on a missing or broken artifact.

Each artifact comes back as an :class:`Artifact` that either holds its value or says what went
wrong (``missing`` or ``unreadable: ...``) and which pipeline stage (the names of
``status.json``) produces it, so the report can say "stage X failed or was skipped" instead of
crashing.  Outputs listed in :data:`EFFECTS`, :data:`GRAPHS` and :data:`TABLES` are expected
(their absence is reported); any other ``effects/*.npz`` or ``tables/*.csv`` is shown as well.
Where ``status.json`` records a stage as failed or skipped, that stage's files are withheld (they
are partial, or left by another run) and the stage counts as broken even if it writes no file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from causalvae.effects import EffectMatrix


class Output(NamedTuple):
    """A known output: the stage that computes it, its title, what it shows, and (tables) the
    columns to sort its rows by, most important first."""

    stage: str
    title: str
    caption: str
    sort_by: tuple[str, ...] = ()


#: Effect matrices (``effects/<name>.npz``); the first three are expected, the rest shown when present.
EFFECTS = {
    "factor_latent": Output("input_manipulation", "factor × latent",
                            "Response of each latent mean to a change of one factor of the input"),
    "latent_readout": Output("readouts", "latent → read-out factor",
                             "Effect of do(z_i = c) on the factors read out from the reconstruction"),
    "factor_unit": Output("input_manipulation", "factor × unit",
                          "Response of each unit to a change of one factor of the input"),
    "latent_decoder": Output("latent_perturbation", "latent → decoder unit",
                             "Change of each decoder unit under do(z_i = c)"),
    "latent_decoder_signed": Output("latent_perturbation", "latent → decoder unit (signed)",
                                    "Signed change of each decoder unit under do(z_i = c)"),
    "ces_per_latent": Output("latent_perturbation", "causal effect strength per latent",
                             "E‖D(z) − D(z̃_i)‖₂ for each latent i"),
    "unit_latent": Output("unit_ablation", "unit → latent", "Effect of ablating each unit on the latent means"),
    "unit_edges": Output("unit_ablation", "unit → unit (encoder)",
                         "Mean-ablation effect of each encoder unit on the units of the next site"),
    "decoder_edges": Output("unit_ablation", "latent → decoder unit → decoder unit",
                            "Mean-ablation effect of each latent and decoder unit on the units of the next site"),
    "decoder_readout": Output("readout_ablation", "decoder unit → read-out factor",
                              "Mean-ablation effect of each last-layer decoder unit on the factors read out "
                              "from the decoded output"),
}
EXPECTED_EFFECTS = ("factor_latent", "latent_readout", "factor_unit")
#: Graphs drawn in the report (``graphs/<name>.svg``, else rendered from a small ``.dot``).
GRAPHS = {
    "aligned": Output("alignment", "Factor graph implemented by the network (aligned)", ""),
    "factor_true": Output("alignment", "True factor DAG", ""),
    "computational": Output("graph", "Computational graph (torch.fx)", ""),
    "unit": Output("unit_graph", "Unit-level causal graph", ""),
}
OPTIONAL_GRAPHS = {"factor_learned": Output("alignment", "Factor DAG learned from the data (pgmpy)", "")}
#: Tables (``tables/<name>.csv``); the first four are expected, the rest shown when present.
TABLES = {
    "unit_class_fractions": Output("motifs_and_classes", "Unit classes per layer",
                                   "Fractions of dead / monosemantic / polysemantic / mixed units per layer."),
    "motifs": Output("motifs_and_classes", "Circuit motifs",
                     "Motif counts per layer against a degree-preserving null model."),
    "mediation": Output("mediation", "Mediation",
                        "Total, natural direct and natural indirect effects of each factor through each mediator.",
                        sort_by=("q_value", "p_value")),
    "circuits": Output("circuits", "Circuits", "Size, share of the factor's effect carried, and faithfulness "
                                               "(output change when everything outside the circuit is ablated)."),
    "unit_classes": Output("motifs_and_classes", "Unit classes", "Class of every unit from its factor responses."),
    "assignments": Output("alignment", "Unit-to-factor assignments", "Factor each unit or latent is assigned to."),
    "readout_scores": Output("readouts", "Factor read-outs", "How well each factor is read out from the output."),
    "unit_graph_blocks": Output("unit_graph", "Unit-graph density per block",
                                "Kept edges over tested unit pairs for each (source site, target site) block; "
                                "a density near 1 would be the network's wiring, not its effects.",
                                sort_by=("density",)),
}
EXPECTED_TABLES = ("unit_class_fractions", "motifs", "mediation", "circuits")
#: DOT files larger than this are not rendered here (the pipeline leaves big graphs undrawn on purpose).
MAX_DOT_RENDER_BYTES = 150_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Artifact:
    """One file of a run folder: its value, or why there is none (``problem``), or a ``note``."""

    path: Path
    stage: str
    value: Any = None
    problem: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class RunFolder:
    """Everything the report reads from a run folder (see :func:`read_run_folder`)."""

    root: Path
    config: Artifact
    status: Artifact
    metrics: Artifact
    effects: dict[str, Artifact]
    graphs: dict[str, Artifact]
    circuits: dict[str, Artifact]
    graph_data: dict[str, Artifact]
    tables: dict[str, Artifact]
    traversals: Artifact
    log: Artifact
    stages: dict[str, list[Artifact]] = field(default_factory=dict)


def read_run_folder(run_dir: str | Path) -> RunFolder:
    """Read every artifact the report uses from ``run_dir``.

    ``stages`` groups the expected artifacts by the pipeline stage that produces them; ``status``
    is the pipeline's own record (``status.json``: stage -> ``{"state", "seconds", "error" |
    "reason"}``), optional and not part of ``stages``.

    Raises
    ------
    FileNotFoundError, NotADirectoryError : when ``run_dir`` itself is not an existing folder.
    """
    root = Path(run_dir)
    if not root.exists():
        raise FileNotFoundError(f"run folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a run folder, got the file {str(root)!r}")
    graphs = root / "graphs"
    circuit_names = sorted({p.stem.removeprefix("circuit_") for ext in ("svg", "dot")
                            for p in graphs.glob(f"circuit_*.{ext}")})
    optional_graphs = {n: o for n, o in OPTIONAL_GRAPHS.items() if any(graphs.glob(f"{n}.*"))}
    folder = RunFolder(
        root=root,
        config=_read(root / "config.json", "configuration", _json_object),
        status=_read(root / "status.json", "pipeline status", _json_object),
        metrics=_read(root / "metrics.json", "metrics", _json_object),
        effects=_read_named(root / "effects", "npz", EFFECTS, EXPECTED_EFFECTS, "interventions", EffectMatrix.load),
        graphs={name: _read_graph_image(graphs, name, out.stage) for name, out in (GRAPHS | optional_graphs).items()},
        circuits={name: _read_graph_image(graphs, f"circuit_{name}", "circuits") for name in circuit_names},
        graph_data={name: _read(graphs / f"{name}.graphml", GRAPHS[name].stage, _graphml)
                    for name in ("aligned", "factor_true")},
        tables=_read_named(root / "tables", "csv", TABLES, EXPECTED_TABLES, "tables", _csv),
        traversals=_read(root / "figures" / "traversals.png", "diagnostics", png_bytes),
        log=_read(root / "log.txt", "logging", _text),
    )
    unfinished = _unfinished_stages(folder.status)
    folder = _withhold(folder, unfinished)
    stages: dict[str, list[Artifact]] = {}
    for artifact in _expected_artifacts(folder):
        stages.setdefault(artifact.stage, []).append(artifact)
    if not folder.circuits:
        stages.setdefault("circuits", []).append(Artifact(graphs / "circuit_*.svg", "circuits", problem="missing"))
    for stage, state in unfinished.items():  # a stage without files of its own still did not finish
        if stage not in stages:
            stages[stage] = [Artifact(folder.status.path, stage, problem=f"recorded as {state} in status.json")]
    return dataclasses.replace(folder, stages=stages)


def _unfinished_stages(status: Artifact) -> dict[str, str]:
    """Stage -> state ("failed", "skipped", ...) of every stage ``status.json`` does not record as done."""
    if not status.ok:
        return {}
    records = {stage: record if isinstance(record, dict) else {"state": record}
               for stage, record in status.value.items()}
    return {stage: str(r.get("state")) for stage, r in records.items() if r.get("state") != "done"}


def _withhold(folder: RunFolder, unfinished: dict[str, str]) -> RunFolder:
    """``folder`` with the files of unfinished stages replaced by a problem saying why they are not shown."""
    def check(artifact: Artifact) -> Artifact:
        if artifact.stage not in unfinished or not artifact.ok or artifact.note is not None:
            return artifact
        return Artifact(artifact.path, artifact.stage,
                        problem=f"present but not shown: its stage was {unfinished[artifact.stage]} in this run")

    groups = ("effects", "graphs", "circuits", "graph_data", "tables")
    return dataclasses.replace(folder, traversals=check(folder.traversals),
                               **{g: {k: check(a) for k, a in getattr(folder, g).items()} for g in groups})


def png_bytes(path: Path) -> bytes:
    """The bytes of a PNG file, checked for the PNG signature and a non-empty image."""
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image (bad signature)")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise ValueError(f"PNG image has size {width}x{height}")
    return data


def svg_bytes(path: Path) -> bytes:
    """The bytes of an SVG file, checked to hold an ``<svg`` element."""
    data = path.read_bytes()
    if b"<svg" not in data[:4096]:
        raise ValueError("not an SVG image (no <svg> element near the start)")
    return data


def dot_to_svg(path: Path) -> bytes:
    """Render a Graphviz DOT file to SVG bytes with ``dot`` (through pygraphviz)."""
    import pygraphviz

    graph = pygraphviz.AGraph(str(path))
    return graph.draw(format="svg", prog="dot")


def _read(path: Path, stage: str, reader: Callable[[Path], Any]) -> Artifact:
    if not path.exists():
        return Artifact(path, stage, problem="missing")
    try:
        return Artifact(path, stage, value=reader(path))
    except Exception as exc:  # noqa: BLE001 - any broken artifact is reported, not raised
        return Artifact(path, stage, problem=f"unreadable: {type(exc).__name__}: {exc}")


def _read_named(folder: Path, ext: str, known: dict[str, Output], expected: tuple[str, ...], default_stage: str,
                reader: Callable[[Path], Any]) -> dict[str, Artifact]:
    """Expected files first (missing ones included), then every other ``*.<ext>``: known ones, then the rest."""
    present = {p.stem: p for p in sorted(folder.glob(f"*.{ext}"))}
    names = [*expected, *(n for n in known if n in present and n not in expected),
             *(n for n in present if n not in known)]
    return {name: _read(folder / f"{name}.{ext}", known[name].stage if name in known else default_stage, reader)
            for name in names}


def _read_graph_image(folder: Path, name: str, stage: str) -> Artifact:
    """The SVG of graph ``name``: ``<name>.svg``, else a small ``<name>.dot`` rendered here, else a note."""
    svg, dot = folder / f"{name}.svg", folder / f"{name}.dot"
    if svg.exists() or not dot.exists():
        return _read(svg, stage, svg_bytes)
    size = dot.stat().st_size
    if size > MAX_DOT_RENDER_BYTES:
        return Artifact(dot, stage, note=f"{name} is too large to draw as one picture ({size // 1000} kB of DOT); "
                                         f"open graphs/{name}.graphml or graphs/{name}.dot in a graph viewer.")
    return _read(dot, stage, dot_to_svg)


def _json_object(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: math.nan)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _csv(path: Path):
    import pandas as pd

    return pd.read_csv(path)


def _graphml(path: Path):
    import networkx as nx

    return nx.read_graphml(path)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _expected_artifacts(folder: RunFolder) -> list[Artifact]:
    """Artifacts whose absence means a stage failed or was skipped (an absent traversal grid does not)."""
    singles = [folder.config, folder.metrics, folder.log]
    if folder.traversals.problem != "missing":
        singles.append(folder.traversals)
    groups = [folder.effects, folder.tables, folder.graphs, folder.circuits, folder.graph_data]
    return singles + [a for group in groups for a in group.values()]
