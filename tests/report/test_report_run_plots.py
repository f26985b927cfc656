"""Figures of one run: training curve, reconstructions, faithfulness curves."""

import numpy as np
import pandas as pd
import pytest

from causalvae.report.plots import figure_png
from causalvae.report.run_plots import faithfulness_curves, reconstruction_grid, training_curve


def test_training_curve_draws_one_panel_per_loss_term_with_a_running_mean():
    records = [{"step": s, "loss": 1000.0 / s, "recon": 990.0 / s, "kl": 10.0} for s in range(1, 201)]
    fig = training_curve(records, smooth=10)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "recon", "kl"]
    raw, smooth = fig.axes[0].lines
    assert len(raw.get_xdata()) == 200 and len(smooth.get_xdata()) == 191
    assert smooth.get_ydata()[0] == pytest.approx(np.mean([1000.0 / s for s in range(1, 11)]))
    assert fig.axes[0].get_yscale() == "log" and fig.axes[2].get_yscale() == "linear"  # 1000x range vs constant


def test_reconstruction_grid_puts_inputs_over_reconstructions():
    x = np.zeros((3, 1, 8, 8))
    fig = reconstruction_grid(x, x + 0.5)
    assert len(fig.axes) == 6 and fig.axes[0].get_ylabel() == "input" and fig.axes[3].get_ylabel() == "recon."
    assert figure_png(fig)[:4] == b"\x89PNG"


@pytest.mark.parametrize("x, x_hat", [(np.zeros((2, 1, 4, 4)), np.zeros((3, 1, 4, 4))),
                                      (np.zeros((2, 16)), np.zeros((2, 16))), (np.zeros((0, 1, 4, 4)),) * 2])
def test_reconstruction_grid_rejects_bad_shapes(x, x_hat):
    with pytest.raises(ValueError, match="non-empty N x C x H x W arrays of one shape"):
        reconstruction_grid(x, x_hat)


def test_faithfulness_curves_mark_each_found_circuit_and_its_random_baseline():
    curves = pd.DataFrame({"factor": ["a"] * 3 + ["b"] * 3, "part": ["encoder"] * 6, "size": [0, 5, 10] * 2,
                           "n_units": [10] * 6, "faithfulness": [0, 0.9, 1, 0, 0.3, 1]})
    circuits = pd.DataFrame({"factor": ["a", "b"], "part": ["encoder"] * 2, "status": ["found", "not found"],
                             "size": [5, 10], "n_units": [10, 10], "faithfulness": [0.9, 1.0],
                             "random_mean": [0.1, 0.5]})
    fig = faithfulness_curves(curves, circuits)
    lines = fig.axes[0].lines
    # curve a, its circuit (dot) and baseline (cross), curve b (not found: no marks), the 0.8 target line
    assert len(lines) == 5
    assert (lines[1].get_xdata()[0], lines[1].get_ydata()[0]) == (0.5, 0.9)
    assert (lines[2].get_marker(), lines[2].get_ydata()[0]) == ("x", 0.1)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['n_units'\]"):
        faithfulness_curves(curves.drop(columns="n_units"))


def test_training_curve_needs_records():
    with pytest.raises(ValueError, match="at least one log record"):
        training_curve([])
