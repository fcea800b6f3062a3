"""Bar chart of the selected features' weights (e.g. LASSO coefficients of a rad-score)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alnm_ray.exceptions import ConfigError
from alnm_ray.plots._common import new_axes

__all__ = ["plot_feature_weights"]


def plot_feature_weights(names: Sequence[str], weights: Any, *, top: int | None = None,
                         drop_zero: bool = True, xlabel: str = "coefficient",
                         title: str | None = "Selected features", ax: Axes | None = None) -> Figure:
    """Horizontal bars of feature weights, sorted by value, positive red / negative blue.

    Args:
        names: Feature names, length ``k`` (e.g. ``T2WI__original_glcm_Idm``).
        weights: Weights, shape ``(k,)``.
        top: Keep only the ``top`` largest |weights|.
        drop_zero: Leave out features with weight exactly 0 (not selected).
        xlabel: Label of the weight axis.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure (its height grows with the number of bars).

    Raises:
        ConfigError: Lengths differ, or no feature is left to draw.
    """
    w = np.asarray(weights, dtype=np.float64)
    labels = [str(n) for n in names]
    if w.ndim != 1 or w.size != len(labels):
        raise ConfigError(f"weights: expected one weight per name ({len(labels)}); got shape {w.shape}.")
    keep = np.flatnonzero(w != 0.0) if drop_zero else np.arange(w.size)
    if top is not None:
        keep = keep[np.argsort(-np.abs(w[keep]), kind="stable")[:top]]
    if keep.size == 0:
        raise ConfigError("weights: expected at least one non-zero weight to plot; got none. "
                          "Nothing was selected, or pass drop_zero=False.")
    keep = keep[np.argsort(w[keep], kind="stable")]
    fig, ax = new_axes(ax, figsize=(7.0, max(2.5, 0.28 * keep.size + 1.2)))
    vals = w[keep]
    ax.barh(np.arange(keep.size), vals, color=np.where(vals > 0, "tab:red", "tab:blue"), height=0.7)
    ax.set_yticks(np.arange(keep.size), [labels[i] for i in keep], fontsize="small")
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    return fig
