"""The paper study's cells: trained checkpoints found under a study folder, measured one by one.

A study folder holds ``<dataset>/<variant>_seed<k>/last.safetensors`` (what
``examples/paper_study_train.sh`` writes with ``causalvae train``).  :func:`find_cells` lists
them with the step each checkpoint reached; :func:`measure_cell` computes the study's metrics of
one cell through the functions ``causalvae run`` uses (:mod:`causalvae.pipeline.latent_measures`,
:func:`causalvae.metrics.dci` with the GBT back end of disentanglement_lib, :func:`causalvae.metrics.mig`);
:func:`measure_cells` caches each cell's numbers as JSON, keyed by the checkpoint's step and size,
so a re-analysis measures only new or further-trained cells.

Every cell of a dataset is measured on the same inputs (drawn with ``StudySettings.seed``), so the
cells differ only by their model.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from causalvae.io import write_json
from causalvae.pipeline.output_stages import json_safe

CELL_NAME = re.compile(r"^(?P<variant>[a-z0-9-]+)_seed(?P<seed>\d+)$")
CHECKPOINT = "last.safetensors"


@dataclass(frozen=True)
class StudySettings:
    """How each cell is measured (sizes as in ``causalvae run`` unless noted).

    n_analysis : inputs for CES, specificity and circuit modularity (``causalvae run``: 64).
    n_train, n_test : DCI / MIG split (disentanglement_lib: 10,000 / 5,000; smaller here because the
        GBT importance fits cost ~1 min per cell on two cores at 2,000).
    seed : seed of the inputs and splits, the same for every cell.
    """

    n_analysis: int = 64
    n_train: int = 2000
    n_test: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class TrainedCell:
    """One trained model of the study."""

    dataset: str
    variant: str
    seed: int
    checkpoint: Path
    step: int

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.variant}_seed{self.seed}"


def find_cells(study: str | Path) -> list[TrainedCell]:
    """Every ``<dataset>/<variant>_seed<k>/last.safetensors`` under ``study``, with its training step.

    Raises
    ------
    FileNotFoundError : ``study`` is not a folder.
    """
    from causalvae.models import load_checkpoint

    study = Path(study)
    if not study.is_dir():
        raise FileNotFoundError(f"study folder not found: {study}")
    cells = []
    for path in sorted(study.glob(f"*/*/{CHECKPOINT}")):
        match = CELL_NAME.match(path.parent.name)
        if match is None:
            continue
        step = int(load_checkpoint(path).training.get("step", 0))
        cells.append(TrainedCell(path.parent.parent.name, match["variant"], int(match["seed"]), path, step))
    return cells


def wall_seconds(cell: TrainedCell) -> float | None:
    """Training wall time of a finished cell: from its lock's ``started`` stamp (the last launch) to the
    last write of its ``log.jsonl``; None when either is missing (a resumed cell counts its last launch only)."""
    folder = cell.checkpoint.parent
    try:
        started = json.loads((folder / ".causalvae.lock").read_text())["started"]
        began = datetime.strptime(started, "%Y-%m-%d %H:%M:%S %z").timestamp()
        return float((folder / "log.jsonl").stat().st_mtime - began)
    except (OSError, KeyError, ValueError):
        return None


def measure_cell(cell: TrainedCell, dataset, settings: StudySettings, *, device: str = "cpu") -> dict[str, float]:
    """The study's metrics of one cell on ``dataset`` (a :class:`~causalvae.data.FactorDataset`).

    Keys: ``dci.disentanglement`` / ``completeness`` / ``informativeness_test`` (GBT), ``mig``,
    ``ces.paper`` (all latents), ``ces.active_only``, ``n_active_latents``, ``recon.nll`` /
    ``recon.mse``, ``specificity.bounded`` / ``specificity.paper`` (active latents),
    ``circuit_modularity.mean`` and per decoder site; ``ces.calibrated`` for Gaussian latents.
    """
    from causalvae import metrics, models
    from causalvae.metrics.suite_runner import train_test_split
    from causalvae.pipeline import latent_measures as lm

    model = models.load_model(cell.checkpoint, device=device).eval()
    if tuple(model.config.input_shape) != tuple(dataset.obs_shape):
        raise ValueError(f"{cell.checkpoint} expects inputs of shape {tuple(model.config.input_shape)}, dataset "
                         f"{cell.dataset!r} has {tuple(dataset.obs_shape)}")
    rng = np.random.default_rng(settings.seed)
    x = dataset.images(np.sort(rng.choice(len(dataset), size=min(settings.n_analysis, len(dataset)), replace=False)))
    information = lm.latent_information(model, x, device=device)
    quality = models.reconstruction_quality(model, x, device=device)
    measures = lm.paper_measures(model, x, information=information, recon_error=quality["nll"], device=device)
    out = {**measures.scores(information), "recon.nll": quality["nll"], "recon.mse": quality["mse"],
           "n_active_latents": float(lm.active(information).sum())}

    n_pool = min(len(dataset), settings.n_train + settings.n_test)
    pool = np.sort(rng.choice(len(dataset), size=n_pool, replace=False))
    codes, n_bins = lm.disentanglement_codes(model, dataset, indices=pool, device=device)
    continuous = [k for k, kind in enumerate(dataset.factor_kinds) if kind == "continuous"]
    factors, _ = metrics.discrete_factors(dataset.factors[pool], columns=continuous)  # as the run's suite
    train, test = train_test_split(n_pool, min(settings.n_train, n_pool // 2), min(settings.n_test, n_pool // 2),
                                   seed=settings.seed)
    dci = metrics.dci(codes[train], factors[train], codes[test], factors[test], backend="gbt", seed=settings.seed)
    out.update({f"dci.{k}": v for k, v in dci.items()})
    out["mig"] = metrics.mig(codes[train], factors[train], n_bins=n_bins)["mig"]
    return {k: float(v) for k, v in out.items()}


def measure_cells(cells: list[TrainedCell], *, out: str | Path, settings: StudySettings, load_dataset: Callable,
                  device: str = "cpu", progress: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Measure every cell, reusing ``out/cells/<dataset>/<cell>.json`` when it holds this checkpoint's numbers.

    ``load_dataset(name)`` returns the dataset a cell was trained on (called once per dataset).
    Returns ``{cell.name: record}``, a record holding the cell's identity, step, wall time and ``metrics``.
    """
    datasets: dict[str, object] = {}
    records = {}
    for cell in cells:
        path = Path(out) / "cells" / cell.dataset / f"{cell.variant}_seed{cell.seed}.json"
        identity = {"dataset": cell.dataset, "variant": cell.variant, "seed": cell.seed, "step": cell.step,
                    "checkpoint_bytes": cell.checkpoint.stat().st_size, "settings": asdict(settings)}
        cached = _read(path)
        if cached is not None and all(cached.get(k) == v for k, v in identity.items()):
            records[cell.name] = cached
            continue
        if progress is not None:
            progress(f"measuring {cell.name} (step {cell.step})")
        if cell.dataset not in datasets:
            datasets[cell.dataset] = load_dataset(cell.dataset)
        began = time.perf_counter()
        values = measure_cell(cell, datasets[cell.dataset], settings, device=device)
        record = {**identity, "checkpoint": str(cell.checkpoint), "wall_seconds": wall_seconds(cell),
                  "measure_seconds": round(time.perf_counter() - began, 1), "metrics": values}
        record = json_safe(record)
        write_json(path, record)
        records[cell.name] = record
    return records


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
