"""Plots: heatmaps show the matrix exactly, comparison plots show the given means and CIs."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from causalvae.effects import EffectMatrix
from causalvae.report import plots
from causalvae.units import unit_ids

FACTORS = ["factor.shape", "factor.scale"]


def matrix(values, sources=None, targets=None):
    values = np.asarray(values, dtype=float)
    return EffectMatrix(values, sources or [f"factor.f{i}" for i in range(values.shape[0])],
                        targets or unit_ids("latent.mu", values.shape[1]), intervention="factor-pair",
                        statistic="mean_abs", n_samples=32)


def test_heatmap_draws_the_values_with_a_symmetric_diverging_scale_when_signed():
    values = np.array([[0.5, -2.0, 0.0], [1.0, 0.25, 0.75]])
    fig = plots.effect_heatmap(matrix(values, FACTORS))
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    np.testing.assert_array_equal(shown.filled(-99), values)
    assert ax.images[0].get_clim() == (-2.0, 2.0)
    assert ax.images[0].cmap.name.startswith("RdBu_r")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["shape", "scale"]  # factor. prefix dropped
    assert [t.get_text() for t in ax.get_xticklabels()] == ["latent.mu[0]", "latent.mu[1]", "latent.mu[2]"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0.5", "-2", "0", "1", "0.25", "0.75"])


def test_heatmap_of_non_negative_effects_uses_a_sequential_scale_from_min_to_max():
    fig = plots.effect_heatmap(matrix([[0.2, 0.4], [0.6, 1.0]]))
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0.2, 1.0)
    assert image.cmap.name.startswith("viridis")


def test_large_heatmaps_clip_the_colour_scale_to_percentiles_so_outliers_do_not_wash_it_out():
    values = np.tile(np.linspace(0.0, 1.0, 101), (2, 1))
    values[0, 50] = 1000.0  # one exploding cell
    image = plots.effect_heatmap(matrix(values)).axes[0].images[0]
    low, high = np.quantile(values, [0.01, 0.99])
    np.testing.assert_allclose(image.get_clim(), (low, high))
    assert high < 2.0
    assert "clipped to 1st–99th percentile" in image.colorbar.ax.get_ylabel()
    exact = plots.effect_heatmap(matrix(values), robust=False).axes[0].images[0]
    assert exact.get_clim() == (0.0, 1000.0) and "clipped" not in exact.colorbar.ax.get_ylabel()


def test_robust_signed_scale_stays_symmetric():
    values = np.linspace(-1.0, 1.0, 202).reshape(2, 101)
    values[1, 0] = -50.0
    bound = np.quantile(np.abs(values), 0.99)
    assert plots.effect_heatmap(matrix(values)).axes[0].images[0].get_clim() == (-bound, bound)


def test_heatmap_with_many_targets_labels_sites_and_draws_boundaries():
    targets = unit_ids("encoder.conv1", 30) + unit_ids("encoder.conv2", 20) + unit_ids("latent.mu", 5)
    fig = plots.effect_heatmap(matrix(np.ones((2, 55)), FACTORS, targets), max_tick_labels=40)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["encoder.conv1", "encoder.conv2", "latent.mu"]
    np.testing.assert_allclose(ax.get_xticks(), [14.5, 39.5, 52.0])
    boundaries = sorted(line.get_xdata()[0] for line in ax.lines)
    assert boundaries == [29.5, 49.5]
    assert not ax.texts  # 110 cells but annotate only when asked or small
    assert len(plots.effect_heatmap(matrix(np.ones((2, 55)), FACTORS, targets), annotate=True).axes[0].texts) == 110


@pytest.mark.parametrize("bad, error", [("not a matrix", TypeError)])
def test_heatmap_rejects_bad_input(bad, error):
    with pytest.raises(error, match="EffectMatrix"):
        plots.effect_heatmap(bad)


def test_heatmap_rejects_bad_options():
    with pytest.raises(ValueError, match="max_tick_labels"):
        plots.effect_heatmap(matrix([[1.0]]), max_tick_labels=0)
    with pytest.raises(ValueError, match=r"empty EffectMatrix \(shape \(0, 2\)\)"):
        plots.effect_heatmap(matrix(np.ones((0, 2)), [], ["a", "b"]))
    with pytest.raises(ValueError, match="colormap 'nope'"):
        plots.effect_heatmap(matrix([[1.0]]), cmap="nope")


def comparison_long():
    return pd.DataFrame({"variant": ["vae", "beta-vae", "vae", "beta-vae"], "metric": ["dci", "dci", "ces", "ces"],
                         "mean": [0.3, 0.2, 4.0, 3.4], "ci_low": [0.25, 0.1, 3.0, np.nan],
                         "ci_high": [0.4, 0.35, 5.5, np.nan]})


def panel_points(ax):
    """(y of each point, (low, high) of each error bar) in drawing order."""
    ys = [line.get_ydata()[0] for line in ax.lines if line.get_marker() == "o"]
    bars = [tuple(sorted(seg[:, 1])) for coll in ax.collections for seg in coll.get_segments()]
    return ys, bars


def test_comparison_plot_shows_means_and_ci_bounds_per_variant():
    fig = plots.comparison_plot(comparison_long(), title="variants")
    dci, ces = fig.axes[:2]
    assert dci.get_title() == "dci" and ces.get_title() == "ces"
    ys, bars = panel_points(dci)
    assert ys == [0.3, 0.2]
    np.testing.assert_allclose(bars, [(0.25, 0.4), (0.1, 0.35)])
    assert [t.get_text() for t in dci.get_xticklabels()] == ["vae", "beta-vae"]
    ys, bars = panel_points(ces)
    assert ys == [4.0, 3.4]
    np.testing.assert_allclose(bars, [(3.0, 5.5), (3.4, 3.4)])  # missing CI: zero-length bar


def test_comparison_plot_draws_reference_values_beside_the_measured_ones():
    fig = plots.comparison_plot(comparison_long(), reference={"ces": {"vae": 3.99, "beta-vae": 3.43, "other": 1.0}},
                                reference_label="arXiv 2505.03530")
    dci, ces = fig.axes[:2]
    diamonds = [line for line in ces.lines if line.get_marker() == "D"]
    assert len(diamonds) == 1 and not [line for line in dci.lines if line.get_marker() == "D"]
    np.testing.assert_allclose(diamonds[0].get_xdata(), [0.18, 1.18])  # beside vae and beta-vae; "other" unplotted
    np.testing.assert_allclose(diamonds[0].get_ydata(), [3.99, 3.43])
    assert [t.get_text() for t in ces.get_legend().get_texts()] == ["arXiv 2505.03530"]
    with pytest.warns(UserWarning, match=r"reference metric\(s\) \['mig'\] are not in the plotted metrics"):
        fig = plots.comparison_plot(comparison_long(), reference={"mig": {"vae": 0.1}})
    assert not [line for ax in fig.axes for line in ax.lines if line.get_marker() == "D"]


def test_comparison_wide_form_equals_long_form():
    long = comparison_long()
    wide = long.set_index(["variant", "metric"])[["mean", "ci_low", "ci_high"]].unstack("metric")
    wide = wide.swaplevel(axis=1).sort_index(axis=1)
    normalised = plots.comparison_long_form(wide).sort_values(["variant", "metric"]).reset_index(drop=True)
    expected = long.sort_values(["variant", "metric"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(normalised, expected)


def test_comparison_plot_selects_metrics_in_the_given_order():
    fig = plots.comparison_plot(comparison_long(), metrics=["ces"])
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["ces"]


@pytest.mark.parametrize("table, kwargs, error, match", [
    (pd.DataFrame({"variant": ["a"], "mean": [1.0]}), {}, ValueError, r"missing column\(s\) \['metric'\]"),
    (pd.concat([comparison_long()] * 2), {}, ValueError, "one per variant and metric"),
    (comparison_long(), {"metrics": ["mig"]}, KeyError, "mig"),
    (comparison_long(), {"n_cols": 0}, ValueError, "n_cols"),
    (comparison_long().iloc[:0], {}, ValueError, "at least one metric"),
    ([1, 2], {}, TypeError, "DataFrame"),
])
def test_comparison_plot_rejects_bad_tables(table, kwargs, error, match):
    with pytest.raises(error, match=match):
        plots.comparison_plot(table, **kwargs)


def test_save_figure_writes_the_format_of_the_suffix_atomically(tmp_path):
    fig = plots.effect_heatmap(matrix([[1.0, 2.0]]))
    assert plots.save_figure(fig, tmp_path / "h.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in plots.save_figure(fig, tmp_path / "h.svg").read_bytes()[:500]
    with pytest.raises(ValueError, match=r"\.png"):
        plots.save_figure(fig, tmp_path / "h.jpeg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png", "h.svg"]  # no temporary files left


def test_plotting_never_imports_pyplot():
    code = ("import numpy as np, sys;"
            "from causalvae.report import plots; from causalvae.effects import EffectMatrix;"
            "plots.figure_png(plots.effect_heatmap(EffectMatrix(np.eye(2), ['a', 'b'], ['c', 'd'], "
            "intervention='i', statistic='s', n_samples=1)));"
            "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
