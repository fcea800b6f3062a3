"""ROC curve, AUC and its stratified-bootstrap confidence interval.

The AUC is the Mann-Whitney estimate: the probability that a random event
scores higher than a random non-event, ties counting 1/2 (identical to the
trapezoidal area under the empirical ROC curve).  DeLong intervals live in
:mod:`alnm_ray.stats.delong`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from alnm_ray.stats._bootstrap import (
    DEFAULT_N_BOOT,
    LevelCounts,
    bootstrap,
    check_n_boot,
    level_weights,
    percentile_ci,
    stratified_weights,
)
from alnm_ray.stats.checks import InvalidPredictionsError, check_inputs, check_level

__all__ = ["BootstrapCI", "bootstrap_auc_ci", "roc_auc", "roc_confidence_band", "roc_curve"]


@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate with its percentile bootstrap interval.

    Attributes:
        estimate: The statistic on the original data.
        low: Lower limit.
        high: Upper limit.
        level: Confidence level, e.g. 0.95.
        n_boot: Number of stratified replicates.
        seed: Seed the replicates were drawn with.
        replicates: The replicate values, shape ``(n_boot,)``.
    """

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    seed: int | None
    replicates: np.ndarray = field(repr=False)


def roc_auc(y: Any, scores: Any) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count 1/2).

    Args:
        y: 0/1 outcomes, shape ``(n,)``; both classes present.
        scores: Higher = more likely an event, shape ``(n,)``; any finite
            values (the AUC only uses their order).

    Returns:
        AUC in [0, 1].

    Raises:
        InvalidPredictionsError: Bad labels or scores (see ``_checks``).

    Example:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    yy, s = check_inputs(y, scores, name="scores", probability=False)
    return _auc(yy, s)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    n1 = int(y.sum())
    n0 = y.size - n1
    ranks = rankdata(s)  # midranks handle ties
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def bootstrap_auc_ci(y: Any, scores: Any, *, n_boot: int = DEFAULT_N_BOOT, level: float = 0.95,
                     seed: int | None = 0) -> BootstrapCI:
    """AUC with a stratified percentile-bootstrap confidence interval.

    Each replicate resamples events and non-events separately with
    replacement, keeping their counts, so every replicate has both classes.
    The interval is the (α/2, 1-α/2) percentile of the replicate AUCs.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        scores: Predictions, shape ``(n,)``.
        n_boot: Number of replicates.
        level: Confidence level in (0, 1).
        seed: Seed of the replicates (same seed, same interval).

    Returns:
        A :class:`BootstrapCI`.

    Raises:
        InvalidPredictionsError: Bad inputs, ``n_boot`` < 1 or ``level`` outside (0, 1).

    Example:
        >>> ci = bootstrap_auc_ci([0, 0, 1, 1, 0, 1], [.1, .3, .7, .9, .6, .4], n_boot=200, seed=1)
        >>> ci.low <= ci.estimate <= ci.high
        True
    """
    yy, s = check_inputs(y, scores, name="scores", probability=False)
    level = check_level(level)
    lc = LevelCounts(yy, s)
    reps = bootstrap(yy, lambda pd_, nd_: lc.auc(*lc.counts(pd_, nd_)), n_boot=n_boot, seed=seed)
    low, high = percentile_ci(reps, level)
    return BootstrapCI(_auc(yy, s), float(low), float(high), level, int(n_boot), seed, reps)


def roc_curve(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical ROC curve at every distinct score.

    A patient is called positive when ``score >= threshold``.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        scores: Predictions, shape ``(n,)``.

    Returns:
        ``(fpr, tpr, thresholds)``, each of shape ``(k + 1,)`` for ``k``
        distinct scores; thresholds decrease and start with ``+inf`` (nobody
        called positive), so the curve runs from (0, 0) to (1, 1).

    Example:
        >>> fpr, tpr, thr = roc_curve([0, 1, 1], [0.2, 0.6, 0.9])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    yy, s = check_inputs(y, scores, name="scores", probability=False)
    levels, inverse = np.unique(-s, return_inverse=True)  # descending scores
    pos = np.bincount(inverse, weights=yy, minlength=levels.size)
    cnt = np.bincount(inverse, minlength=levels.size)
    tp = np.r_[0.0, np.cumsum(pos)]
    fp = np.r_[0.0, np.cumsum(cnt - pos)]
    return fp / fp[-1], tp / tp[-1], np.r_[np.inf, -levels]


def roc_confidence_band(y: Any, scores: Any, *, fpr_grid: Any = None, n_boot: int = 500,
                        level: float = 0.95, seed: int | None = 0,
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointwise bootstrap band of sensitivity at fixed false-positive rates.

    For each stratified replicate the (step) ROC curve is evaluated at each
    FPR in ``fpr_grid`` as the highest TPR reachable with FPR <= that value;
    the band is the percentile interval of those TPRs at each grid point.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        scores: Predictions, shape ``(n,)``.
        fpr_grid: False-positive rates, shape ``(g,)``; default 101 points on [0, 1].
        n_boot: Number of replicates.
        level: Confidence level.
        seed: Seed of the replicates.

    Returns:
        ``(fpr_grid, tpr_low, tpr_high)``, each of shape ``(g,)``.

    Raises:
        InvalidPredictionsError: Bad inputs.
    """
    yy, s = check_inputs(y, scores, name="scores", probability=False)
    level = check_level(level)
    n_boot = check_n_boot(n_boot)
    grid = np.linspace(0.0, 1.0, 101) if fpr_grid is None else np.asarray(fpr_grid, dtype=float)
    if grid.ndim != 1 or not np.all((grid >= 0.0) & (grid <= 1.0)):
        raise InvalidPredictionsError(
            f"fpr_grid: expected a 1-D array of false-positive rates in [0, 1]; got "
            f"{np.asarray(fpr_grid)!r}. Pass e.g. np.linspace(0, 1, 101)."
        )
    reps = []
    for w in stratified_weights(yy, n_boot, seed):
        _, wp, wn = level_weights(w, yy, s)
        b = w.shape[0]
        # Walk the levels from the highest score down: cumulative rates.
        tpr = np.c_[np.zeros(b), np.cumsum(wp[:, ::-1], axis=1)] / wp.sum(axis=1, keepdims=True)
        fpr = np.c_[np.zeros(b), np.cumsum(wn[:, ::-1], axis=1)] / wn.sum(axis=1, keepdims=True)
        # Each row's FPR is non-decreasing in [0, 1]; shifting row r by 2r makes
        # the flattened matrix globally sorted, so one searchsorted finds, for
        # every (row, grid point), the last ROC point with fpr <= grid.
        shift = 2.0 * np.arange(b)[:, None]
        hits = np.searchsorted((fpr + shift).ravel(), (grid[None, :] + shift + 1e-12).ravel(),
                               side="right").reshape(b, grid.size)
        idx = hits - 1 - np.arange(b)[:, None] * fpr.shape[1]
        reps.append(np.take_along_axis(tpr, idx, axis=1))
    band = percentile_ci(np.concatenate(reps), level)
    return grid, band[0], band[1]
