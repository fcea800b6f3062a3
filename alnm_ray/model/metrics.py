"""Per-fold classification metrics (scikit-learn based) and the Youden threshold.

Threshold rule used everywhere in :mod:`alnm_ray.model`: the Youden index
(max sensitivity + specificity - 1) on the classifier's predictions for the
*training* patients of the fold (original rows, SMOTE rows excluded), applied
unchanged to the test patients.  Predictions on training rows are in-sample,
so for flexible models (KNN, boosting) the threshold is optimistic about
separation; it never looks at test labels.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

#: Metric columns written for every fold (precision = ppv, recall = sensitivity).
METRICS: tuple[str, ...] = ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1",
                            "threshold")


def youden_threshold(y_true: np.ndarray, prob: np.ndarray) -> float:
    """Probability cut-off maximising Youden's J on (y_true, prob).

    Returns 0.5 when only one class is present.  The first ROC threshold
    (``inf`` in scikit-learn) is mapped to 1.0; ties keep the highest cut-off.

    Example:
        >>> youden_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.8
    """
    y_true = np.asarray(y_true).astype(int)
    if np.unique(y_true).size < 2:
        return 0.5
    fpr, tpr, thr = roc_curve(y_true, prob)
    j = tpr - fpr
    # Ties (up to float round-off, e.g. 2/3 - 0 vs 1 - 1/3) keep the highest cut-off.
    best = int(np.flatnonzero(j >= j.max() - 1e-12)[0])
    return float(min(thr[best], 1.0))


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def binary_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC and confusion-matrix metrics at ``prob >= threshold``.

    Args:
        y_true: 0/1 labels, shape (n,).
        prob: Predicted probability of class 1, shape (n,).
        threshold: Cut-off (see :func:`youden_threshold`).

    Returns:
        Dict with the keys of :data:`METRICS`; NaN where undefined (AUC with
        one class, PPV with no positive call ...).

    Example:
        >>> m = binary_metrics(np.array([0, 1, 1, 0]), np.array([.2, .9, .6, .7]), 0.5)
        >>> m["sensitivity"], m["specificity"], m["auc"]
        (1.0, 0.5, 0.75)
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, dtype=float)
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    auc = float(roc_auc_score(y, p)) if np.unique(y).size == 2 else float("nan")
    return {
        "auc": auc,
        "accuracy": _ratio(tp + tn, y.size),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "threshold": float(threshold),
    }
