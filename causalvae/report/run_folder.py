"""Read a run folder for the report, never failing on a missing or broken artifact.

What a run folder holds is the run's :class:`~causalvae.report.artifacts.ArtifactRegistry` (name,
producing stage, caption: the pipeline's ``run_artifacts()``).  Each artifact comes back as an :class:`Artifact` that holds its value or says what went
wrong (``missing`` or ``unreadable: ...``) and which stage produces it, so the report can say
"stage X failed or was skipped" instead of crashing.  Expected artifacts are always listed (their
absence is reported); optional ones and unregistered ``effects/*.npz`` / ``tables/*.csv`` are shown
when present.  Two rules keep outputs of another run out of the page:

- where ``status.json`` records a stage as failed or skipped, that stage's files are withheld (they
  are partial, or left by another run) and the stage counts as broken even if it writes no file;
- a file older than the run's ``config.json`` (written when the run claimed the folder) is withheld,
  except the training log, which a resumed run continues.
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
from causalvae.report.artifacts import FOLDERS, ArtifactRegistry

#: DOT files larger than this are not rendered here (the pipeline leaves big graphs undrawn on purpose).
MAX_DOT_RENDER_BYTES = 150_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Graphs drawn from their own rendering (graphs/<name>.svg, else a small .dot).
DRAWN_GRAPHS = ("computational", "unit", "factor_learned")
#: Graphs read as networkx graphs (the report draws them itself).
GRAPH_DATA = ("aligned", "factor_true", "factor_learned")
#: The training log (one JSON record per step), kept when a run resumes.
TRAINING_LOG = "checkpoint/log.jsonl"
#: Slack for file-system timestamps when comparing a file with config.json.
CLOCK_SLACK_S = 2.0


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
    """Everything the report reads from a run folder (see :func:`read_run_folder`), and the registry it was
    read by (``registry``: each artifact's producing stage, title and caption)."""

    root: Path
    registry: ArtifactRegistry
    config: Artifact
    status: Artifact
    metrics: Artifact
    effects: dict[str, Artifact]
    graphs: dict[str, Artifact]
    graph_data: dict[str, Artifact]
    circuits: dict[str, Artifact]
    tables: dict[str, Artifact]
    figures: dict[str, Artifact]
    training: Artifact
    log: Artifact
    stages: dict[str, list[Artifact]] = field(default_factory=dict)

    def table(self, name: str):
        """The DataFrame of table ``name`` if it was read, else None."""
        artifact = self.tables.get(name)
        return artifact.value if artifact is not None and artifact.ok else None

    def metric_values(self) -> dict[str, Any]:
        return self.metrics.value if self.metrics.ok else {}


def read_run_folder(run_dir: str | Path, registry: ArtifactRegistry) -> RunFolder:
    """Read every artifact of ``registry`` the report uses from ``run_dir``.

    ``stages`` groups the registered artifacts by the stage that produces them; ``status`` is the
    pipeline's own record (``status.json``: stage -> ``{"state", "seconds", "error" | "reason"}``).

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
    circuit_names = sorted({p.stem for p in graphs.glob("circuit_*.graphml")})
    spec = registry.spec
    folder = RunFolder(
        root=root,
        registry=registry,
        config=_read(root / "config.json", "run", _json_object),
        status=_read(root / "status.json", "run", _json_object),
        metrics=_read(root / "metrics.json", "export", _json_object),
        effects=_read_kind(root, registry, "effect", EffectMatrix.load),
        graphs={name: _read_graph_image(graphs, name, s.stage) for name in DRAWN_GRAPHS
                if (s := spec("graph", name)) and (s.expected or any(graphs.glob(f"{name}.*")))},
        graph_data={name: _read(graphs / f"{name}.graphml", s.stage, _graphml) for name in GRAPH_DATA
                    if (s := spec("graph", name)) and (s.expected or (graphs / f"{name}.graphml").exists())},
        circuits={name.removeprefix("circuit_"): _read(graphs / f"{name}.graphml", "circuits", _graphml)
                  for name in circuit_names},
        tables=_read_kind(root, registry, "table", _csv),
        figures={name: _read(root / f"{s.path}.png", s.stage, png_bytes) for name, s in registry.of_kind("figure").items()
                 if (root / f"{s.path}.png").exists()},
        training=_read(root / TRAINING_LOG, "train", _json_lines),
        log=_read(root / "log.txt", "run", _text),
    )
    folder = _withhold(folder, _unfinished_stages(folder.status), _claimed_at(root / "config.json"))
    stages: dict[str, list[Artifact]] = {}
    for artifact in _stage_artifacts(folder):
        stages.setdefault(artifact.stage, []).append(artifact)
    if not folder.circuits:
        stages.setdefault("circuits", []).append(Artifact(graphs / "circuit_*.graphml", "circuits", problem="missing"))
    for stage, state in _unfinished_stages(folder.status).items():  # a stage without files still did not finish
        stages.setdefault(stage, [Artifact(folder.status.path, stage, problem=f"recorded as {state} in status.json")])
    return dataclasses.replace(folder, stages=stages)


def _unfinished_stages(status: Artifact) -> dict[str, str]:
    """Stage -> state ("failed", "skipped", ...) of every stage ``status.json`` does not record as done."""
    if not status.ok:
        return {}
    records = {stage: record if isinstance(record, dict) else {"state": record}
               for stage, record in status.value.items()}
    return {stage: str(r.get("state")) for stage, r in records.items() if r.get("state") != "done"}


def _claimed_at(config: Path) -> float | None:
    return config.stat().st_mtime if config.exists() else None


def _withhold(folder: RunFolder, unfinished: dict[str, str], claimed_at: float | None) -> RunFolder:
    """``folder`` with the files of unfinished stages, and files older than the run, replaced by a problem."""
    def check(artifact: Artifact, *, kept_on_resume: bool = False) -> Artifact:
        if not artifact.ok or artifact.note is not None:
            return artifact
        if artifact.stage in unfinished:
            return Artifact(artifact.path, artifact.stage,
                            problem=f"present but not shown: its stage was {unfinished[artifact.stage]} in this run")
        if claimed_at is not None and not kept_on_resume and artifact.path.exists() \
                and artifact.path.stat().st_mtime < claimed_at - CLOCK_SLACK_S:
            return Artifact(artifact.path, artifact.stage,
                            problem="present but not shown: written before this run began (older than config.json), "
                                    "so left by another run")
        return artifact

    groups = ("effects", "graphs", "graph_data", "circuits", "tables", "figures")
    return dataclasses.replace(folder, metrics=check(folder.metrics),
                               training=check(folder.training, kept_on_resume=True),
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


def _read_kind(root: Path, registry: ArtifactRegistry, kind: str, reader: Callable[[Path], Any]) -> dict[str, Artifact]:
    """Expected artifacts of ``kind`` first (missing ones included), then every other file present:
    registered ones in registry order, then unregistered ones (stage "export", which wrote them)."""
    folder, suffix = root / FOLDERS[kind][0], FOLDERS[kind][1][0]
    present = [p.stem for p in sorted(folder.glob(f"*{suffix}"))]
    spec = registry.spec
    known = [n for n in registry.of_kind(kind) if "*" not in n]
    names = [*(n for n in known if spec(kind, n).expected), *(n for n in known if n in present),
             *(n for n in present if spec(kind, n) is None)]
    return {name: _read(folder / f"{name}{suffix}", spec(kind, name).stage if spec(kind, name) else "export", reader)
            for name in dict.fromkeys(names)}


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


def _json_lines(path: Path) -> list[dict[str, float]]:
    """Records of a JSON-lines log; a last line cut by a kill is dropped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if not isinstance(record, dict) or "step" not in record:
            raise ValueError(f"expected records with a 'step', got {line[:80]!r}")
        records.append(record)
    if not records:
        raise ValueError("the training log holds no records")
    return records


def _csv(path: Path):
    import pandas as pd

    return pd.read_csv(path)


def _graphml(path: Path):
    import networkx as nx

    return nx.read_graphml(path)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _stage_artifacts(folder: RunFolder) -> list[Artifact]:
    """Registered artifacts whose absence means their stage failed or was skipped: expected ones, and
    optional ones that are present but broken or withheld."""
    spec = folder.registry.spec
    out = [folder.metrics] + ([folder.training] if folder.training.problem != "missing" else [])
    for kind, group in (("effect", folder.effects), ("table", folder.tables), ("graph", folder.graph_data),
                        ("graph", folder.graphs)):
        out += [a for name, a in group.items() if spec(kind, name) is not None
                and (spec(kind, name).expected or a.problem != "missing")]
    return out + list(folder.circuits.values()) + list(folder.figures.values())
