"""matplotlib figures for evaluation reports (no pyplot global state).

Every function returns a :class:`matplotlib.figure.Figure` (or draws into a
given ``ax``); :func:`save_figure` writes it as PNG and SVG.
"""

from alnm_ray.plots._save import save_figure
from alnm_ray.plots.calibration import plot_calibration
from alnm_ray.plots.centers import plot_center_harmonization, plot_center_rocs
from alnm_ray.plots.decision import plot_clinical_impact, plot_decision_curves
from alnm_ray.plots.features import plot_feature_weights
from alnm_ray.plots.lasso import plot_lasso_cv, plot_lasso_path
from alnm_ray.plots.nomogram import plot_nomogram
from alnm_ray.plots.roc import plot_roc, plot_roc_curves
from alnm_ray.plots.waterfall import plot_waterfall

__all__ = [
    "plot_calibration",
    "plot_center_harmonization",
    "plot_center_rocs",
    "plot_clinical_impact",
    "plot_decision_curves",
    "plot_feature_weights",
    "plot_lasso_cv",
    "plot_lasso_path",
    "plot_nomogram",
    "plot_roc",
    "plot_roc_curves",
    "plot_waterfall",
    "save_figure",
]
