"""``EffectMatrix``: measured effects of sources on targets, with provenance.

The one currency between the torch half (interventions) and the graph half
(causal analysis, metrics, reports).  Values are float64; rows are sources and
columns are targets, both labelled by unit or factor ids (:mod:`causalvae.units`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from causalvae.io import atomic_open

_OPTIONAL_ARRAYS = ("stderr", "ci_low", "ci_high")
_REQUIRED_PROVENANCE = ("intervention", "statistic", "n_samples")
_PROVENANCE = (*_REQUIRED_PROVENANCE, "seed", "meta")


@dataclass(frozen=True)
class EffectMatrix:
    """Effects of ``sources`` (rows) on ``targets`` (columns).

    Parameters
    ----------
    values : (S, T) array of finite real effects (stored as float64).
    sources, targets : unit or factor ids labelling rows and columns (unique non-empty strings).
    intervention : what was done, e.g. ``"zero-ablation"``, ``"do(z=c)"``, ``"factor-pair"``.
    statistic : how per-input changes were summarised, e.g. ``"mean_abs"``, ``"mean"``, ``"rms"``.
    n_samples : number of inputs the statistic averages over (an integer >= 0).
    seed : seed of any sampling involved (an integer; None if deterministic).
    stderr, ci_low, ci_high : optional finite arrays of the same shape as ``values``; None where
        unknown. ``stderr >= 0``; ``ci_low`` and ``ci_high`` come together, ``ci_low <= ci_high``.
    meta : extra JSON-serialisable provenance (method, device, model name, ...).

    Raises ``TypeError`` (wrong kind of argument) or ``ValueError`` (wrong value) naming the
    argument, what it must be and what it was.

    Examples
    --------
    >>> m = EffectMatrix(np.eye(2), ["a[0]", "a[1]"], ["b[0]", "b[1]"],
    ...                  intervention="zero-ablation", statistic="mean_abs", n_samples=8)
    >>> float(m.to_frame().loc["a[1]", "b[1]"])
    1.0
    """

    values: np.ndarray
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    intervention: str
    statistic: str
    n_samples: int
    seed: int | None = None
    stderr: np.ndarray | None = None
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = _real_array("values", self.values)
        if values.ndim != 2:
            raise ValueError(f"EffectMatrix values must be 2-D (sources x targets), got shape {values.shape}")
        sources, targets = _ids("sources", self.sources), _ids("targets", self.targets)
        if values.shape != (len(sources), len(targets)):
            raise ValueError(
                f"EffectMatrix values shape {values.shape} does not match "
                f"{len(sources)} sources x {len(targets)} targets"
            )
        for label, ids in (("sources", sources), ("targets", targets)):
            if len(set(ids)) != len(ids):
                dup = sorted({i for i in ids if ids.count(i) > 1})
                raise ValueError(f"EffectMatrix {label} must be unique; duplicated: {dup[:5]}")
        for name in ("intervention", "statistic"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise TypeError(f"EffectMatrix {name} must be a non-empty string, got {getattr(self, name)!r}")
        if not _is_int(self.n_samples):
            raise TypeError(f"EffectMatrix n_samples must be an integer, got {self.n_samples!r}")
        if self.n_samples < 0:
            raise ValueError(f"EffectMatrix n_samples must be >= 0, got {self.n_samples}")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"EffectMatrix seed must be an integer or None, got {self.seed!r}")
        if not isinstance(self.meta, Mapping):
            raise TypeError(f"EffectMatrix meta must be a mapping, got {type(self.meta).__name__}")
        object.__setattr__(self, "values", _readonly(values))
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "n_samples", int(self.n_samples))
        object.__setattr__(self, "seed", None if self.seed is None else int(self.seed))
        object.__setattr__(self, "meta", dict(self.meta))
        for name in _OPTIONAL_ARRAYS:
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = _real_array(name, arr)
            if arr.shape != values.shape:
                raise ValueError(f"EffectMatrix {name} shape {arr.shape} must equal values shape {values.shape}")
            object.__setattr__(self, name, _readonly(arr))
        if self.stderr is not None and (self.stderr < 0).any():
            i = tuple(int(v) for v in np.argwhere(self.stderr < 0)[0])
            raise ValueError(f"EffectMatrix stderr must be >= 0, got {self.stderr[i]} at {i}")
        if (self.ci_low is None) != (self.ci_high is None):
            raise ValueError("EffectMatrix ci_low and ci_high must be given together (or neither)")
        if self.ci_low is not None and (self.ci_low > self.ci_high).any():
            i = tuple(int(v) for v in np.argwhere(self.ci_low > self.ci_high)[0])
            raise ValueError(f"EffectMatrix needs ci_low <= ci_high, got ci_low {self.ci_low[i]} > "
                             f"ci_high {self.ci_high[i]} at {i}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def to_frame(self) -> "pd.DataFrame":  # noqa: F821
        """The values as a DataFrame indexed by sources, with targets as columns."""
        import pandas as pd

        return pd.DataFrame(self.values, index=pd.Index(self.sources, name="source"),
                            columns=pd.Index(self.targets, name="target"))

    def to_long_frame(self) -> "pd.DataFrame":  # noqa: F821
        """One row per (source, target) with ``effect`` and any stderr / CI columns."""
        import pandas as pd

        s, t = np.meshgrid(np.arange(len(self.sources)), np.arange(len(self.targets)), indexing="ij")
        cols = {"source": np.asarray(self.sources)[s.ravel()], "target": np.asarray(self.targets)[t.ravel()],
                "effect": self.values.ravel()}
        for name in _OPTIONAL_ARRAYS:
            arr = getattr(self, name)
            if arr is not None:
                cols[name] = arr.ravel()
        return pd.DataFrame(cols)

    def value(self, source: str, target: str) -> float:
        return float(self.values[self._row(source), self._col(target)])

    def select(self, *, sources: Sequence[str] | None = None, targets: Sequence[str] | None = None) -> "EffectMatrix":
        """A sub-matrix with the given sources and/or targets, in the given order."""
        rows = [self._row(s) for s in sources] if sources is not None else list(range(len(self.sources)))
        cols = [self._col(t) for t in targets] if targets is not None else list(range(len(self.targets)))
        pick = lambda a: None if a is None else a[np.ix_(rows, cols)]  # noqa: E731
        return dataclasses.replace(
            self, values=pick(self.values), sources=[self.sources[r] for r in rows],
            targets=[self.targets[c] for c in cols], stderr=pick(self.stderr),
            ci_low=pick(self.ci_low), ci_high=pick(self.ci_high), meta=dict(self.meta))

    def transpose(self) -> "EffectMatrix":
        t = lambda a: None if a is None else a.T  # noqa: E731
        return dataclasses.replace(self, values=self.values.T, sources=self.targets, targets=self.sources,
                                   stderr=t(self.stderr), ci_low=t(self.ci_low), ci_high=t(self.ci_high),
                                   meta=dict(self.meta))

    @staticmethod
    def concat(parts: Sequence["EffectMatrix"], *, axis: str = "sources") -> "EffectMatrix":
        """Stack matrices that share targets (``axis="sources"``) or sources (``"targets"``).

        Provenance (intervention, statistic, n_samples, seed) must agree across parts.
        """
        if not parts:
            raise ValueError("concat needs at least one EffectMatrix")
        if axis not in ("sources", "targets"):
            raise ValueError(f"axis must be 'sources' or 'targets', got {axis!r}")
        first = parts[0]
        shared = "targets" if axis == "sources" else "sources"
        for p in parts[1:]:
            if getattr(p, shared) != getattr(first, shared):
                raise ValueError(f"concat along {axis} needs identical {shared} in every part")
            for attr in ("intervention", "statistic", "n_samples", "seed"):
                if getattr(p, attr) != getattr(first, attr):
                    raise ValueError(f"concat needs equal {attr}: {getattr(first, attr)!r} vs {getattr(p, attr)!r}")
        ax = 0 if axis == "sources" else 1
        cat = lambda name: (None if any(getattr(p, name) is None for p in parts)  # noqa: E731
                            else np.concatenate([getattr(p, name) for p in parts], axis=ax))
        labels = [x for p in parts for x in getattr(p, axis)]
        return dataclasses.replace(first, values=cat("values"), stderr=cat("stderr"), ci_low=cat("ci_low"),
                                   ci_high=cat("ci_high"), meta=dict(first.meta), **{axis: labels})

    @staticmethod
    def average(replicates: Sequence["EffectMatrix"]) -> "EffectMatrix":
        """Mean of independent replicate measurements (e.g. disjoint input batches), with ``stderr``.

        ``stderr`` is the standard error of the mean over replicates (sample std / sqrt(R), the
        batch-means estimator); ``n_samples`` is the replicates' total. Labels, intervention and
        statistic must agree.
        """
        if len(replicates) < 2:
            raise ValueError(f"average needs at least 2 replicates for a standard error, got {len(replicates)}")
        first = replicates[0]
        for r in replicates[1:]:
            if (r.sources, r.targets, r.intervention, r.statistic) != (first.sources, first.targets,
                                                                       first.intervention, first.statistic):
                raise ValueError("average needs replicates with equal sources, targets, intervention and statistic")
        stack = np.stack([r.values for r in replicates])
        return dataclasses.replace(
            first, values=stack.mean(axis=0), stderr=stack.std(axis=0, ddof=1) / np.sqrt(len(replicates)),
            ci_low=None, ci_high=None, n_samples=sum(r.n_samples for r in replicates),
            meta={**first.meta, "replicates": len(replicates), "stderr": "batch means"})

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` (no pickles) atomically."""
        arrays = {"values": self.values, "sources": np.asarray(self.sources, dtype=str),
                  "targets": np.asarray(self.targets, dtype=str),
                  "provenance": np.asarray(json.dumps(self._provenance(), sort_keys=True))}
        for name in _OPTIONAL_ARRAYS:
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        with atomic_open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EffectMatrix":
        """Read a file written by :meth:`save`; any unreadable or invalid content raises ``ValueError``."""
        try:
            with np.load(path, allow_pickle=False) as z:
                prov = json.loads(str(z["provenance"]))
                if not isinstance(prov, dict) or not set(_REQUIRED_PROVENANCE) <= set(prov) <= set(_PROVENANCE):
                    got = sorted(prov) if isinstance(prov, dict) else type(prov).__name__
                    raise ValueError(f"provenance must hold {list(_REQUIRED_PROVENANCE)} and optionally "
                                     f"{sorted(set(_PROVENANCE) - set(_REQUIRED_PROVENANCE))}, got {got}")
                opt = {n: z[n] for n in _OPTIONAL_ARRAYS if n in z.files}
                return cls(values=z["values"], sources=z["sources"].tolist(), targets=z["targets"].tolist(),
                           **prov, **opt)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable EffectMatrix .npz ({exc})") from exc

    def _provenance(self) -> dict[str, Any]:
        return {"intervention": self.intervention, "statistic": self.statistic,
                "n_samples": self.n_samples, "seed": self.seed, "meta": self.meta}

    def _row(self, source: str) -> int:
        try:
            return self.sources.index(source)
        except ValueError:
            raise KeyError(f"unknown source {source!r}; {len(self.sources)} sources, e.g. {list(self.sources[:5])}") from None

    def _col(self, target: str) -> int:
        try:
            return self.targets.index(target)
        except ValueError:
            raise KeyError(f"unknown target {target!r}; {len(self.targets)} targets, e.g. {list(self.targets[:5])}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _real_array(name: str, data: Any) -> np.ndarray:
    """``data`` as a float64 array; only real numbers, all finite (NaN or inf are not effects)."""
    arr = np.asarray(data)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"EffectMatrix {name} must hold real numbers (int or float), got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        i = tuple(int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"EffectMatrix {name} must be finite, got {arr[i]} at {i} "
                         f"({int((~np.isfinite(arr)).sum())} non-finite entries)")
    return arr


def _ids(name: str, ids: Any) -> tuple[str, ...]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"EffectMatrix {name} must be a sequence of id strings, got {type(ids).__name__} {ids!r:.80}")
    out = tuple(ids)
    bad = [i for i in out if not isinstance(i, str) or not i]
    if bad:
        raise TypeError(f"EffectMatrix {name} must be non-empty strings, got {bad[:5]!r}")
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a
