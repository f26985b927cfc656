"""Targets of an effect sweep and the float64 reduction of their changes.

A target is a site (one column per unit, or a unit id for one column), ``"output"`` (one
column per output channel / feature), ``"recon_error"`` (the per-input reconstruction loss),
``"output_l2"`` (per-input Euclidean norm of the output change, the CES integrand) or a
:class:`Readout` of the output (one column per factor it predicts).
For conv units the statistic runs over inputs *and* spatial positions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from causalvae.interventions.trace import OUTPUT
from causalvae.units import factor_id, parse_unit, unit_id

RECON_ERROR = "recon_error"
OUTPUT_L2 = "output_l2"
SCALAR_TARGETS = (RECON_ERROR, OUTPUT_L2)
STATISTICS = ("mean_abs", "mean", "rms")


@dataclass(frozen=True)
class Readout:
    """Factor predictions from the model output: ``fn`` maps an output batch to an (N, K) tensor whose
    columns predict the factors ``names`` (e.g. read-outs fitted on decoded images)."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"Readout.fn must be callable, got {type(self.fn).__name__}")
        if isinstance(self.names, str) or not self.names:
            raise ValueError(f"Readout.names must be a non-empty sequence of factor names, got {self.names!r}")
        object.__setattr__(self, "names", tuple(map(str, self.names)))

    def target(self) -> "Target":
        return Target("readout", OUTPUT, None, self)

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        values = self.fn(output)
        if tuple(values.shape) != (output.shape[0], len(self.names)):
            raise ValueError(f"read-out returned shape {tuple(values.shape)}; expected ({output.shape[0]}, "
                             f"{len(self.names)}) for factors {list(self.names)}")
        return values


@dataclass(frozen=True)
class Target:
    """One requested target: the node it reads (``site`` or ``"output"``) and its columns."""

    name: str  # site, "output", "recon_error" or "output_l2"
    source: str  # the site / "output" whose value it reads
    units: tuple[int, ...] | None  # selected unit indices (None for scalar targets)
    readout: Readout | None = None

    @property
    def columns(self) -> list[str]:
        if self.readout is not None:
            return [factor_id(n) for n in self.readout.names]
        if self.units is None:
            return [self.name]
        return [unit_id(self.name, u) for u in self.units]


def resolve_targets(specs: Sequence[str], unit_counts: Mapping[str, int]) -> list[Target]:
    """Parse target specs; ``unit_counts`` maps each known site (and ``"output"``) to its unit count."""
    if isinstance(specs, str):
        specs = [specs]
    grouped: dict[str, list[int] | None] = {}
    for spec in specs:
        if spec in SCALAR_TARGETS:
            grouped[spec] = None
            continue
        site, index = parse_unit(spec)
        if site not in unit_counts:
            raise KeyError(f"unknown target {spec!r}; expected one of {sorted(unit_counts)}, {list(SCALAR_TARGETS)} "
                           f"or a unit id of those sites")
        n = unit_counts[site]
        if index is not None and not 0 <= index < n:
            raise IndexError(f"target unit index {index} out of range for {site!r}: expected 0 <= index < {n}")
        units = grouped.setdefault(site, [])
        if index is None:
            units.extend(range(n))
        else:
            units.append(index)
    out = []
    for name, units in grouped.items():
        source = OUTPUT if name in SCALAR_TARGETS else name
        out.append(Target(name, source, None if units is None else tuple(dict.fromkeys(units))))
    return out


def columns(targets: Sequence[Target]) -> list[str]:
    """Column ids of ``targets``, in order."""
    return [c for t in targets for c in t.columns]


def column_slices(targets: Sequence[Target]) -> list[slice]:
    """The slice of the columns of each target."""
    out, start = [], 0
    for t in targets:
        out.append(slice(start, start + len(t.columns)))
        start += len(t.columns)
    return out


def per_input_change(target: Target, clean: torch.Tensor, new: torch.Tensor, x: torch.Tensor, repeat: int,
                     loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Float64 change of ``target``: ``(repeat, N, n_columns, positions)``."""
    n = clean.shape[0]
    new = new.reshape((repeat, n) + tuple(clean.shape[1:]))
    if target.readout is not None:
        base = target.readout(clean).double()
        changed = torch.stack([target.readout(new[r]).double() for r in range(repeat)])
        return (changed - base[None]).reshape(repeat, n, len(target.readout.names), 1)
    if target.name == RECON_ERROR:
        base = loss(x, clean)
        changed = torch.stack([loss(x, new[r]) for r in range(repeat)])
        return (changed - base[None]).reshape(repeat, n, 1, 1)
    diff = new.double() - clean.double()[None]
    if target.name == OUTPUT_L2:
        return diff.flatten(2).norm(dim=2).reshape(repeat, n, 1, 1)
    diff = diff[:, :, list(target.units)]
    return diff.reshape(repeat, n, len(target.units), -1)


class StatisticAccumulator:
    """Running float64 sums of |d|, d and d^2 per (intervention, column), over input chunks."""

    def __init__(self, n_rows: int, n_cols: int) -> None:
        self.sums = np.zeros((3, n_rows, n_cols))
        self.counts = np.zeros(n_cols)

    def add(self, rows: Sequence[int], col: slice, change: torch.Tensor) -> None:
        """Add ``change`` of shape ``(len(rows), N, cols, positions)`` to the given rows and columns."""
        c = change.detach()
        stacked = torch.stack([c.abs().sum((1, 3)), c.sum((1, 3)), (c * c).sum((1, 3))]).cpu().numpy()
        self.sums[:, list(rows), col] += stacked

    def add_count(self, col: slice, n: int) -> None:
        """Record that ``n`` more (input, position) elements entered the columns ``col``."""
        self.counts[col] += n

    def result(self, statistic: str) -> np.ndarray:
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        counts = np.where(self.counts > 0, self.counts, 1.0)
        if statistic == "mean_abs":
            return self.sums[0] / counts
        if statistic == "mean":
            return self.sums[1] / counts
        return np.sqrt(self.sums[2] / counts)
