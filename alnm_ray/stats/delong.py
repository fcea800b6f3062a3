"""DeLong variance of the AUC, its confidence interval and the DeLong tests.

DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44:837-845, estimate the
(co)variance of correlated AUCs from *structural components*: for each event
``i`` the fraction of non-events it out-scores (``V10_i``), for each
non-event ``j`` the fraction of events that out-score it (``V01_j``), ties
counting 1/2.  Sun & Xu (2014), IEEE Signal Process. Lett. 21(11):1389-1393,
showed these components follow from three midrank computations, so the
whole estimate costs O(n log n) per model instead of O(m·n):

    V10_i = (Tz_i - Tx_i) / n,   V01_j = 1 - (Tz_{m+j} - Ty_j) / m,

with ``Tx``, ``Ty`` the midranks within events / non-events and ``Tz`` the
midranks in the pooled sample.  The AUC covariance matrix is
``S10 / m + S01 / n`` (sample covariances, ddof = 1, over events and over
non-events).

Intervals:

* AUC: Wald interval ``AUC ± z·SE`` clipped to [0, 1] (the pROC convention).
* Difference of two AUCs: ``(AUC_a - AUC_b) ± z·SE_diff`` clipped to
  [-1, 1], with ``SE_diff² = Var_a + Var_b - 2 Cov_ab`` for the paired test
  (same patients) and ``Var_a + Var_b`` for the unpaired test (independent
  cohorts).  The same SE gives ``Z = diff / SE_diff`` and the two-sided p.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from alnm_ray.stats.checks import InvalidPredictionsError, check_labels, check_level, check_probabilities
from alnm_ray.stats._normal import wald_ci, z_test

__all__ = ["DeLongAUC", "DeLongTest", "delong_ci", "delong_covariance", "delong_test",
           "delong_unpaired_test"]


@dataclass(frozen=True)
class DeLongAUC:
    """One AUC with its DeLong standard error and Wald interval (clipped to [0, 1])."""

    auc: float
    se: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class DeLongTest:
    """DeLong comparison of model ``a`` with model ``b``.

    Attributes:
        auc_a, auc_b: The two AUCs.
        diff: ``auc_a - auc_b`` (positive: ``a`` discriminates better).
        se: Standard error of ``diff``.
        z: ``diff / se``.
        p: Two-sided p-value.
        low, high: Wald interval of ``diff`` at ``level``, clipped to [-1, 1].
        level: Confidence level.
        paired: True for two models on the same patients.
    """

    auc_a: float
    auc_b: float
    diff: float
    se: float
    z: float
    p: float
    low: float
    high: float
    level: float
    paired: bool


def _components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sun & Xu structural components for ``k`` models at once.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        scores: Shape ``(k, n)``.

    Returns:
        ``(aucs (k,), v10 (k, m), v01 (k, n0))``.
    """
    x = scores[:, y == 1]
    z = scores[:, y == 0]
    m, n = x.shape[1], z.shape[1]
    tx = rankdata(x, axis=1)
    ty = rankdata(z, axis=1)
    tz = rankdata(np.concatenate([x, z], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def _cov(v: np.ndarray) -> np.ndarray:
    """Sample covariance (ddof = 1) over axis 1 of a ``(k, s)`` array; NaN when s < 2."""
    k, s = v.shape
    if s < 2:
        return np.full((k, k), np.nan)
    c = v - v.mean(axis=1, keepdims=True)
    return c @ c.T / (s - 1)


def _warn_small(y: np.ndarray) -> None:
    n1 = int(y.sum())
    if min(n1, y.size - n1) < 2:
        warnings.warn(
            f"DeLong variance needs at least 2 events and 2 non-events; got {n1} and "
            f"{y.size - n1}. Standard errors, intervals and p-values are NaN.",
            RuntimeWarning, stacklevel=3)


def delong_covariance(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of ``k`` models on the same patients and their DeLong covariance.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        scores: Shape ``(k, n)`` (or ``(n,)`` for one model); any finite values.

    Returns:
        ``(aucs, cov)`` of shapes ``(k,)`` and ``(k, k)``.

    Raises:
        InvalidPredictionsError: Bad labels or scores.

    Example:
        >>> aucs, cov = delong_covariance([0, 0, 1, 1], [[0.1, 0.4, 0.35, 0.8]])
        >>> float(aucs[0])
        0.75
    """
    yy = check_labels(y)
    arr = np.atleast_2d(np.asarray(scores))
    s = np.stack([check_probabilities(row, name=f"scores[{i}]", n=yy.size, probability=False)
                  for i, row in enumerate(arr)])
    _warn_small(yy)
    aucs, v10, v01 = _components(yy, s)
    return aucs, _cov(v10) / v10.shape[1] + _cov(v01) / v01.shape[1]


def delong_ci(y: Any, scores: Any, *, level: float = 0.95) -> DeLongAUC:
    """AUC with its DeLong standard error and Wald interval clipped to [0, 1].

    Example:
        >>> r = delong_ci([0, 0, 0, 1, 1, 1], [0.1, 0.5, 0.3, 0.4, 0.8, 0.9])
        >>> round(r.auc, 4), r.low <= r.auc <= r.high
        (0.8889, True)
    """
    level = check_level(level)
    s = check_probabilities(scores, name="scores", probability=False)
    aucs, cov = delong_covariance(y, s[None, :])
    auc, var = float(aucs[0]), float(cov[0, 0])
    se = math.sqrt(max(var, 0.0)) if math.isfinite(var) else math.nan
    low, high = wald_ci(auc, se, level, 0.0, 1.0) if math.isfinite(se) else (math.nan, math.nan)
    return DeLongAUC(auc, se, low, high, level)


def _result(auc_a: float, auc_b: float, var: float, level: float, paired: bool) -> DeLongTest:
    diff = auc_a - auc_b
    se = math.sqrt(max(var, 0.0)) if math.isfinite(var) else math.nan
    z, p = z_test(diff, se)
    low, high = wald_ci(diff, se, level, -1.0, 1.0) if math.isfinite(se) else (math.nan, math.nan)
    return DeLongTest(auc_a, auc_b, diff, se, z, p, low, high, level, paired)


def delong_test(y: Any, scores_a: Any, scores_b: Any, *, level: float = 0.95) -> DeLongTest:
    """Paired DeLong test of two models scored on the same patients.

    The variance of the difference is computed from the per-patient
    differences of the structural components, which equals
    ``Var_a + Var_b - 2 Cov_ab`` and keeps ``Z(a, b) == -Z(b, a)`` exactly.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        scores_a: Model a's predictions, shape ``(n,)``.
        scores_b: Model b's predictions, shape ``(n,)``, same patient order.
        level: Confidence level of the interval of the difference.

    Returns:
        A :class:`DeLongTest` with ``paired=True``.

    Raises:
        InvalidPredictionsError: Bad labels or scores, or lengths that differ.

    Example:
        >>> t = delong_test([0, 0, 1, 1, 0, 1], [.1, .3, .7, .9, .6, .4], [.2, .1, .3, .8, .5, .6])
        >>> round(t.diff, 4), t.paired
        (0.0, True)
    """
    level = check_level(level)
    yy = check_labels(y)
    a = check_probabilities(scores_a, name="scores_a", n=yy.size, probability=False)
    b = check_probabilities(scores_b, name="scores_b", n=yy.size, probability=False)
    _warn_small(yy)
    aucs, v10, v01 = _components(yy, np.stack([a, b]))
    d10 = (v10[0] - v10[1])[None, :]
    d01 = (v01[0] - v01[1])[None, :]
    var = float(_cov(d10)[0, 0] / d10.shape[1] + _cov(d01)[0, 0] / d01.shape[1])
    return _result(float(aucs[0]), float(aucs[1]), var, level, paired=True)


def delong_unpaired_test(y_a: Any, scores_a: Any, y_b: Any, scores_b: Any, *,
                         level: float = 0.95) -> DeLongTest:
    """Unpaired DeLong test of two AUCs from independent cohorts.

    ``Z = (AUC_a - AUC_b) / sqrt(Var_a + Var_b)`` with each variance from
    DeLong's structural components of its own cohort.

    Args:
        y_a, scores_a: Cohort a's outcomes and predictions.
        y_b, scores_b: Cohort b's outcomes and predictions.
        level: Confidence level of the interval of the difference.

    Returns:
        A :class:`DeLongTest` with ``paired=False``.

    Raises:
        InvalidPredictionsError: Bad labels or scores in either cohort.
    """
    level = check_level(level)
    try:
        ra = delong_ci(y_a, scores_a, level=level)
        rb = delong_ci(y_b, scores_b, level=level)
    except InvalidPredictionsError as err:
        raise InvalidPredictionsError(f"unpaired DeLong test: {err}") from err
    return _result(ra.auc, rb.auc, ra.se ** 2 + rb.se ** 2, level, paired=False)
