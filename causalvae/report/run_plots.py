"""Figures of one run: training curve, reconstructions, faithfulness-against-size curves (numpy + matplotlib).

Each function returns a matplotlib Figure on its own Agg canvas (see :mod:`causalvae.report.plots`).

>>> from causalvae.report.plots import figure_png
>>> records = [{"step": s, "loss": 100.0 / s, "recon": 90.0 / s, "kl": 10.0} for s in range(1, 51)]
>>> figure_png(training_curve(records))[:4]
b'\\x89PNG'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from causalvae.report.plots import new_figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: Log-record keys that are not loss terms.
NOT_TERMS = ("step",)


def training_curve(records: Sequence[Mapping[str, float]], *, smooth: int | None = None) -> "Figure":
    """Loss terms of a training log (``{"step", "loss", <term>...}`` per step) against the step.

    Raw values are drawn faintly, a running mean over ``smooth`` steps (default: 2 % of the steps)
    boldly; the total loss on the left axis, the other terms (reconstruction, KL, ...) on their own
    panels since they differ in scale.
    """
    if not records:
        raise ValueError("training_curve needs at least one log record, got none")
    steps = np.array([float(r["step"]) for r in records])
    terms = [k for k in records[0] if k not in NOT_TERMS]
    window = max(1, smooth if smooth is not None else len(records) // 50)
    fig = new_figure(min(3.2 * len(terms), 13), 2.6)
    axes = fig.subplots(1, len(terms), squeeze=False).ravel()
    for ax, term in zip(axes, terms):
        values = np.array([float(r.get(term, np.nan)) for r in records])
        ax.plot(steps, values, color="C0", alpha=0.25, linewidth=0.8)
        if window > 1 and len(values) >= window:
            ax.plot(steps[window - 1:], np.convolve(values, np.ones(window) / window, mode="valid"), color="C0")
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 50:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    return fig


def reconstruction_grid(x: np.ndarray, x_hat: np.ndarray) -> "Figure":
    """Inputs (top row) over their reconstructions (bottom row); images N x C x H x W in [0, 1].

    >>> from causalvae.report.plots import figure_png
    >>> figure_png(reconstruction_grid(np.zeros((3, 1, 8, 8)), np.ones((3, 1, 8, 8))))[:4]
    b'\\x89PNG'
    """
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape or x.ndim != 4 or len(x) == 0:
        raise ValueError(f"x and x_hat must be non-empty N x C x H x W arrays of one shape, got {x.shape} "
                         f"and {x_hat.shape}")
    n = len(x)
    fig = new_figure(1.1 * n, 2.5)
    axes = fig.subplots(2, n, squeeze=False)
    for row, images, label in ((0, x, "input"), (1, x_hat, "recon.")):
        for i in range(n):
            ax = axes[row, i]
            ax.imshow(np.transpose(images[i], (1, 2, 0)).squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=8)
    return fig


def faithfulness_curves(curves: "pd.DataFrame", circuits: "pd.DataFrame | None" = None) -> "Figure":
    """Faithfulness against circuit size (share of candidate units), one line per factor, one panel per part.

    ``curves`` has columns ``factor, part, size, n_units, faithfulness``; ``circuits`` (the circuit
    table) adds each found circuit as a dot and its same-size random baseline as a cross.
    """
    missing = {"factor", "part", "size", "n_units", "faithfulness"} - set(curves.columns)
    if missing:
        raise ValueError(f"curve table lacks column(s) {sorted(missing)}")
    parts = list(dict.fromkeys(curves["part"]))
    fig = new_figure(4.2 * max(1, len(parts)), 3.0)
    axes = fig.subplots(1, max(1, len(parts)), squeeze=False).ravel()
    factors = list(dict.fromkeys(curves["factor"]))
    for ax, part in zip(axes, parts):
        for i, factor in enumerate(factors):
            rows = curves[(curves["part"] == part) & (curves["factor"] == factor)].sort_values("size")
            if rows.empty:
                continue
            share = rows["size"] / rows["n_units"]
            ax.plot(share, rows["faithfulness"], color=f"C{i % 10}", label=factor, linewidth=1.4)
            found = _found(circuits, factor, part)
            if found is not None:
                ax.plot(found["size"] / found["n_units"], found["faithfulness"], "o", color=f"C{i % 10}")
                ax.plot(found["size"] / found["n_units"], found["random_mean"], "x", color=f"C{i % 10}")
        ax.axhline(0.8, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{part} circuits", fontsize=10)
        ax.set_xlabel("circuit size / candidate units", fontsize=8)
        ax.set_ylabel("faithfulness", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="lower right")
    return fig


def _found(circuits, factor: str, part: str):
    if circuits is None:
        return None
    rows = circuits[(circuits["factor"] == factor) & (circuits["part"] == part) & (circuits["status"] == "found")]
    return None if rows.empty else rows.iloc[0]
