"""Resolved settings of one ``causalvae run``: defaults per dataset, validation, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import numbers
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Per-dataset defaults; ``quick`` overrides them for smoke tests (seconds, not minutes).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    # lr 1e-3 collapsed every latent within 1000 steps here (recon = the constant image); 5e-4 does not.
    "causal-sprites": dict(latent_dim=6, steps=1000, n=20_000, batch_size=64, lr=5e-4),
    "dsprites": dict(latent_dim=10, steps=3000, n=50_000, batch_size=64, lr=5e-4),
    "scm-linear": dict(latent_dim=6, steps=2000, n=10_000, batch_size=128, lr=1e-3),
    "scm-nonlinear": dict(latent_dim=6, steps=2000, n=10_000, batch_size=128, lr=1e-3),
    # Grid datasets read from files find a pair's partner among the loaded rows: a random n of the N grid
    # points holds it with probability n / N, so a factor has about n^2 / N pairs (10,000 of MPI3D's
    # 1,036,800 gave ~96 for 64 asked, a quick run's 600 of 3DShapes' 480,000 under 1).  n gives >= 4 x
    # n_pairs of them (GRID_FILE_SIZES); an MPI3D member stored compressed is held in memory (12 KiB per row).
    "3dshapes": dict(latent_dim=10, steps=3000, n=60_000, batch_size=64, lr=5e-4),
    "mpi3d": dict(latent_dim=10, steps=3000, n=40_000, batch_size=64, lr=5e-4),
    "smallnorb": dict(latent_dim=10, steps=3000, n=24_300, batch_size=64, lr=5e-4),
}
#: Grid points of those files (MPI3D: the current release; the first has 460,800), for the pair arithmetic.
GRID_FILE_SIZES = {"3dshapes": 480_000, "mpi3d": 1_036_800, "smallnorb": 24_300}
FALLBACK_DEFAULTS: dict[str, Any] = dict(latent_dim=8, steps=2000, n=10_000, batch_size=64, lr=1e-3)
QUICK_OVERRIDES: dict[str, Any] = dict(steps=30, n=600, n_analysis=16, n_pairs=16, batch_size=32)
#: ``quick`` sizes of the grid files, for >= 4 x 16 pairs per factor (see DATASET_DEFAULTS).
QUICK_DATASET_OVERRIDES: dict[str, dict[str, Any]] = {"3dshapes": dict(n=8_000), "mpi3d": dict(n=12_000),
                                                      "smallnorb": dict(n=4_000)}

#: Independent input batches per measured effect matrix; their spread gives the effects' standard errors,
#: which the unit graph's edge test needs (a t(R - 1) test: R = 8 gives it usable power over ~10^5 pairs).
REPLICATES = 8


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers (and where it is written)."""

    dataset: str = "causal-sprites"
    path: str | None = None
    variant: str = "beta-vae"
    latent_dim: int = 6
    steps: int = 1500
    n: int = 20_000
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    checkpoint: str | None = None
    out: str = "runs/default"
    n_analysis: int = 64
    n_pairs: int = 64
    quick: bool = False
    hyper: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("latent_dim", "n", "batch_size", "n_analysis", "n_pairs"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if int(self.steps) < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not float(self.lr) > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.steps == 0 and self.checkpoint is None:
            raise ValueError("steps=0 needs --checkpoint (nothing to analyse otherwise)")
        if self.checkpoint is not None and not Path(self.checkpoint).exists():
            raise FileNotFoundError(f"checkpoint not found: {self.checkpoint}")

    @classmethod
    def resolve(cls, **options: Any) -> "RunConfig":
        """Fill unset (None) options from the dataset defaults, then the quick overrides."""
        given = {k: v for k, v in options.items() if v is not None}
        dataset = given.get("dataset", cls.dataset)
        settings = dict(DATASET_DEFAULTS.get(dataset, FALLBACK_DEFAULTS))
        if given.get("quick"):
            settings.update(QUICK_OVERRIDES)
            settings.update(QUICK_DATASET_OVERRIDES.get(dataset, {}))
        settings.update(given)
        unknown = set(settings) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown run option(s) {sorted(unknown)}")
        return cls(**settings)

    def to_dict(self) -> dict[str, Any]:
        settings = dataclasses.asdict(self)
        if self.path is None:   # runs on generated data keep the settings (and sweep cell keys) they had before
            del settings["path"]
        return settings

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


_WRONG = object()


def _check_types(config: RunConfig) -> None:
    """Every option has its declared type; plain ``int`` / ``float`` replace numpy scalars and integral lrs."""
    for f in dataclasses.fields(config):
        object.__setattr__(config, f.name, check_option(f.name, getattr(config, f.name)))


def check_option(name: str, value: Any) -> Any:
    """``value`` of run option ``name`` in its declared type, or a ``ValueError`` naming both.

    Booleans are not numbers (``steps = true`` is refused), strings are not numbers
    (``steps = "100"``), integers are accepted for float options.

    Examples
    --------
    >>> check_option("lr", 1)
    1.0
    >>> check_option("quick", "yes")
    Traceback (most recent call last):
    ValueError: run option quick must be bool, got 'yes' (str)
    """
    hints = typing.get_type_hints(RunConfig)
    if name not in hints:
        raise ValueError(f"unknown run option {name!r}; expected one of {sorted(hints)}")
    hint = hints[name]
    kinds = [typing.get_origin(k) or k for k in (typing.get_args(hint) if isinstance(hint, types.UnionType)
                                                 else (hint,))]
    fixed = next((v for v in (_as_kind(value, kind) for kind in kinds) if v is not _WRONG), _WRONG)
    if fixed is _WRONG:
        wanted = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
        raise ValueError(f"run option {name} must be {wanted}, got {value!r} ({type(value).__name__})")
    if name == "hyper":
        bad = {k: v for k, v in fixed.items() if not isinstance(k, str) or _as_kind(v, float) is _WRONG}
        if bad:
            raise ValueError(f"run option hyper must map hyper-parameter names to numbers, got {bad!r}")
        fixed = {k: float(v) for k, v in fixed.items()}
    return fixed


def _as_kind(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` when it is one (booleans are not numbers here), else ``_WRONG``."""
    if kind is type(None):
        return value if value is None else _WRONG
    if kind is bool:
        return value if isinstance(value, bool) else _WRONG
    if isinstance(value, bool):
        return _WRONG
    if kind is int:
        return int(value) if isinstance(value, numbers.Integral) else _WRONG
    if kind is float:
        return float(value) if isinstance(value, numbers.Real) else _WRONG
    return value if isinstance(value, kind) else _WRONG


def check_config(config: RunConfig, *, here: bool = True) -> None:
    """Fail fast, before any work: unknown dataset, variant or hyper-parameter, too few analysis inputs,
    a device this machine lacks (when the run executes ``here``, not on a cluster), an unreadable checkpoint.

    Raises
    ------
    ValueError : naming the option, what it expects and what it got.
    """
    from causalvae import data
    from causalvae.argtypes import check_device

    if config.dataset not in data.names():
        raise ValueError(f"unknown dataset {config.dataset!r}; expected one of {data.names()}")
    if config.n_analysis < 2 * REPLICATES:
        raise ValueError(f"n_analysis must be >= {2 * REPLICATES} (effects are measured on {REPLICATES} batches "
                         f"of at least 2 inputs), got {config.n_analysis}")
    if here:
        check_device(config.device)
    if config.checkpoint is not None:
        from causalvae.models.checkpoint import load_checkpoint

        if config.hyper:
            raise ValueError(f"hyper-parameters {sorted(config.hyper)} act on training; a run from --checkpoint "
                             "trains nothing")
        load_checkpoint(config.checkpoint)  # a damaged or foreign file is refused here, in one line
        return
    from causalvae.models.variants import VARIANTS

    if config.variant not in VARIANTS:
        raise ValueError(f"unknown variant {config.variant!r}; expected one of {sorted(VARIANTS)}")
    known = VARIANTS[config.variant].defaults
    unknown = sorted(set(config.hyper) - set(known))
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {unknown} for variant {config.variant!r}; expected some of "
                         f"{sorted(known)}")
