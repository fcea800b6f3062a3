"""Calibration: Brier score, logistic recalibration, Hosmer-Lemeshow, binned curve.

* **Brier score**: mean of ``(p - y)²``.
* **Calibration slope**: ``b`` in ``logit P(y=1) = a + b·logit(p)``
  (1 = ideal; < 1 means predictions are too extreme, i.e. over-fitting).
* **Calibration intercept** (calibration-in-the-large): ``a`` in
  ``logit P(y=1) = a + offset(logit(p))`` with the slope fixed at 1
  (0 = ideal; > 0 means risks are under-estimated on average).  This is the
  definition of Van Calster et al. (2016) J. Clin. Epidemiol. 74:167-176.
  Probabilities are clipped to ``[1e-12, 1 - 1e-12]`` before the logit.
  Both models are fitted by Newton-Raphson with step halving (two
  parameters, vectorised); when the classes are perfectly separated the
  estimate does not exist and NaN is returned with a warning.
* **Hosmer-Lemeshow** (Hosmer & Lemeshow 1980; g = 10 by default): patients
  are grouped by *quantile cut-points* of the predicted probabilities
  (linear interpolation, like ``pandas.qcut``; bins are right-closed, the
  first also includes its left edge).  **Ties are kept together**: all
  patients with the same probability fall in the same group, so duplicate
  cut-points are merged and fewer than g groups may result; empty groups are
  dropped.  ``C = Σ (O - E)² / (E (1 - E / n_g))`` over the groups used, with
  ``df = groups - 2`` and p from the chi-square distribution.  Grouping does
  not depend on the row order.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, logit
from scipy.stats import chi2, norm

from alnm_ray.stats.checks import InvalidPredictionsError, check_inputs

__all__ = ["CalibrationCurve", "HosmerLemeshow", "Recalibration", "brier_score",
           "calibration_curve", "calibration_intercept_slope", "hosmer_lemeshow"]

#: Probabilities are clipped to [EPS, 1 - EPS] before taking the logit.
EPS = 1e-12
#: Newton-Raphson stops when no coefficient moves more than this.
_TOL = 1e-10
_MAX_ITER = 100
#: A coefficient beyond this magnitude signals (quasi-)separation.
_DIVERGED = 1e4


@dataclass(frozen=True)
class Recalibration:
    """Calibration intercept (slope fixed at 1) and calibration slope."""

    intercept: float
    slope: float


@dataclass(frozen=True)
class HosmerLemeshow:
    """Hosmer-Lemeshow goodness-of-fit test.

    Attributes:
        statistic: The chi-square statistic C.
        df: Degrees of freedom (groups used - 2).
        p: Upper-tail chi-square p-value (NaN when df < 1).
        groups: Number of non-empty groups used (may be < g when ties merge cut-points).
        observed, expected, n: Per-group events, expected events and sizes, shape ``(groups,)``.
    """

    statistic: float
    df: int
    p: float
    groups: int
    observed: np.ndarray = field(repr=False)
    expected: np.ndarray = field(repr=False)
    n: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class CalibrationCurve:
    """A binned calibration curve (empty bins dropped); arrays of shape ``(bins,)``.

    Attributes:
        mean_predicted: Mean predicted probability per bin.
        observed: Observed event fraction per bin.
        count: Patients per bin.
        low, high: Wilson score interval of ``observed`` at ``level``.
        level: Confidence level of the interval.
    """

    mean_predicted: np.ndarray
    observed: np.ndarray
    count: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float


def brier_score(y: Any, p: Any) -> float:
    """Mean squared difference between predicted probability and outcome.

    Example:
        >>> round(brier_score([0, 1, 1], [0.1, 0.8, 0.5]), 6)
        0.1
    """
    yy, pp = check_inputs(y, p)
    return float(np.mean((pp - yy) ** 2))


def _fit_logistic(y: np.ndarray, x: np.ndarray, offset: np.ndarray) -> np.ndarray | None:
    """Maximum-likelihood logistic regression ``logit P = offset + x @ beta``.

    Returns ``None`` when it does not converge (separation).
    """
    def loglik(beta: np.ndarray) -> float:
        eta = offset + x @ beta
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    beta = np.zeros(x.shape[1])
    current = loglik(beta)
    for _ in range(_MAX_ITER):
        mu = expit(offset + x @ beta)
        grad = x.T @ (y - mu)
        hess = x.T @ (x * (mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        while t > 1e-10:
            cand = beta + t * step
            new = loglik(cand)
            if new >= current - 1e-12:
                break
            t /= 2.0
        beta, current = cand, new
        if np.max(np.abs(beta)) > _DIVERGED:
            return None
        if np.max(np.abs(t * step)) < _TOL:
            return beta
    return None


def calibration_intercept_slope(y: Any, p: Any) -> Recalibration:
    """Calibration intercept (calibration-in-the-large) and slope.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.

    Returns:
        A :class:`Recalibration`; NaN fields (with a ``RuntimeWarning``) when
        a fit does not exist (perfect separation, constant predictions).

    Raises:
        InvalidPredictionsError: Bad inputs.

    Example:
        >>> r = calibration_intercept_slope([0, 0, 1, 1, 0, 1, 1, 1], [.2, .4, .3, .8, .6, .7, .5, .4])
        >>> round(r.intercept, 3), round(r.slope, 3)
        (0.652, 1.052)
    """
    yy, pp = check_inputs(y, p)
    lp = logit(np.clip(pp, EPS, 1.0 - EPS))
    yf = yy.astype(np.float64)
    ones = np.ones((yy.size, 1))
    citl = _fit_logistic(yf, ones, lp)
    slope_fit = _fit_logistic(yf, np.c_[ones, lp], np.zeros(yy.size)) if np.ptp(lp) > 0 else None
    if citl is None or slope_fit is None:
        warnings.warn(
            "calibration intercept/slope: the logistic recalibration model has no finite "
            "maximum-likelihood estimate (perfectly separated classes or constant predictions); "
            "reporting NaN.", RuntimeWarning, stacklevel=2)
    return Recalibration(float(citl[0]) if citl is not None else math.nan,
                         float(slope_fit[1]) if slope_fit is not None else math.nan)


def _hl_groups(p: np.ndarray, g: int) -> np.ndarray:
    """Group index per patient from quantile cut-points, ties kept together."""
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, g + 1)))
    return np.searchsorted(edges[1:-1], p, side="left")


def hosmer_lemeshow(y: Any, p: Any, *, g: int = 10) -> HosmerLemeshow:
    """Hosmer-Lemeshow test with quantile groups that keep tied probabilities together.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        g: Requested number of groups (>= 2; the test needs >= 3 groups used,
            otherwise p is NaN with a warning); fewer are used when tied
            probabilities merge cut-points (see the module docstring).

    Returns:
        A :class:`HosmerLemeshow`.

    Raises:
        InvalidPredictionsError: Bad inputs or ``g`` < 2.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(0.05, 0.95, 200); y = (rng.uniform(size=200) < p).astype(int)
        >>> r = hosmer_lemeshow(y, p)
        >>> r.groups, r.df, r.p > 0.05
        (10, 8, True)
    """
    yy, pp = check_inputs(y, p)
    if int(g) != g or g < 2:
        raise InvalidPredictionsError(
            f"g: expected an integer number of Hosmer-Lemeshow groups >= 2 (usually 10); got {g!r}."
        )
    grp = _hl_groups(pp, int(g))
    n = np.bincount(grp).astype(np.float64)
    obs = np.bincount(grp, weights=yy.astype(np.float64), minlength=n.size)
    exp = np.bincount(grp, weights=pp, minlength=n.size)
    keep = n > 0
    n, obs, exp = n[keep], obs[keep], exp[keep]
    den = exp * (1.0 - exp / n)
    num = (obs - exp) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
    stat = float(terms.sum())
    groups = int(n.size)
    df = groups - 2
    if df < 1:
        warnings.warn(
            f"Hosmer-Lemeshow: only {groups} distinct probability group(s) (tied predictions); "
            "the test needs at least 3, reporting p = NaN.", RuntimeWarning, stacklevel=2)
        pval = math.nan
    else:
        pval = float(chi2.sf(stat, df))
    return HosmerLemeshow(stat, df, pval, groups, obs, exp, n.astype(np.int64))


def calibration_curve(y: Any, p: Any, *, n_bins: int = 10, strategy: str = "uniform",
                      level: float = 0.95) -> CalibrationCurve:
    """Observed event fraction against mean predicted probability per bin.

    Bins follow :func:`sklearn.calibration.calibration_curve`: ``"uniform"``
    cuts [0, 1] into equal widths, ``"quantile"`` at quantiles of ``p``;
    bins are right-closed and empty bins are dropped.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        n_bins: Number of bins (>= 1).
        strategy: ``"uniform"`` or ``"quantile"``.
        level: Level of the Wilson intervals of the observed fractions.

    Returns:
        A :class:`CalibrationCurve`.

    Raises:
        InvalidPredictionsError: Bad inputs; ConfigError for an unknown strategy.
    """
    from alnm_ray._validation import look_up_option

    yy, pp = check_inputs(y, p)
    look_up_option("strategy", strategy, ("uniform", "quantile"))
    if int(n_bins) != n_bins or n_bins < 1:
        raise InvalidPredictionsError(f"n_bins: expected a positive integer; got {n_bins!r}.")
    q = np.linspace(0.0, 1.0, int(n_bins) + 1)
    edges = q if strategy == "uniform" else np.quantile(pp, q)
    ids = np.searchsorted(edges[1:-1], pp, side="left")
    count = np.bincount(ids, minlength=int(n_bins))
    events = np.bincount(ids, weights=yy.astype(np.float64), minlength=int(n_bins))
    psum = np.bincount(ids, weights=pp, minlength=int(n_bins))
    keep = count > 0
    count, events, psum = count[keep], events[keep], psum[keep]
    frac = events / count
    z = float(norm.ppf(0.5 + level / 2.0))
    centre = (events + z * z / 2.0) / (count + z * z)
    half = z / (count + z * z) * np.sqrt(events * (count - events) / count + z * z / 4.0)
    # Rounding can put a limit a hair on the wrong side of 0/1 or of the fraction.
    low = np.clip(np.minimum(centre - half, frac), 0.0, 1.0)
    high = np.clip(np.maximum(centre + half, frac), 0.0, 1.0)
    return CalibrationCurve(psum / count, frac, count, low, high, level)
