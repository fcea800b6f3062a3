"""Calibration plot."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from alnm_ray.plots import plot_calibration
from alnm_ray.stats import brier_score, calibration_curve


def test_curve_points_and_histogram(y_p2, legend):
    y, models, _ = y_p2
    fig = plot_calibration(y, models, n_bins=5)
    assert len(fig.axes) == 2  # curve + histogram
    ax = fig.axes[0]
    c = calibration_curve(y, models["radiomics"], n_bins=5)
    line = [c for c in ax.containers if c.get_label().startswith("radiomics")][0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), c.mean_predicted)
    np.testing.assert_allclose(line.get_ydata(), c.observed)
    assert any(f"Brier {brier_score(y, models['deep']):.3f}" in t for t in legend(fig))
    assert len(fig.axes[1].patches) == 2  # one stepfilled histogram per model


def test_single_array_into_axes(y_p2):
    y, models, _ = y_p2
    outer = Figure()
    fig = plot_calibration(y, models["deep"], ax=outer.add_subplot(), strategy="quantile")
    assert fig is outer and len(fig.axes) == 1
