"""Metrics at a decision threshold and the Youden-optimal threshold.

Convention used everywhere in alnm-ray: a patient is *predicted positive*
when ``p >= threshold``.  Ratios whose denominator is zero (e.g. PPV when
nobody is predicted positive) are NaN, never silently 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from alnm_ray.stats.checks import InvalidPredictionsError, check_inputs

__all__ = ["THRESHOLD_METRICS", "ThresholdMetrics", "YoudenResult", "confusion_metrics",
           "rates_from_counts", "youden_threshold"]

#: Names of the ratio metrics :func:`rates_from_counts` returns, in report order.
THRESHOLD_METRICS: tuple[str, ...] = (
    "accuracy", "sensitivity", "specificity", "ppv", "npv", "precision", "recall", "f1",
)


@dataclass(frozen=True)
class ThresholdMetrics:
    """Confusion counts and derived ratios at one threshold.

    ``precision`` equals ``ppv`` and ``recall`` equals ``sensitivity``; both
    names are kept because papers report both.
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain dict (JSON-ready apart from NaN)."""
        return asdict(self)


@dataclass(frozen=True)
class YoudenResult:
    """The Youden-optimal threshold.

    Attributes:
        threshold: An *observed* predicted probability (not a midpoint between
            two scores); patients with ``p >= threshold`` are predicted positive.
        j: Youden's J = sensitivity + specificity - 1 at that threshold.
        sensitivity: Sensitivity at that threshold.
        specificity: Specificity at that threshold.
    """

    threshold: float
    j: float
    sensitivity: float
    specificity: float


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def rates_from_counts(tp: Any, fp: Any, tn: Any, fn: Any) -> dict[str, np.ndarray]:
    """Ratio metrics from (possibly weighted, array-valued) confusion counts.

    Args:
        tp, fp, tn, fn: Counts of equal shape (any shape; weights allowed).

    Returns:
        ``{name: array}`` for every name in :data:`THRESHOLD_METRICS`; NaN
        where a denominator is zero.

    Example:
        >>> r = rates_from_counts(8, 2, 6, 4)
        >>> [round(float(r[k]), 4) for k in ("sensitivity", "ppv", "f1")]
        [0.6667, 0.8, 0.7273]
    """
    tp, fp, tn, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, tn, fn))
    sens = _ratio(tp, tp + fn)
    ppv = _ratio(tp, tp + fp)
    return {
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "sensitivity": sens,
        "specificity": _ratio(tn, tn + fp),
        "ppv": ppv,
        "npv": _ratio(tn, tn + fn),
        "precision": ppv,
        "recall": sens,
        "f1": _ratio(2.0 * tp, 2.0 * tp + fp + fn),
    }


def _check_threshold(threshold: float) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0.0 <= t <= 1.0:
        raise InvalidPredictionsError(
            f"threshold: expected a probability in [0, 1]; got {threshold!r}. Pass e.g. 0.5 or "
            "the Youden threshold from youden_threshold()."
        )
    return t


def confusion_metrics(y: Any, p: Any, threshold: float) -> ThresholdMetrics:
    """Accuracy, sensitivity, specificity, PPV, NPV, precision, recall and F1.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities in [0, 1], shape ``(n,)``.
        threshold: Predicted positive when ``p >= threshold``.

    Returns:
        A :class:`ThresholdMetrics`.

    Raises:
        InvalidPredictionsError: Bad inputs or a threshold outside [0, 1].

    Example:
        >>> m = confusion_metrics([0, 0, 1, 1], [0.2, 0.6, 0.6, 0.9], 0.6)
        >>> (m.tp, m.fp, m.tn, m.fn), m.sensitivity, m.specificity
        ((2, 1, 1, 0), 1.0, 0.5)
    """
    yy, pp = check_inputs(y, p)
    t = _check_threshold(threshold)
    pred = pp >= t
    tp = int(np.count_nonzero(pred & (yy == 1)))
    fp = int(np.count_nonzero(pred & (yy == 0)))
    fn = int(np.count_nonzero(~pred & (yy == 1)))
    tn = int(np.count_nonzero(~pred & (yy == 0)))
    rates = {k: float(v) for k, v in rates_from_counts(tp, fp, tn, fn).items()}
    return ThresholdMetrics(threshold=t, tp=tp, fp=fp, tn=tn, fn=fn, **rates)


def youden_threshold(y: Any, p: Any) -> YoudenResult:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    The candidates are the distinct *observed* predicted probabilities (no
    midpoints); at candidate ``t`` patients with ``p >= t`` are predicted
    positive.  When several candidates reach the maximal J, the highest
    threshold is returned (fewest patients called positive), which is what
    ``thresholds[argmax(tpr - fpr)]`` on a descending ROC curve gives.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities in [0, 1], shape ``(n,)``.

    Returns:
        A :class:`YoudenResult`.

    Raises:
        InvalidPredictionsError: Bad inputs.

    Example:
        >>> r = youden_threshold([0, 0, 1, 0, 1, 1], [0.1, 0.3, 0.35, 0.4, 0.8, 0.9])
        >>> r.threshold, round(r.j, 4)
        (0.8, 0.6667)
    """
    yy, pp = check_inputs(y, p)
    levels, inverse = np.unique(-pp, return_inverse=True)  # descending probabilities
    pos = np.cumsum(np.bincount(inverse, weights=yy, minlength=levels.size).astype(np.int64))
    neg = np.cumsum(np.bincount(inverse, minlength=levels.size)) - pos
    n1, n0 = int(pos[-1]), int(neg[-1])
    # J * n1 * n0 in exact integers, so mathematically tied thresholds tie exactly.
    j_scaled = pos * n0 - neg * n1
    best = int(np.argmax(j_scaled))  # first maximum = highest threshold
    sens = pos[best] / n1
    spec = 1.0 - neg[best] / n0
    return YoudenResult(float(-levels[best]), float(j_scaled[best] / (n1 * n0)), float(sens),
                        float(spec))
