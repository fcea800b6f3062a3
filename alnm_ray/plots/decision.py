"""Decision curves (net benefit) and the clinical impact curve."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alnm_ray.plots._common import REFERENCE_COLOR, as_models, colors, new_axes

__all__ = ["plot_clinical_impact", "plot_decision_curves"]


def plot_decision_curves(y: Any, models: Mapping[str, Any] | Any, *, thresholds: Any = None,
                         title: str | None = "Decision curves", ax: Axes | None = None) -> Figure:
    """Net benefit of each model, treat-all and treat-none over threshold probabilities.

    The y-axis runs from slightly below 0 to just above the prevalence (the
    highest net benefit possible), so the strongly negative treat-all tail
    does not squash the curves.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        models: ``{name: probabilities}`` or one probability array.
        thresholds: Threshold probabilities in [0, 1); default 0.01 … 0.99.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        InvalidPredictionsError: Bad labels, probabilities or thresholds.
    """
    from alnm_ray.stats import decision_curve

    fig, ax = new_axes(ax, figsize=(6.0, 4.5))
    dc = decision_curve(y, as_models(models), thresholds)
    for (name, nb), color in zip(dc.models.items(), colors(len(dc.models))):
        ax.plot(dc.thresholds, nb, color=color, lw=2, label=name)
    ax.plot(dc.thresholds, dc.treat_all, color=REFERENCE_COLOR, lw=1.2, label="treat all")
    ax.plot(dc.thresholds, dc.treat_none, color="black", lw=1.2, ls="--", label="treat none")
    prevalence = float(np.mean(np.asarray(y, dtype=float)))
    top = max(prevalence, max((float(np.max(v)) for v in dc.models.values()), default=0.0))
    ax.set(xlim=(float(dc.thresholds[0]), float(dc.thresholds[-1])),
           ylim=(-0.05 - 0.05 * top, top * 1.1 + 0.01), xlabel="threshold probability",
           ylabel="net benefit")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_clinical_impact(y: Any, p: Any, *, thresholds: Any = None, population: int = 1000,
                         name: str = "model", title: str | None = None,
                         ax: Axes | None = None) -> Figure:
    """Clinical impact curve: high-risk calls and true events per ``population`` patients.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        thresholds: Threshold probabilities in [0, 1); default 0.01 … 0.99.
        population: Population size the counts are scaled to.
        name: Model name for the title.
        title: Axes title (default names the model and population).
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        InvalidPredictionsError: Bad labels, probabilities or thresholds.
    """
    from alnm_ray.stats import clinical_impact

    fig, ax = new_axes(ax, figsize=(6.0, 4.5))
    ci = clinical_impact(y, p, thresholds, population=population)
    ax.plot(ci.thresholds, ci.n_high_risk, color="tab:red", lw=2, label="number high risk")
    ax.plot(ci.thresholds, ci.n_high_risk_events, color="tab:blue", lw=2, ls="--",
            label="number high risk with event")
    ax.set(xlim=(float(ci.thresholds[0]), float(ci.thresholds[-1])), ylim=(0, population * 1.02),
           xlabel="threshold probability", ylabel=f"number per {population} patients")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title if title is not None else f"Clinical impact: {name}")
    return fig
