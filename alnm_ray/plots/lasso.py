"""LASSO diagnostics from arrays: coefficient path and cross-validated MSE curve.

Both take plain arrays (e.g. from :func:`sklearn.linear_model.lasso_path` or
a fitted ``LassoCV``: ``alphas_``, ``mse_path_.mean(axis=1)``), so they work
with any fitting code.  The x-axis is ``log(λ)`` (natural log), as in glmnet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alnm_ray.exceptions import ConfigError
from alnm_ray.plots._common import colors, new_axes

__all__ = ["plot_lasso_cv", "plot_lasso_path"]

#: Features labelled in the path legend at most (the largest |coefficient| at λ_min).
MAX_LABELLED = 10


def _positive(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
        raise ConfigError(f"{name}: expected a 1-D array of positive penalties (λ); got shape "
                          f"{arr.shape} with values {arr[:5]!r}. Pass e.g. LassoCV().alphas_.")
    return arr


def plot_lasso_path(alphas: Any, coefs: Any, feature_names: Sequence[str] | None = None, *,
                    alpha_min: float | None = None, title: str | None = "LASSO coefficient path",
                    ax: Axes | None = None) -> Figure:
    """Coefficient of every feature against log(λ).

    Args:
        alphas: Penalties λ, shape ``(k,)``.
        coefs: Coefficients, shape ``(n_features, k)`` (as ``lasso_path`` returns).
        feature_names: Names, length ``n_features``; the features with the largest
            |coefficient| at ``alpha_min`` (or the smallest λ) are labelled.
        alpha_min: The chosen λ (minimum CV MSE), drawn as a vertical line.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        ConfigError: Shapes that do not match or non-positive penalties.
    """
    a = _positive("alphas", alphas)
    c = np.atleast_2d(np.asarray(coefs, dtype=np.float64))
    if c.shape[1] != a.size:
        raise ConfigError(f"coefs: expected shape (n_features, {a.size}) to match alphas; got "
                          f"{c.shape}. Transpose it if it is (n_alphas, n_features).")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(c.shape[0])]
    if len(names) != c.shape[0]:
        raise ConfigError(f"feature_names: expected {c.shape[0]} names (one per coefficient row); "
                          f"got {len(names)}.")
    fig, ax = new_axes(ax, figsize=(9.0, 4.5))
    ref = int(np.argmin(np.abs(np.log(a) - np.log(alpha_min)))) if alpha_min else int(np.argmin(a))
    ranked = np.argsort(-np.abs(c[:, ref]), kind="stable")[:MAX_LABELLED]
    top = [int(i) for i in ranked if c[i, ref] != 0.0]
    palette = dict(zip(top, colors(len(top))))
    x = np.log(a)
    for i in range(c.shape[0]):
        if i in palette:
            ax.plot(x, c[i], color=palette[i], lw=1.6, label=names[i])
        else:
            ax.plot(x, c[i], color="0.7", lw=0.8)
    if alpha_min:
        ax.axvline(np.log(alpha_min), color="black", ls="--", lw=1,
                   label=f"λ min = {alpha_min:.3g}")
    ax.axhline(0.0, color="0.3", lw=0.6)
    ax.set(xlabel="log(λ)", ylabel="coefficient")
    ax.grid(alpha=0.3)
    if top or alpha_min:
        # Outside the axes: feature names are long and the curves fill the panel.
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    return fig


def plot_lasso_cv(alphas: Any, mse_mean: Any, mse_std: Any = None, alpha_min: float | None = None,
                  *, alpha_1se: float | None = None, title: str | None = "LASSO cross-validation",
                  ax: Axes | None = None) -> Figure:
    """Mean cross-validated MSE (± SD) against log(λ), with the chosen λ marked.

    Args:
        alphas: Penalties λ, shape ``(k,)``.
        mse_mean: Mean CV MSE per λ, shape ``(k,)``.
        mse_std: Its standard deviation (or SE) per λ, shape ``(k,)``, or ``None``.
        alpha_min: λ at minimum MSE (vertical line); default the argmin of ``mse_mean``.
        alpha_1se: Optional λ of the one-standard-error rule (second line).
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        ConfigError: Shapes that do not match or non-positive penalties.
    """
    a = _positive("alphas", alphas)
    m = np.asarray(mse_mean, dtype=np.float64)
    s = None if mse_std is None else np.asarray(mse_std, dtype=np.float64)
    for nm, arr in (("mse_mean", m), ("mse_std", s)):
        if arr is not None and arr.shape != a.shape:
            raise ConfigError(f"{nm}: expected shape {a.shape} (one value per λ); got {arr.shape}.")
    if alpha_min is None:
        alpha_min = float(a[int(np.nanargmin(m))])
    fig, ax = new_axes(ax, figsize=(6.5, 4.5))
    x = np.log(a)
    ax.errorbar(x, m, yerr=s, fmt="o", color="tab:red", ms=3.5, ecolor="0.6", elinewidth=0.8,
                capsize=1.5, label="mean CV MSE" + (" ± SD" if s is not None else ""))
    ax.axvline(np.log(alpha_min), color="black", ls="--", lw=1, label=f"λ min = {alpha_min:.3g}")
    if alpha_1se is not None:
        ax.axvline(np.log(alpha_1se), color="0.4", ls=":", lw=1, label=f"λ 1-SE = {alpha_1se:.3g}")
    ax.set(xlabel="log(λ)", ylabel="mean squared error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig
