"""ROC curves per centre (external validation), with the pooled curve."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alnm_ray.exceptions import AlnmRayWarning
from alnm_ray.plots._common import REFERENCE_COLOR, colors, fmt_ci, new_axes

__all__ = ["plot_center_rocs"]


def plot_center_rocs(y: Any, p: Any, centers: Any, *, pooled: bool = True, level: float = 0.95,
                     title: str | None = "ROC by centre", ax: Axes | None = None) -> Figure:
    """One ROC curve per centre (legend: n and AUC with DeLong CI), plus the pooled curve.

    Centres whose patients all share one outcome have no ROC curve; they are
    listed in a warning and in the legend title, never silently dropped.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        centers: Centre of each patient, shape ``(n,)``.
        pooled: Also draw the curve of all patients together.
        level: Level of the DeLong intervals.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        InvalidPredictionsError: Bad labels or probabilities, or ``centers``
            of another length.
    """
    from alnm_ray.stats import delong_ci, roc_curve
    from alnm_ray.stats.checks import InvalidPredictionsError, check_inputs

    yy, pp = check_inputs(y, p)
    cen = np.asarray(centers).astype(str)
    if cen.shape != yy.shape:
        raise InvalidPredictionsError(
            f"centers: expected one centre per patient ({yy.size}); got shape {cen.shape}. "
            "Pass the centre column of the same rows.")
    fig, ax = new_axes(ax)
    names = sorted(set(cen.tolist()))
    skipped = []
    for name, color in zip(names, colors(len(names))):
        sel = cen == name
        if yy[sel].min() == yy[sel].max():
            skipped.append(name)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # tiny centres: NaN interval is shown
            d = delong_ci(yy[sel], pp[sel], level=level)
        fpr, tpr, _ = roc_curve(yy[sel], pp[sel])
        ax.plot(fpr, tpr, color=color, lw=1.8,
                label=f"{name} (n={int(sel.sum())}): AUC {fmt_ci(d.auc, d.low, d.high)}")
    if pooled:
        d = delong_ci(yy, pp, level=level)
        fpr, tpr, _ = roc_curve(yy, pp)
        ax.plot(fpr, tpr, color="black", lw=2.2, ls="-.",
                label=f"pooled (n={yy.size}): AUC {fmt_ci(d.auc, d.low, d.high)}")
    if skipped:
        warnings.warn(f"ROC by centre: no curve for centre(s) {skipped} (only one outcome class).",
                      AlnmRayWarning, stacklevel=2)
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color=REFERENCE_COLOR)
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal",
           xlabel="1 - specificity (false-positive rate)", ylabel="sensitivity (true-positive rate)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="x-small",
              title=f"no ROC (one class): {', '.join(skipped)}" if skipped else None,
              title_fontsize="x-small")
    if title:
        ax.set_title(title)
    return fig
