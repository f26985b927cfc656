"""What a unit is replaced by in a sweep: zero, a value, the dataset mean, a conditional mean,
or its value on a source input (resampling and interchange patching).

The alternative activation is formed for a whole site at once; a sweep then swaps one unit
(or a set of units) of the clean activation for its alternative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from causalvae.interventions.batching import chunks, to_tensor
from causalvae.interventions.forward import model_dtype
from causalvae.interventions.hooks import capture
from causalvae.interventions.ops import KINDS, VALUE_KINDS, UnitOp


@dataclass(frozen=True)
class Alternative:
    """Replacement rule of a sweep (build with :func:`prepare_alternative`)."""

    kind: str
    value: float | np.ndarray = 0.0  # "set" / "add" / "scale": a scalar or one value per unit
    means: dict[str, torch.Tensor] = field(default_factory=dict)  # site -> (G, *sample_shape), float64
    labels: np.ndarray | None = None  # group of every input (conditional mean); zeros for the plain mean
    source: np.ndarray | None = None  # source inputs aligned with the clean ones (patch, resample)

    @property
    def needs_source(self) -> bool:
        return self.source is not None

    def build(self, site: str, a: torch.Tensor, a_source: torch.Tensor | None, rows: slice) -> torch.Tensor:
        """Alternative activation of ``site`` for the clean chunk ``a`` (inputs ``rows``)."""
        if self.kind in VALUE_KINDS:
            return UnitOp(self.kind, None, self.value).alternative(a)
        if self.kind in ("mean", "conditional-mean"):
            groups = torch.as_tensor(self.labels[rows], device=a.device)
            return self.means[site].to(device=a.device, dtype=a.dtype)[groups]
        if a_source is None:
            raise ValueError(f"{self.kind} needs source activations of site {site!r}")
        return a_source


def prepare_alternative(model: torch.nn.Module, x: np.ndarray | torch.Tensor, sites: Sequence[str], *, kind: str,
                        value: float | np.ndarray = 0.0, labels: Sequence[int] | np.ndarray | None = None,
                        x_source: np.ndarray | torch.Tensor | None = None, seed: int = 0, batch_size: int = 64,
                        device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Alternative:
    """Precompute what ``kind`` needs: (conditional) mean maps over ``x``, or aligned source inputs.

    ``resample`` draws, with ``seed``, a permutation of the inputs as source; ``patch`` uses
    ``x_source`` (same shape as ``x``).  Inputs are fed in ``dtype`` (default: the model's); means
    are kept in float64 and cast to each activation's dtype when used.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown ablation kind {kind!r}; expected one of {KINDS}")
    n = len(x)
    if kind == "patch":
        if x_source is None:
            raise ValueError("kind='patch' needs x_source (the source / counterfactual inputs)")
        if tuple(x_source.shape) != tuple(x.shape):
            raise ValueError(f"clean and source inputs must have the same shape: clean {tuple(x.shape)}, "
                             f"source {tuple(x_source.shape)}")
        return Alternative(kind, source=x_source)
    if kind == "resample":
        perm = np.random.default_rng(seed).permutation(n)
        return Alternative(kind, source=x[perm])
    if kind not in ("mean", "conditional-mean"):
        return Alternative(kind, value=np.asarray(value, dtype=np.float64) if np.ndim(value) else float(value))
    if kind == "mean":
        groups = np.zeros(n, dtype=np.int64)
    else:
        if labels is None:
            raise ValueError("kind='conditional-mean' needs labels (one group label per input)")
        raw = np.asarray(labels)
        if raw.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) (one per input), got {raw.shape}")
        _, groups = np.unique(raw, return_inverse=True)
    n_groups = int(groups.max()) + 1 if n else 0
    sums: dict[str, torch.Tensor] = {}
    dtype = model_dtype(model) if dtype is None else dtype
    for rows in chunks(n, batch_size):
        xb = to_tensor(x, rows, device, dtype)
        with torch.no_grad():
            acts = capture(model, xb, sites)
        g = torch.as_tensor(groups[rows], device=xb.device)
        for site, a in acts.items():
            acc = sums.setdefault(site, torch.zeros((n_groups,) + tuple(a.shape[1:]), dtype=torch.float64,
                                                    device=a.device))
            acc.index_add_(0, g, a.double())
    counts = torch.as_tensor(np.bincount(groups, minlength=n_groups), dtype=torch.float64)
    means = {s: v / counts.to(v.device).reshape((-1,) + (1,) * (v.dim() - 1)) for s, v in sums.items()}
    return Alternative(kind, means=means, labels=groups)
