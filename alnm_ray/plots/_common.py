"""Shared figure helpers: a pyplot-free Figure, colours, labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Default figure size in inches (width, height) of a single square panel.
SQUARE = (5.5, 5.0)
#: Colour of the chance / reference lines.
REFERENCE_COLOR = "0.45"


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] = SQUARE) -> tuple[Figure, Axes]:
    """Return ``(figure, axes)``: ``ax`` and its figure, or a new one-panel Figure.

    The Figure is created directly (no pyplot), so nothing is registered in
    pyplot's global state and any backend (or none) works.
    """
    if ax is not None:
        fig = ax.get_figure(root=True)
        if not isinstance(fig, Figure):  # an Axes always belongs to a Figure
            raise TypeError("ax: expected Axes attached to a Figure")
        return fig, ax
    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def colors(n: int) -> list[Any]:
    """``n`` distinguishable colours (tab10, then tab20 beyond 10)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def as_models(models: Mapping[str, Any] | Any, name: str = "model") -> dict[str, Any]:
    """Accept ``{name: probs}`` or a single probability array."""
    if isinstance(models, Mapping):
        return dict(models)
    return {name: np.asarray(models)}


def fmt_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    """``0.812 (0.740-0.880)``; ``n/a`` parts for NaN."""
    f = lambda v: "n/a" if not np.isfinite(v) else f"{v:.{digits}f}"  # noqa: E731
    return f"{f(value)} ({f(low)}-{f(high)})"
