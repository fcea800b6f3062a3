"""Per-centre ROC curves."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.exceptions import AlnmRayWarning
from alnm_ray.plots import plot_center_rocs
from alnm_ray.stats import InvalidPredictionsError, roc_auc


def test_one_curve_per_centre_plus_pooled(y_p2, legend):
    y, models, centres = y_p2
    p = models["radiomics"]
    fig = plot_center_rocs(y, p, centres)
    texts = legend(fig)
    assert [t.split(" ")[0] for t in texts] == ["C1", "C2", "C3", "pooled"]
    sel = centres == "C2"
    assert f"AUC {roc_auc(y[sel], p[sel]):.3f}" in texts[1]
    assert f"(n={sel.sum()})" in texts[1]


def test_single_class_centre_is_reported(y_p2, legend):
    y, models, centres = y_p2
    centres = centres.copy()
    lonely = np.flatnonzero(y == 1)[:2]
    centres[lonely] = "C9"
    with pytest.warns(AlnmRayWarning, match=r"no curve for centre\(s\) \['C9'\]"):
        fig = plot_center_rocs(y, models["deep"], centres, pooled=False)
    assert "C9" in fig.axes[0].get_legend().get_title().get_text()
    assert not any(t.startswith("C9") for t in legend(fig))


def test_length_mismatch(y_p2):
    y, models, centres = y_p2
    with pytest.raises(InvalidPredictionsError, match="centers: expected one centre per patient"):
        plot_center_rocs(y, models["deep"], centres[:5])
