"""Waterfall plot of per-patient predicted probability minus the threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from alnm_ray.plots._common import new_axes

__all__ = ["plot_waterfall"]


def plot_waterfall(y: Any, p: Any, threshold: float, *,
                   class_names: Sequence[str] = ("ALNM-", "ALNM+"),
                   title: str | None = "Waterfall plot", ax: Axes | None = None) -> Figure:
    """One bar per patient: ``p - threshold``, sorted descending, coloured by true label.

    Bars above zero are predicted positive (``p >= threshold``); a red bar
    below zero is a missed event, a blue bar above zero a false alarm.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        threshold: Decision threshold in [0, 1].
        class_names: Legend names of outcome 0 and 1.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        InvalidPredictionsError: Bad labels, probabilities or threshold.
    """
    from alnm_ray.stats import confusion_metrics
    from alnm_ray.stats.checks import check_inputs

    yy, pp = check_inputs(y, p)
    m = confusion_metrics(yy, pp, threshold)  # also validates the threshold
    fig, ax = new_axes(ax, figsize=(max(6.0, min(14.0, yy.size / 25.0)), 4.0))
    order = np.argsort(-(pp - threshold), kind="stable")
    d = (pp - threshold)[order]
    palette = np.array(["tab:blue", "tab:red"])
    ax.bar(np.arange(d.size), d, width=1.0, color=palette[yy[order]], edgecolor="none")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set(xlim=(-0.5, d.size - 0.5), xlabel="patients (sorted by predicted probability)",
           ylabel=f"predicted probability - threshold ({threshold:.3f})")
    ax.set_xticks([])
    ax.legend(handles=[Patch(color="tab:red", label=f"{class_names[1]} (n={int(yy.sum())})"),
                       Patch(color="tab:blue", label=f"{class_names[0]} (n={int(yy.size - yy.sum())})")],
              loc="upper right", fontsize="small",
              title=f"sens {m.sensitivity:.2f}, spec {m.specificity:.2f}", title_fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return fig
