"""The per-centre before/after figure of ComBat harmonisation, drawn from real harmonised rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.plots import plot_center_harmonization
from alnm_ray.select import ComBatHarmonizer


def _medians(ax) -> np.ndarray:
    # boxplot draws one median line per box; its y value is the median
    return np.array([line.get_ydata()[0] for line in ax.lines if line.get_label() == "_nolegend_"
                     and len(line.get_xdata()) == 2 and line.get_color() in ("C1", "#ff7f0e")])


def test_held_out_rows_lose_the_centre_shift_in_the_figure(rng):
    centres = np.repeat(["A", "B", "C"], 80)
    X = pd.DataFrame(rng.normal(size=(240, 6)), columns=[f"T2WI__original_firstorder_F{j}"
                                                         for j in range(6)])
    X.iloc[:, :2] += np.select([centres == "B", centres == "C"], [4.0, -3.0], 0.0)[:, None]
    test = np.arange(240) % 4 == 0
    combat = ComBatHarmonizer().fit(X[~test], batch=centres[~test])
    after = combat.transform(X[test], batch=centres[test])
    fig = plot_center_harmonization(X[test], after, centres[test], max_features=2)
    axes = fig.axes
    assert len(axes) == 4
    # the two shifted features are the ones shown by default
    assert {ax.get_title().split(" (")[0] for ax in axes} == {X.columns[0], X.columns[1]}
    spreads = {}
    for ax in axes:
        meds = _medians(ax)
        assert meds.size == 3  # one box per centre
        spreads.setdefault(ax.get_title().rsplit("(", 1)[1].rstrip(")"), []).append(np.ptp(meds))
    assert min(spreads["before"]) > 5.0 and max(spreads["after"]) < 1.0


def test_mismatched_inputs_are_refused():
    X = pd.DataFrame({"f": [0.0, 1.0]})
    with pytest.raises(ValueError, match="expected 'after' with the rows and columns of 'before'"):
        plot_center_harmonization(X, X.iloc[:1], ["a", "b"])
