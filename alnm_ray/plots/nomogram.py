"""The classic nomogram of a fitted logistic model (points ruler, predictor axes, risk)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from alnm_ray.plots._common import new_axes
from alnm_ray.stats.nomogram import DEFAULT_PROBABILITY_TICKS, MAX_POINTS, Nomogram

__all__ = ["plot_nomogram"]

#: Vertical distance between two axes (data units).
ROW_STEP = 1.0
#: Tick mark length (data units, downwards).
TICK = 0.12
#: Labels closer than this (points-ruler units) alternate above / below the axis.
MIN_LABEL_GAP = 6.0
#: Where the axis names end (points-ruler units, left of 0).
NAME_X = -4.0


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"


def _draw_axis(ax: Axes, y: float, positions: Any, labels: Sequence[str], name: str, *,
               extent: tuple[float, float] | None = None, color: str = "black") -> None:
    xs: np.ndarray = np.asarray(positions, dtype=float)
    lo, hi = extent if extent is not None else (float(xs.min()), float(xs.max()))
    ax.plot([lo, hi], [y, y], color=color, lw=1.0, solid_capstyle="butt")
    order = np.argsort(xs, kind="stable")
    above = np.zeros(xs.size, dtype=np.bool_)
    shown = np.ones(xs.size, dtype=np.bool_)
    last_below = last_above = -np.inf
    for i in order:  # alternate where neighbours would collide; thin where both sides would
        if xs[i] - last_below >= MIN_LABEL_GAP:
            last_below = xs[i]
        elif xs[i] - last_above >= MIN_LABEL_GAP:
            above[i], last_above = True, xs[i]
        else:
            shown[i] = False
    for x, lab, up, show in zip(xs, labels, above, shown):
        ax.plot([x, x], [y, y + (TICK if up else -TICK)], color=color, lw=0.8)
        if show:
            ax.text(x, y + (1.6 * TICK if up else -1.6 * TICK), lab, ha="center",
                    va="bottom" if up else "top", fontsize=8, color=color)
    ax.text(NAME_X, y, name, ha="right", va="center", fontsize=9, fontweight="bold")


def plot_nomogram(nomogram: Nomogram, *, labels: Mapping[str, str] | None = None,
                  outcome: str = "Probability of ALNM",
                  probabilities: Sequence[float] = DEFAULT_PROBABILITY_TICKS,
                  show_linear_predictor: bool = True, title: str | None = "Nomogram",
                  ax: Axes | None = None) -> Figure:
    """Draw ``nomogram``: points, one axis per predictor, total points, LP and probability.

    Read it the usual way: for each predictor, go up from its value to the
    *Points* ruler; add the points; find the total on *Total points* and go
    down to the probability.

    Args:
        nomogram: From :meth:`~alnm_ray.stats.nomogram.Nomogram.from_model`.
        labels: Display names for predictors, e.g. ``{"size": "Tumour size (cm)"}``.
        outcome: Name of the probability axis.
        probabilities: Probabilities to mark (those reachable are drawn).
        show_linear_predictor: Also draw the linear-predictor (log-odds) axis.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure; save it with :func:`alnm_ray.plots.save_figure` (PNG + SVG).

    Example:
        >>> from alnm_ray.stats.nomogram import NomogramAxis
        >>> nomo = Nomogram(-3.0, (NomogramAxis("size", "continuous", (0.5, 6.0), (0.5, 6.0)),
        ...                        NomogramAxis("her2", "categorical", ("neg", "pos"), (0.0, 1.1))))
        >>> fig = plot_nomogram(nomo, labels={"size": "Size (cm)"})
        >>> "Size (cm)" in [t.get_text() for t in fig.axes[0].texts]
        True
    """
    names = dict(labels or {})
    n_rows = len(nomogram.axes) + 3 + int(show_linear_predictor)
    fig, ax = new_axes(ax, figsize=(10.0, 0.62 * n_rows + 1.0))
    t_max = nomogram.max_total_points
    to_x = MAX_POINTS / t_max  # total points -> ruler position
    y = 0.0
    ruler = np.arange(0.0, MAX_POINTS + 1e-9, 10.0)
    _draw_axis(ax, y, ruler, [f"{v:g}" for v in ruler], "Points")
    for minor in np.arange(5.0, MAX_POINTS, 10.0):
        ax.plot([minor, minor], [y, y - TICK / 2], color="black", lw=0.6)
    for axis in nomogram.axes:
        y -= ROW_STEP
        length = MAX_POINTS * axis.effect_range / nomogram.scale
        values = axis.tick_values(max_ticks=int(np.clip(length / (1.5 * MIN_LABEL_GAP), 2, 8)))
        xs = nomogram.axis_points(axis, values)
        text = [str(v) if axis.kind == "categorical" else _fmt(v) for v in values]
        extent = None
        if axis.kind == "continuous":
            ends = nomogram.axis_points(axis, list(axis.values))
            extent = (float(ends.min()), float(ends.max()))
        _draw_axis(ax, y, xs, text, names.get(axis.name, axis.name), extent=extent)
    y -= ROW_STEP
    raw_totals = np.asarray(MaxNLocator(10).tick_values(0.0, t_max), dtype=float)
    totals = raw_totals[(raw_totals >= 0) & (raw_totals <= t_max + 1e-9)]
    _draw_axis(ax, y, totals * to_x, [f"{v:g}" for v in totals], "Total points",
               extent=(0.0, MAX_POINTS))
    if show_linear_predictor:
        y -= ROW_STEP
        lp_lo, lp_hi = nomogram.linear_predictor_from_points([0.0, t_max])
        lps = MaxNLocator(8).tick_values(lp_lo, lp_hi)
        lps = lps[(lps >= lp_lo - 1e-9) & (lps <= lp_hi + 1e-9)]
        lp_x = (lps - lp_lo) / (lp_hi - lp_lo) * MAX_POINTS
        _draw_axis(ax, y, lp_x, [f"{v:g}" for v in lps], "Linear predictor",
                   extent=(0.0, MAX_POINTS))
    y -= ROW_STEP
    table = nomogram.probability_table(probabilities)
    if len(table):
        _draw_axis(ax, y, table["total_points"].to_numpy() * to_x,
                   [f"{p:g}" for p in table["probability"]], outcome)
    else:
        ax.text(NAME_X, y, outcome, ha="right", va="center", fontsize=9, fontweight="bold")
    for x in ruler:  # faint guides from the ruler down
        ax.plot([x, x], [0.0, y], color="0.88", lw=0.5, zorder=0)
    ax.set_xlim(-32.0, MAX_POINTS + 4.0)
    ax.set_ylim(y - 0.6, 0.5)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
