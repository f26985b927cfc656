"""Resolved settings of one ``causalvae run``: defaults per dataset, validation, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
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
}
FALLBACK_DEFAULTS: dict[str, Any] = dict(latent_dim=8, steps=2000, n=10_000, batch_size=64, lr=1e-3)
QUICK_OVERRIDES: dict[str, Any] = dict(steps=30, n=600, n_analysis=16, n_pairs=16, batch_size=32)


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
