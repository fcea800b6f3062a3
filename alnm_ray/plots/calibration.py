"""Calibration curves with a histogram of the predicted probabilities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alnm_ray.plots._common import REFERENCE_COLOR, as_models, colors

__all__ = ["plot_calibration"]


def plot_calibration(y: Any, models: Mapping[str, Any] | Any, *, n_bins: int = 10,
                     strategy: str = "uniform", level: float = 0.95,
                     title: str | None = "Calibration", ax: Axes | None = None) -> Figure:
    """Observed event fraction against mean predicted probability, per bin.

    Each model gets points (bin means) joined by lines with Wilson
    intervals; the legend gives the Brier score and calibration slope.  On a
    new figure a histogram of the predicted probabilities sits underneath.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        models: ``{name: probabilities}`` or one probability array.
        n_bins: Number of bins.
        strategy: ``"uniform"`` (equal widths) or ``"quantile"`` (equal counts).
        level: Level of the Wilson intervals.
        title: Axes title.
        ax: Draw the curve into these axes (no histogram) instead of a new figure.

    Returns:
        The Figure.

    Raises:
        InvalidPredictionsError: Bad labels or probabilities.
    """
    from alnm_ray.plots._common import new_axes
    from alnm_ray.stats import brier_score, calibration_curve, calibration_intercept_slope

    from alnm_ray.stats.checks import check_models

    y, models = check_models(y, as_models(models))
    hist_ax = None
    if ax is None:
        fig = Figure(figsize=(5.5, 6.2), dpi=100, layout="constrained")
        ax, hist_ax = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    else:
        fig, ax = new_axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color=REFERENCE_COLOR, label="perfect calibration")
    for (name, p), color in zip(models.items(), colors(len(models))):
        c = calibration_curve(y, p, n_bins=n_bins, strategy=strategy, level=level)
        r = calibration_intercept_slope(y, p)
        err = np.vstack([c.observed - c.low, c.high - c.observed])
        ax.errorbar(c.mean_predicted, c.observed, yerr=err, fmt="o-", color=color, ms=4, lw=1.5,
                    capsize=2, label=f"{name}: Brier {brier_score(y, p):.3f}, slope {r.slope:.2f}")
        if hist_ax is not None:
            hist_ax.hist(np.asarray(p, dtype=float), bins=np.linspace(0, 1, 41), color=color,
                         alpha=0.5, histtype="stepfilled")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), ylabel="observed fraction with event")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    if title:
        ax.set_title(title)
    if hist_ax is not None:
        hist_ax.set(xlabel="predicted probability", ylabel="patients")
        hist_ax.grid(alpha=0.3)
    else:
        ax.set_xlabel("predicted probability")
    return fig
