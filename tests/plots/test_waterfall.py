"""Waterfall plot of p - threshold."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from alnm_ray.plots import plot_waterfall
from alnm_ray.stats import InvalidPredictionsError


def test_bars_sorted_and_coloured_by_label(y_p2, legend):
    y, models, _ = y_p2
    p = models["radiomics"]
    fig = plot_waterfall(y, p, 0.4)
    bars = fig.axes[0].patches
    heights = np.array([b.get_height() for b in bars])
    assert heights.size == y.size
    assert np.all(np.diff(heights) <= 0)  # sorted descending
    np.testing.assert_allclose(np.sort(heights)[::-1], np.sort(p - 0.4)[::-1])
    red = sum(b.get_facecolor() == to_rgba("tab:red") for b in bars)
    assert red == y.sum()
    assert f"ALNM+ (n={y.sum()})" in legend(fig)


def test_bad_threshold(y_p2):
    y, models, _ = y_p2
    with pytest.raises(InvalidPredictionsError, match="threshold"):
        plot_waterfall(y, models["deep"], 2.0)
