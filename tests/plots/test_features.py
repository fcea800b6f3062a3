"""Selected-feature weight bars."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.plots import plot_feature_weights


def test_bars_sorted_nonzero_only():
    names = ["a", "b", "c", "d", "e"]
    w = np.array([0.5, 0.0, -1.2, 2.0, 0.1])
    fig = plot_feature_weights(names, w)
    ax = fig.axes[0]
    widths = [b.get_width() for b in ax.patches]
    assert widths == [-1.2, 0.1, 0.5, 2.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "e", "a", "d"]


def test_top_k_and_errors():
    fig = plot_feature_weights(["a", "b", "c"], [0.1, -3.0, 2.0], top=2)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["b", "c"]
    with pytest.raises(ConfigError, match="one weight per name"):
        plot_feature_weights(["a"], [1.0, 2.0])
    with pytest.raises(ConfigError, match="at least one non-zero weight"):
        plot_feature_weights(["a"], [0.0])
