"""Sweep grids: variants x datasets x seeds x analysis option sets, from a TOML or JSON file.

Every grid cell is one resolved :class:`~causalvae.pipeline.RunConfig`.  Its run folder is named by a
hash of that resolved config (``out`` excluded), so a re-launched sweep finds the cells it has already
finished, and changing any option that affects the numbers gives a new cell rather than reusing a stale one.

A grid is checked when it is built, before any work: repeated variants, datasets, seeds and analysis
sets are dropped (each cell runs once), and option values of the wrong type (``quick = "yes"``,
``steps = "100"``), unknown options, datasets, variants or hyper-parameters are refused.

A grid file (TOML shown; JSON with the same keys works too)::

    out = "runs/study"                 # folder of the cells and the tables
    variants = ["vae", "beta-vae"]
    datasets = ["scm-linear"]
    seeds = 3                           # seeds 0, 1, 2 (or an explicit list: [0, 4, 7])

    [options]                           # run options shared by every cell
    quick = true
    steps = 200

    [[analysis]]                        # optional axis: one table per option set
    n_analysis = 16
    [[analysis]]
    n_analysis = 64
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causalvae.pipeline.config import RunConfig, check_config, check_option

#: Options a grid sets per axis, never in ``options`` / ``analysis``.
AXIS_OPTIONS = ("dataset", "variant", "seed", "out")
GRID_KEYS = ("out", "variants", "datasets", "seeds", "options", "analysis")
HASH_CHARS = 12


@dataclass(frozen=True)
class Cell:
    """One grid cell: its resolved run config (``out`` is the cell's run folder) and identity."""

    config: RunConfig
    key: str
    analysis: str

    @property
    def name(self) -> str:
        """Human-readable cell name, e.g. ``scm-linear/vae/seed0`` (plus the analysis label)."""
        c = self.config
        return "/".join(p for p in (c.dataset, c.variant, self.analysis, f"seed{c.seed}") if p)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)


@dataclass(frozen=True)
class SweepGrid:
    """Variants x datasets x seeds x analysis option sets, with the run options every cell shares."""

    variants: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    analysis: tuple[Mapping[str, Any], ...] = ({},)
    out: str = "runs/sweep"

    def __post_init__(self) -> None:
        for name in ("variants", "datasets", "seeds", "analysis"):
            if not getattr(self, name):
                raise ValueError(f"grid {name} must list at least one entry, got {getattr(self, name)!r}")
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in self.seeds):
            raise ValueError(f"grid seeds must be integers >= 0, got {list(self.seeds)}")
        if not isinstance(self.options, Mapping):
            raise ValueError(f"grid options must be a table of run options, got {self.options!r}")
        if any(not isinstance(a, Mapping) for a in self.analysis):
            raise ValueError(f"grid analysis must be a table or a list of tables, got {list(self.analysis)!r}")
        for name in ("variants", "datasets", "seeds", "analysis"):  # a repeated entry would run a cell twice at once
            object.__setattr__(self, name, _unique(getattr(self, name)))
        allowed = {f.name for f in dataclasses.fields(RunConfig)} - set(AXIS_OPTIONS)
        for where, opts in (("options", self.options), *(("analysis", a) for a in self.analysis)):
            bad = sorted(set(opts) - allowed)
            if bad:
                raise ValueError(f"unknown run option(s) {bad} in grid {where}; expected some of {sorted(allowed)}")
            for key, value in opts.items():
                try:
                    check_option(key, value)
                except ValueError as exc:
                    raise ValueError(f"grid {where}: {exc}") from None
        for cell in self.cells():
            try:
                check_config(cell.config, here=False)  # devices: where the cells run (see run_grid)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"grid cell {cell.name}: {exc}") from None

    @property
    def cells_dir(self) -> Path:
        return Path(self.out) / "cells"

    def cells(self) -> list[Cell]:
        """Every cell in a fixed order (dataset, variant, analysis set, seed), its config resolved."""
        out = []
        for dataset in self.datasets:
            for variant in self.variants:
                for analysis in self.analysis:
                    for seed in self.seeds:
                        config = RunConfig.resolve(**{**self.options, **analysis}, dataset=dataset,
                                                   variant=variant, seed=seed, out="")
                        key = cell_key(config)
                        folder = self.cells_dir / f"{dataset}_{variant}_seed{seed}_{key}"
                        out.append(Cell(dataclasses.replace(config, out=str(folder)), key, analysis_label(analysis)))
        return out


def _unique(values: Sequence[Any]) -> tuple[Any, ...]:
    """``values`` without repeats, in first-seen order (entries may be unhashable tables)."""
    kept: list[Any] = []
    for value in values:
        if value not in kept:
            kept.append(value)
    return tuple(kept)


def cell_key(config: RunConfig) -> str:
    """Hash of the resolved config without ``out``: equal keys mean equal numbers.

    Examples
    --------
    >>> a = RunConfig.resolve(dataset="scm-linear", quick=True, out="x")
    >>> cell_key(a) == cell_key(dataclasses.replace(a, out="elsewhere"))
    True
    >>> cell_key(a) == cell_key(dataclasses.replace(a, seed=1))
    False
    """
    settings = {k: v for k, v in config.to_dict().items() if k != "out"}
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def analysis_label(options: Mapping[str, Any]) -> str:
    """``"n_analysis=16,n_pairs=8"`` for an analysis option set (empty for the default set)."""
    return ",".join(f"{k}={options[k]}" for k in sorted(options))


def grid_from_dict(spec: Mapping[str, Any], *, out: str | None = None) -> SweepGrid:
    """Build a grid from the parsed file; ``seeds`` may be a count or a list; ``out`` overrides."""
    unknown = sorted(set(spec) - set(GRID_KEYS))
    if unknown:
        raise ValueError(f"unknown grid key(s) {unknown}; expected some of {list(GRID_KEYS)}")
    missing = [k for k in ("variants", "datasets", "seeds") if k not in spec]
    if missing:
        raise ValueError(f"grid is missing {missing}; it needs variants, datasets and seeds")
    seeds = spec["seeds"]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds <= 0:
            raise ValueError(f"grid seeds as a count must be positive, got {seeds}")
        seeds = range(seeds)
    analysis = spec.get("analysis", [{}])
    if isinstance(analysis, Mapping) or not isinstance(analysis, Sequence) or isinstance(analysis, str):
        analysis = [analysis]  # one table; anything else is refused by SweepGrid with the value shown
    return SweepGrid(variants=tuple(_names(spec["variants"], "variants")),
                     datasets=tuple(_names(spec["datasets"], "datasets")), seeds=tuple(seeds),
                     options=spec.get("options", {}), analysis=tuple(analysis),
                     out=str(out if out is not None else spec.get("out", SweepGrid.out)))


def load_grid(path: str | Path, *, out: str | None = None) -> SweepGrid:
    """Read a grid from a ``.toml`` or ``.json`` file (see the module docstring for the keys)."""
    path = Path(path)
    if path.suffix not in (".toml", ".json"):
        raise ValueError(f"grid file must end in .toml or .json, got {path.name!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"grid file not found: {path}") from None
    if path.suffix == ".toml":
        import tomllib

        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"grid file {path} is not valid TOML: {exc}") from None
    else:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"grid file {path} is not valid JSON: {exc}") from None
    if not isinstance(spec, Mapping):
        raise ValueError(f"grid file {path} must hold a table/object, got {type(spec).__name__}")
    return grid_from_dict(spec, out=out)


def _names(value: Any, what: str) -> Sequence[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"grid {what} must be a list of names, got {value!r}")
    return list(value)
