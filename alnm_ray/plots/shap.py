"""SHAP figures: global importance (bar), beeswarm, and one patient's waterfall.

Drawn with matplotlib from the contribution table (shap's own plotting draws
on pyplot's global figure); every function returns a pyplot-free Figure.
Contributions are on the explanation's scale (log-odds or probability; see
:mod:`alnm_ray.score.explain`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from alnm_ray.plots._common import new_axes

#: Features shown at most; the rest are summed into one "other features" row.
MAX_DISPLAY = 12
POSITIVE = "#d62728"
NEGATIVE = "#1f77b4"


def _order(values: pd.DataFrame, max_display: int) -> list[str]:
    return list(values.abs().mean().sort_values(ascending=False, kind="stable").index[:max_display])


def importance_bar(values: pd.DataFrame, *, scale: str = "log-odds", max_display: int = MAX_DISPLAY) -> Figure:
    """Mean |SHAP contribution| per feature (largest on top).

    Args:
        values: Contributions, shape ``(patients, features)``.
        scale: Output scale named on the axis.
        max_display: Features shown.
    """
    feats = _order(values, max_display)
    imp = values[feats].abs().mean()
    fig, ax = new_axes(figsize=(7.0, 0.4 * len(feats) + 1.4))
    ax.barh(range(len(feats))[::-1], imp.to_numpy(), color=POSITIVE)
    ax.set_yticks(range(len(feats))[::-1], feats, fontsize=8)
    ax.set_xlabel(f"mean |SHAP value| ({scale})")
    ax.set_title(f"Global importance ({len(values)} patients)")
    return fig


def beeswarm(values: pd.DataFrame, data: pd.DataFrame, *, scale: str = "log-odds",
             max_display: int = MAX_DISPLAY, seed: int = 0) -> Figure:
    """One dot per patient and feature: its contribution, coloured by the feature's value.

    Args:
        values: Contributions, shape ``(patients, features)``.
        data: The features' values (same shape), for the colour (per-feature ranks).
        scale: Output scale named on the axis.
        max_display: Features shown.
        seed: Seed of the vertical jitter.
    """
    rng = np.random.default_rng(seed)
    feats = _order(values, max_display)
    fig, ax = new_axes(figsize=(7.5, 0.45 * len(feats) + 1.6))
    points = None
    for row, feat in enumerate(feats):
        y = len(feats) - 1 - row
        v = values[feat].to_numpy(float)
        c = data[feat].rank(pct=True).to_numpy(float) if feat in data.columns else np.full(len(v), 0.5)
        points = ax.scatter(v, y + rng.uniform(-0.3, 0.3, size=len(v)), c=c, cmap="coolwarm", vmin=0, vmax=1,
                            s=12, linewidths=0)
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_yticks(range(len(feats))[::-1], feats, fontsize=8)
    ax.set_xlabel(f"SHAP value ({scale}); right = towards ALNM")
    if points is not None:
        bar = fig.colorbar(points, ax=ax, ticks=[0, 1], aspect=30)
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value")
    return fig


def waterfall(contributions: pd.Series, *, base_value: float, output: float, scale: str = "log-odds",
              title: str = "", data: pd.Series | None = None, max_display: int = MAX_DISPLAY) -> Figure:
    """One patient's contributions, from the background's expected output to the patient's.

    Args:
        contributions: Contribution per feature of one patient.
        base_value: Expected output over the background.
        output: The patient's output (``base_value + contributions.sum()``).
        scale: Output scale.
        title: Figure title (e.g. the patient id).
        data: The patient's feature values, shown next to the names.
        max_display: Features shown; the rest are summed into one bar.
    """
    order = contributions.abs().sort_values(ascending=False, kind="stable").index
    shown = list(order[:max_display])
    steps = [(str(f) + (f" = {float(data[f]):.3g}" if data is not None and f in data.index else ""),
              float(contributions[f])) for f in shown]
    rest = float(contributions[list(order[max_display:])].sum()) if len(order) > max_display else 0.0
    if len(order) > max_display:
        steps.append((f"{len(order) - max_display} other features", rest))
    steps = steps[::-1]  # the largest on top
    fig, ax = new_axes(figsize=(7.5, 0.45 * len(steps) + 1.6))
    start = base_value
    for i, (name, v) in enumerate(steps):
        ax.barh(i, v, left=start, color=POSITIVE if v >= 0 else NEGATIVE)
        ax.text(start + v, i, f" {v:+.3f}", va="center", ha="left" if v >= 0 else "right", fontsize=7)
        start += v
    ax.set_yticks(range(len(steps)), [n for n, _ in steps], fontsize=8)
    ax.axvline(base_value, color="0.5", lw=0.8, ls="--")
    ax.axvline(output, color="0.2", lw=0.8)
    ax.set_xlabel(f"{scale}: E[f(x)] = {base_value:.3f} (dashed) -> f(x) = {output:.3f} (solid)")
    ax.set_title(title)
    return fig
