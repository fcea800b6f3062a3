"""ROC curves: one model with a bootstrap confidence band, several models on one plot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alnm_ray.plots._common import REFERENCE_COLOR, as_models, colors, fmt_ci, new_axes

__all__ = ["plot_roc", "plot_roc_curves"]


def _style(ax: Axes, title: str | None) -> None:
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color=REFERENCE_COLOR, label="chance")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="1 - specificity (false-positive rate)",
           ylabel="sensitivity (true-positive rate)", aspect="equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    if title:
        ax.set_title(title)


def plot_roc(y: Any, p: Any, *, name: str = "model", ci_band: bool = True, n_boot: int = 500,
             level: float = 0.95, seed: int | None = 0, mark_youden: bool = True,
             title: str | None = "ROC curve", ax: Axes | None = None) -> Figure:
    """One model's ROC curve with a pointwise bootstrap band and its AUC.

    The legend gives the AUC with its DeLong interval; the shaded band is
    the stratified-bootstrap percentile band of sensitivity at each
    false-positive rate (see :func:`alnm_ray.stats.roc_confidence_band`).

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        name: Model name for the legend.
        ci_band: Draw the bootstrap band.
        n_boot: Bootstrap replicates of the band.
        level: Confidence level of the band and the AUC interval.
        seed: Seed of the band's replicates.
        mark_youden: Mark the Youden-optimal operating point.
        title: Axes title (``None`` for none).
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        InvalidPredictionsError: Bad labels or probabilities.
    """
    from alnm_ray.stats import delong_ci, roc_confidence_band, roc_curve, youden_threshold
    from alnm_ray.stats.checks import check_models

    y, probs = check_models(y, {name: p}, probability=False)
    p = probs[name]
    fig, ax = new_axes(ax)
    fpr, tpr, _ = roc_curve(y, p)
    d = delong_ci(y, p, level=level)
    color = colors(1)[0]
    if ci_band:
        grid, lo, hi = roc_confidence_band(y, p, n_boot=n_boot, level=level, seed=seed)
        ax.fill_between(grid, lo, hi, step="post", color=color, alpha=0.2, lw=0,
                        label=f"{level * 100:g}% bootstrap band")
    ax.plot(fpr, tpr, color=color, lw=2,
            label=f"{name}: AUC {fmt_ci(d.auc, d.low, d.high)}")
    if mark_youden:
        yj = youden_threshold(y, p)
        ax.plot(1 - yj.specificity, yj.sensitivity, "o", color="black", ms=6,
                label=f"Youden threshold {yj.threshold:.3f}")
    _style(ax, title)
    return fig


def plot_roc_curves(y: Any, models: Mapping[str, Any], *, level: float = 0.95,
                    title: str | None = "ROC curves", ax: Axes | None = None) -> Figure:
    """Several models' ROC curves on the same patients, one colour each.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        models: ``{name: probabilities}`` (legend order), each of shape ``(n,)``.
        level: Level of the DeLong AUC intervals in the legend.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        InvalidPredictionsError: Bad labels or probabilities.
    """
    from alnm_ray.stats import delong_ci, roc_curve
    from alnm_ray.stats.checks import check_models

    y, models = check_models(y, as_models(models), probability=False)
    fig, ax = new_axes(ax)
    for (name, p), color in zip(models.items(), colors(len(models))):
        fpr, tpr, _ = roc_curve(y, p)
        d = delong_ci(y, p, level=level)
        ax.plot(fpr, tpr, color=color, lw=2, label=f"{name}: AUC {fmt_ci(d.auc, d.low, d.high)}")
    _style(ax, title)
    return fig
