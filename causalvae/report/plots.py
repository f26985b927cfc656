"""Figures for reports and comparisons: effect heatmaps and comparison plots (mean ± CI).

Every function returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas (no pyplot,
so no global backend or figure registry is touched); :func:`save_figure` writes it atomically
and :func:`figure_png` returns PNG bytes for inlining.  matplotlib is imported lazily.

Examples
--------
>>> import numpy as np
>>> from causalvae.effects import EffectMatrix
>>> m = EffectMatrix(np.eye(2), ["factor.scale", "factor.shape"], ["latent.mu[0]", "latent.mu[1]"],
...                  intervention="factor-pair", statistic="mean_abs", n_samples=64)
>>> figure_png(effect_heatmap(m))[:4]
b'\\x89PNG'
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from causalvae.effects import EffectMatrix
from causalvae.io import atomic_path
from causalvae.units import is_factor, parse_factor, parse_unit

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

COMPARISON_COLUMNS = ("variant", "metric", "mean", "ci_low", "ci_high")
_SAVE_FORMATS = (".png", ".svg", ".pdf")


def new_figure(width: float, height: float) -> "Figure":
    """A matplotlib Figure of ``width`` x ``height`` inches on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: "Figure", path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (.png, .svg or .pdf) atomically and return the path."""
    target = Path(path)
    if target.suffix.lower() not in _SAVE_FORMATS:
        raise ValueError(f"figure path must end in one of {_SAVE_FORMATS}, got {target.name!r}")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=target.suffix[1:].lower(), dpi=dpi)
    return target


def figure_png(fig: "Figure", *, dpi: int = 110) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def display_label(node_id: str) -> str:
    """Short label of a unit or factor id: ``factor.scale`` -> ``scale``; others unchanged."""
    return parse_factor(node_id) if is_factor(node_id) else node_id


def effect_heatmap(matrix: EffectMatrix, *, title: str | None = None, max_tick_labels: int = 40,
                   annotate: bool | None = None, cmap: str | None = None,
                   robust: bool | None = None) -> "Figure":
    """Heatmap of an :class:`EffectMatrix`: sources as rows, targets as columns.

    Parameters
    ----------
    matrix : the effects to draw; NaN cells are drawn grey.
    title : figure title (default: the matrix's intervention).
    max_tick_labels : an axis with more entries than this is labelled by site (each run of
        consecutive ids of one site gets one label, runs are separated by lines) instead of per entry.
    annotate : write each value in its cell (default: when the matrix has at most 150 cells and
        both axes are labelled per entry).
    cmap : colormap; default diverging ``RdBu_r`` centred on 0 for signed values, else ``viridis``.
    robust : clip the colour scale to the 1st-99th percentile of the finite values, so that a few
        extreme cells (e.g. responses of near-constant units) do not wash out the rest; clipped cells
        take the end colours and the colour bar says so.  Default: when the matrix has > 100 cells.
    """
    if not isinstance(matrix, EffectMatrix):
        raise TypeError(f"effect_heatmap expects an EffectMatrix, got {type(matrix).__name__}")
    if max_tick_labels < 1:
        raise ValueError(f"max_tick_labels must be >= 1, got {max_tick_labels}")
    if 0 in matrix.shape:
        raise ValueError(f"cannot draw an empty EffectMatrix (shape {matrix.shape})")
    values = matrix.values
    n_rows, n_cols = values.shape
    finite = values[np.isfinite(values)]
    signed = finite.size > 0 and finite.min() < 0
    fig = new_figure(float(np.clip(2.5 + 0.32 * n_cols, 5, 13)), float(np.clip(1.6 + 0.32 * n_rows, 2.4, 9)))
    ax = fig.add_subplot()
    colormap = _colormap(cmap or ("RdBu_r" if signed else "viridis"))
    robust = values.size > 100 if robust is None else robust
    limits = _colour_limits(finite, signed, robust=robust)
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", interpolation="nearest", cmap=colormap,
                      vmin=limits[0], vmax=limits[1])
    clipped = finite.size > 0 and (finite.min() < limits[0] or finite.max() > limits[1])
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_label(f"{matrix.statistic} effect (n={matrix.n_samples})"
                  + ("\nclipped to 1st–99th percentile" if clipped else ""))
    _label_axis(ax, "y", matrix.sources, max_tick_labels)
    _label_axis(ax, "x", matrix.targets, max_tick_labels)
    if annotate is None:
        annotate = values.size <= 150 and max(n_rows, n_cols) <= max_tick_labels
    if annotate:
        _annotate_cells(ax, values, image)
    ax.set_title(title or f"{matrix.intervention}: sources → targets", fontsize=11)
    return fig


def comparison_plot(table: "pd.DataFrame", *, metrics: Sequence[str] | None = None,
                    title: str | None = None, n_cols: int = 4,
                    reference: Mapping[str, Mapping[str, float]] | None = None,
                    reference_label: str = "reference") -> "Figure":
    """Mean ± 95 % CI of each metric per variant, one panel per metric (metrics differ in scale).

    Parameters
    ----------
    table : either long form with columns ``variant, metric, mean, ci_low, ci_high`` (one row per
        variant and metric), or wide form indexed by variant with two-level columns
        ``(metric, "mean" | "ci_low" | "ci_high")``.  Missing CIs (NaN) are drawn as bare points.
    metrics : which metrics to draw, in order (default: all, in order of appearance).
    n_cols : panels per row.
    reference : published values to draw beside the measured ones as open diamonds,
        ``{metric: {variant: value}}`` (e.g. the numbers of a paper); ``reference_label`` names them
        in the legend.  Metrics or variants that are not plotted are skipped (with a warning for
        metrics).
    """
    long = comparison_long_form(table)
    names = list(dict.fromkeys(long["metric"])) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in set(long["metric"])]
    if unknown:
        raise KeyError(f"metric(s) {unknown} not in the comparison table; it has {sorted(set(long['metric']))}")
    if not names:
        raise ValueError("comparison_plot needs at least one metric; the table is empty")
    if n_cols < 1:
        raise ValueError(f"n_cols must be >= 1, got {n_cols}")
    variants = list(dict.fromkeys(long["variant"]))
    cols = min(n_cols, len(names))
    rows = -(-len(names) // cols)
    fig = new_figure(max(3.0 * cols, 4.0), 2.6 * rows + (0.4 if title else 0.0))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(variants))]
    unplotted = sorted(set(reference or {}) - set(names))
    if unplotted:
        warnings.warn(f"reference metric(s) {unplotted} are not in the plotted metrics {names}; "
                      "their reference values are not drawn", stacklevel=2)
    for ax, name in zip(axes, names):
        part = long[long["metric"] == name].set_index("variant").reindex(variants)
        x = np.arange(len(variants))
        mean = part["mean"].to_numpy(float)
        low, high = part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float)
        errors = np.vstack([np.where(np.isfinite(low), mean - low, 0.0), np.where(np.isfinite(high), high - mean, 0.0)])
        for i in range(len(variants)):
            ax.errorbar(x[i], mean[i], yerr=errors[:, i:i + 1], fmt="o", color=colours[i], capsize=4, markersize=6)
        tilted = len(variants) > 3
        ax.set_xticks(x, variants, rotation=30 if tilted else 0, ha="right" if tilted else "center")
        published = (reference or {}).get(name, {})
        if published:
            ax.plot([variants.index(v) + 0.18 for v in published if v in variants],
                    [float(published[v]) for v in published if v in variants], "D", markerfacecolor="none",
                    markeredgecolor="black", markersize=6, label=reference_label)
            ax.legend(fontsize=7, loc="best")
        ax.set_xlim(-0.6, len(variants) - 0.4)
        ax.set_title(name, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def comparison_long_form(table: "pd.DataFrame") -> "pd.DataFrame":
    """Normalise a comparison table (long or wide form, see :func:`comparison_plot`) to long form."""
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(table).__name__}")
    if isinstance(table.columns, pd.MultiIndex):
        if table.columns.nlevels != 2 or "mean" not in set(table.columns.get_level_values(1)):
            raise ValueError("a wide comparison table needs two-level columns (metric, 'mean'|'ci_low'|'ci_high'), "
                             f"got levels {[list(level) for level in table.columns.levels]}")
        stacked = table.stack(level=0, future_stack=True).reset_index()
        table = stacked.set_axis(["variant", "metric", *stacked.columns[2:]], axis=1)
    missing = [c for c in ("variant", "metric", "mean") if c not in table.columns]
    if missing:
        raise ValueError(f"comparison table is missing column(s) {missing}; expected {list(COMPARISON_COLUMNS)}, "
                         f"got {list(table.columns)}")
    long = table.copy()
    for bound in ("ci_low", "ci_high"):
        if bound not in long.columns:
            long[bound] = np.nan
    long["variant"] = long["variant"].astype(str)
    long["metric"] = long["metric"].astype(str)
    if long.duplicated(["variant", "metric"]).any():
        dup = long[long.duplicated(["variant", "metric"], keep=False)][["variant", "metric"]].drop_duplicates()
        raise ValueError(f"comparison table has several rows for {dup.values.tolist()[:5]}; expected one per "
                         "variant and metric (aggregate seeds first)")
    return long[list(COMPARISON_COLUMNS)]


def _colormap(name: str):
    import matplotlib

    try:
        colormap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown matplotlib colormap {name!r}") from None
    return colormap.with_extremes(bad="#c8c8c8")


def _colour_limits(finite: np.ndarray, signed: bool, *, robust: bool) -> tuple[float, float]:
    if finite.size == 0:
        return 0.0, 1.0
    if signed:
        bound = float(np.quantile(np.abs(finite), 0.99) if robust else np.abs(finite).max())
        return (-bound, bound) if bound > 0 else (-1.0, 1.0)
    low, high = (float(v) for v in (np.quantile(finite, [0.01, 0.99]) if robust else (finite.min(), finite.max())))
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _label_axis(ax, axis: str, ids: Sequence[str], max_tick_labels: int) -> None:
    set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
    if len(ids) <= max_tick_labels:
        set_ticks(np.arange(len(ids)), [display_label(i) for i in ids],
                  **({"rotation": 90, "fontsize": 8} if axis == "x" else {"fontsize": 8}))
        return
    starts, names = _site_blocks(ids)
    ends = starts[1:] + [len(ids)]
    set_ticks([(a + b - 1) / 2 for a, b in zip(starts, ends)], names,
              **({"rotation": 30, "ha": "right", "fontsize": 8} if axis == "x" else {"fontsize": 8}))
    line = ax.axvline if axis == "x" else ax.axhline
    for start in starts[1:]:
        line(start - 0.5, color="white", linewidth=1.2)
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(f"{len(ids)} entries, grouped by site", fontsize=8)


def _site_blocks(ids: Sequence[str]) -> tuple[list[int], list[str]]:
    """Start positions and names of runs of consecutive ids that share a site."""
    starts: list[int] = []
    names: list[str] = []
    for position, node_id in enumerate(ids):
        try:
            site = "factor" if is_factor(node_id) else parse_unit(node_id)[0]
        except ValueError:
            site = node_id
        if not names or names[-1] != site:
            starts.append(position)
            names.append(site)
    return starts, names


def _annotate_cells(ax, values: np.ndarray, image) -> None:
    for (r, c), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.55 else "white"
        ax.text(c, r, f"{value:.2g}", ha="center", va="center", fontsize=7, color=ink)
