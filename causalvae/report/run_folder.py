"""Read a run folder for the report, never failing on a missing or broken artifact.

Each artifact comes back as an :class:`Artifact` that either holds its value or says what went
wrong (``missing`` or ``unreadable: ...``) and which pipeline stage should have produced it, so
the report can say "stage X failed or was skipped" instead of crashing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causalvae.effects import EffectMatrix

#: Effect matrices the report shows first, in this order: (figure title, caption).
KNOWN_EFFECTS = {
    "factor_latent": ("factor × latent", "Response of each latent mean to a change of one factor of the input"),
    "latent_output_factor": ("latent → read-out factor",
                             "Effect of do(z_i = c) on the factors read out from the reconstruction"),
    "factor_unit": ("factor × unit", "Response of each unit to a change of one factor of the input"),
}
GRAPH_NAMES = ("computational", "unit", "aligned", "factor_true")
TABLE_NAMES = ("unit_classes", "motifs", "mediation")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Artifact:
    """One file of a run folder: its value, or why there is none."""

    path: Path
    stage: str
    value: Any = None
    problem: str | None = None

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

    ``stages`` groups the artifacts by the pipeline stage that writes them; ``status`` is the
    pipeline's own record (``status.json``: stage -> ``{"state", "seconds", "error" | "reason"}``),
    optional and not part of ``stages``.

    Raises
    ------
    FileNotFoundError, NotADirectoryError : when ``run_dir`` itself is not an existing folder.
    """
    root = Path(run_dir)
    if not root.exists():
        raise FileNotFoundError(f"run folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a run folder, got the file {str(root)!r}")
    effect_paths = {name: root / "effects" / f"{name}.npz" for name in KNOWN_EFFECTS}
    effect_paths |= {p.stem: p for p in sorted((root / "effects").glob("*.npz")) if p.stem not in effect_paths}
    circuit_names = sorted({p.stem[len("circuit_"):] for ext in ("svg", "dot")
                            for p in (root / "graphs").glob(f"circuit_*.{ext}")})
    folder = RunFolder(
        root=root,
        config=_read(root / "config.json", "configuration", _json_object),
        status=_read(root / "status.json", "pipeline status", _json_object),
        metrics=_read(root / "metrics.json", "metrics", _json_object),
        effects={name: _read(path, "interventions", EffectMatrix.load) for name, path in effect_paths.items()},
        graphs={name: _read_graph_image(root / "graphs", name, _graph_stage(name)) for name in GRAPH_NAMES},
        circuits={name: _read_graph_image(root / "graphs", f"circuit_{name}", "circuits") for name in circuit_names},
        graph_data={name: _read(root / "graphs" / f"{name}.graphml", _graph_stage(name), _graphml)
                    for name in ("aligned", "factor_true")},
        tables={name: _read(root / "tables" / f"{name}.csv", name.replace("_", " "), _csv) for name in TABLE_NAMES},
        traversals=_read(root / "figures" / "traversals.png", "traversals", png_bytes),
        log=_read(root / "log.txt", "logging", _text),
    )
    stages: dict[str, list[Artifact]] = {}
    for artifact in _all_artifacts(folder):
        if artifact is folder.traversals and not artifact.ok and artifact.problem == "missing":
            continue  # the traversal grid is optional: the report omits it
        stages.setdefault(artifact.stage, []).append(artifact)
    if not folder.circuits:
        stages.setdefault("circuits", []).append(Artifact(root / "graphs" / "circuit_*.svg", "circuits",
                                                          problem="missing"))
    return dataclasses.replace(folder, stages=stages)


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


def _read_graph_image(folder: Path, name: str, stage: str) -> Artifact:
    """The SVG rendering of graph ``name``: ``<name>.svg``, else ``<name>.dot`` rendered here."""
    svg = folder / f"{name}.svg"
    if svg.exists() or not (folder / f"{name}.dot").exists():
        return _read(svg, stage, svg_bytes)
    return _read(folder / f"{name}.dot", stage, dot_to_svg)


def _graph_stage(name: str) -> str:
    return {"computational": "graph extraction", "unit": "unit graph"}.get(name, "alignment")


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


def _all_artifacts(folder: RunFolder) -> list[Artifact]:
    singles = [folder.config, folder.metrics, folder.traversals, folder.log]
    groups = [folder.effects, folder.graphs, folder.circuits, folder.graph_data, folder.tables]
    return singles + [a for group in groups for a in group.values()]
