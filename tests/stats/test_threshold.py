"""Threshold metrics against scikit-learn; Youden threshold against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

from alnm_ray.stats import InvalidPredictionsError, confusion_metrics, youden_threshold
from alnm_ray.stats.threshold import THRESHOLD_METRICS, rates_from_counts


def test_hand_computed_example():
    # y:    1    1    1    0    0    0    0
    # p:   .9   .6   .3   .6   .2   .1   .5   threshold .5 -> predicted 1 1 0 1 0 0 1
    # TP = 2, FN = 1, FP = 2, TN = 2
    m = confusion_metrics([1, 1, 1, 0, 0, 0, 0], [0.9, 0.6, 0.3, 0.6, 0.2, 0.1, 0.5], 0.5)
    assert (m.tp, m.fn, m.fp, m.tn) == (2, 1, 2, 2)
    assert m.sensitivity == pytest.approx(2 / 3)
    assert m.specificity == pytest.approx(2 / 4)
    assert m.ppv == pytest.approx(2 / 4)
    assert m.npv == pytest.approx(2 / 3)
    assert m.accuracy == pytest.approx(4 / 7)
    assert m.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    assert m.precision == m.ppv and m.recall == m.sensitivity


def test_matches_sklearn(preds):
    y, models = preds
    for p in models.values():
        for t in (0.2, 0.5, float(np.median(p))):
            m = confusion_metrics(y, p, t)
            pred = (p >= t).astype(int)
            tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
            assert (m.tp, m.fp, m.tn, m.fn) == (tp, fp, tn, fn)
            assert m.accuracy == pytest.approx(accuracy_score(y, pred))
            assert m.sensitivity == pytest.approx(recall_score(y, pred))
            assert m.specificity == pytest.approx(recall_score(1 - y, 1 - pred))
            assert m.ppv == pytest.approx(precision_score(y, pred, zero_division=np.nan))
            assert m.npv == pytest.approx(precision_score(1 - y, 1 - pred, zero_division=np.nan))
            assert m.f1 == pytest.approx(f1_score(y, pred))


def test_undefined_ratios_are_nan():
    m = confusion_metrics([0, 1, 0], [0.1, 0.2, 0.3], 0.9)  # nobody predicted positive
    assert math.isnan(m.ppv) and m.specificity == 1.0 and m.sensitivity == 0.0
    assert m.f1 == 0.0
    r = rates_from_counts(np.array([0.0, 3.0]), 0.0, 0.0, 0.0)
    assert set(r) == set(THRESHOLD_METRICS)
    assert np.isnan(r["npv"]).all() and r["ppv"][1] == 1.0


def test_bad_threshold():
    with pytest.raises(InvalidPredictionsError, match=r"threshold: expected a probability in \[0, 1\]"):
        confusion_metrics([0, 1], [0.2, 0.8], 1.5)


def _brute_force_youden(y, p):
    best = None
    for t in sorted(set(p.tolist()), reverse=True):  # highest threshold first
        pred = p >= t
        j = pred[y == 1].mean() + (~pred[y == 0]).mean() - 1
        if best is None or j > best[1] + 1e-12:
            best = (t, j)
    return best


def test_youden_observed_score_and_brute_force(preds, tied_preds):
    for y, models in (preds, tied_preds):
        for p in models.values():
            r = youden_threshold(y, p)
            t, j = _brute_force_youden(y, p)
            assert r.threshold == t
            assert r.threshold in set(p.tolist())  # an observed score, not a midpoint
            assert r.j == pytest.approx(j)
            m = confusion_metrics(y, p, r.threshold)
            assert (r.sensitivity, r.specificity) == pytest.approx((m.sensitivity, m.specificity))


def test_youden_tie_takes_highest_threshold():
    # J = 2/3 both at 0.8 (sens 2/3, spec 1) and at 0.35 (sens 1, spec 2/3).
    r = youden_threshold([0, 0, 1, 0, 1, 1], [0.1, 0.3, 0.35, 0.4, 0.8, 0.9])
    assert r.threshold == 0.8
    assert r.j == pytest.approx(2 / 3)
