"""ROC plots draw the statistics module's curves and intervals."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from alnm_ray.plots import plot_roc, plot_roc_curves, save_figure
from alnm_ray.stats import InvalidPredictionsError, delong_ci, roc_curve


def test_single_roc_with_band(y_p2, legend, tmp_path):
    y, models, _ = y_p2
    p = models["radiomics"]
    fig = plot_roc(y, p, name="radiomics", n_boot=100)
    assert isinstance(fig, Figure) and plt.get_fignums() == []  # no pyplot state
    ax = fig.axes[0]
    fpr, tpr, _ = roc_curve(y, p)
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_xdata(), fpr)
    np.testing.assert_allclose(curve.get_ydata(), tpr)
    assert len(ax.collections) == 1  # the bootstrap band
    d = delong_ci(y, p)
    texts = legend(fig)
    assert any(f"AUC {d.auc:.3f} ({d.low:.3f}-{d.high:.3f})" in t for t in texts)
    assert any(t.startswith("Youden threshold") for t in texts)
    assert all(path.stat().st_size > 1000 for path in save_figure(fig, tmp_path / "roc"))


def test_no_band(y_p2):
    y, models, _ = y_p2
    fig = plot_roc(y, models["deep"], ci_band=False, mark_youden=False)
    assert len(fig.axes[0].collections) == 0


def test_several_models_into_given_axes(y_p2, legend):
    y, models, _ = y_p2
    outer = Figure()
    ax = outer.add_subplot(1, 2, 2)
    fig = plot_roc_curves(y, models, ax=ax)
    assert fig is outer
    texts = legend(fig)
    assert [t.split(":")[0] for t in texts[:2]] == ["radiomics", "deep"]
    assert len(ax.lines) == 3  # two models + chance line


def test_bad_input_raises(y_p2):
    y, models, _ = y_p2
    bad = models["deep"].copy()
    bad[3] = np.nan
    with pytest.raises(InvalidPredictionsError, match=r"bad: expected a finite prediction .* row position\(s\) 3"):
        plot_roc_curves(y, {"bad": bad})
