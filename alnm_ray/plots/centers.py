"""ROC curves per centre (external validation), with the pooled curve."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alnm_ray.exceptions import AlnmRayWarning
from alnm_ray.plots._common import REFERENCE_COLOR, colors, fmt_ci, new_axes

__all__ = ["plot_center_harmonization", "plot_center_rocs"]


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


def plot_center_harmonization(before: Any, after: Any, centers: Any, *,
                              features: Any = None, max_features: int = 4,
                              title: str | None = "Per-centre feature distributions") -> Figure:
    """Box plots of a few features per centre, before (left) and after (right) harmonisation.

    Use it on rows ComBat did not learn from (a fold's test rows, new patients)
    to see that the learned centre parameters carry over.  The features shown
    by default are those whose centre means differ most before harmonisation.

    Args:
        before: Rows as extracted (DataFrame, patients x features).
        after: The same rows after harmonisation (same index and columns).
        centers: Centre of each row, shape ``(n,)``.
        features: Columns to show (default: the ``max_features`` with the
            largest spread of centre means, in SD units, before).
        max_features: How many features by default.
        title: Figure title.

    Returns:
        The Figure: one row of two panels per feature.

    Raises:
        ValueError: ``after`` does not match ``before``, or ``centers`` has
            another length.

    Example:
        >>> import pandas as pd
        >>> X = pd.DataFrame({"f": [0.0, 1.0, 5.0, 6.0]})
        >>> after = X.sub([0.0, 0.0, 5.0, 5.0], axis=0)  # centre b shifted back by 5
        >>> fig = plot_center_harmonization(X, after, ["a", "a", "b", "b"])
        >>> len(fig.axes)
        2
    """
    import pandas as pd

    b, a = pd.DataFrame(before), pd.DataFrame(after)
    cen = np.asarray(centers).astype(str)
    if b.shape != a.shape or list(b.columns) != list(a.columns) or cen.shape != (len(b),):
        raise ValueError(
            f"plot_center_harmonization: expected 'after' with the rows and columns of 'before' "
            f"{b.shape} and one centre per row; got after {a.shape}, centers {cen.shape}. Pass the "
            "same rows before and after transform.")
    if features is None:
        sd = b.std().replace(0.0, np.nan)
        spread = (b.groupby(cen).mean().agg(np.ptp) / sd).fillna(0.0)
        features = list(spread.sort_values(ascending=False).index[:max_features])
    features = [str(f) for f in features]
    names = sorted(set(cen.tolist()))
    fig = Figure(figsize=(8.0, 2.4 * len(features) + 0.6), layout="constrained")
    axes = fig.subplots(len(features), 2, squeeze=False)
    for row, feat in enumerate(features):
        for col, (frame, label) in enumerate(((b, "before"), (a, "after"))):
            ax = axes[row][col]
            ax.boxplot([frame.loc[cen == n, feat].to_numpy(dtype=float) for n in names],
                       tick_labels=names, showfliers=False)
            ax.set_title(f"{feat} ({label})", fontsize="small")
            ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title)
    return fig
