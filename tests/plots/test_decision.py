"""Decision and clinical impact curves."""

from __future__ import annotations

import numpy as np

from alnm_ray.plots import plot_clinical_impact, plot_decision_curves
from alnm_ray.stats import clinical_impact, decision_curve


def test_decision_curves_lines(y_p2, legend):
    y, models, _ = y_p2
    t = np.arange(0.05, 0.95, 0.05)
    fig = plot_decision_curves(y, models, thresholds=t)
    dc = decision_curve(y, models, t)
    ax = fig.axes[0]
    by_label = {ln.get_label(): ln for ln in ax.lines}
    assert set(legend(fig)) == {"radiomics", "deep", "treat all", "treat none"}
    np.testing.assert_allclose(by_label["radiomics"].get_ydata(), dc.models["radiomics"])
    np.testing.assert_allclose(by_label["treat all"].get_ydata(), dc.treat_all)
    lo, hi = ax.get_ylim()
    assert lo < 0 < hi and hi >= y.mean()


def test_clinical_impact_lines(y_p2):
    y, models, _ = y_p2
    fig = plot_clinical_impact(y, models["deep"], population=500, name="deep")
    ci = clinical_impact(y, models["deep"], population=500)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), ci.n_high_risk)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), ci.n_high_risk_events)
    assert ax.get_title() == "Clinical impact: deep"
    assert "per 500" in ax.get_ylabel()
