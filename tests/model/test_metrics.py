"""Youden threshold and per-fold metrics against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.model import binary_metrics, youden_threshold


def test_youden_threshold_hand_example():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.3, 0.6, 0.4, 0.7, 0.9])
    # cut 0.4: TPR 1, FPR 1/3 -> J = 2/3 (cut 0.7: TPR 2/3, FPR 0 -> J = 2/3; ties keep the higher cut)
    assert youden_threshold(y, p) == 0.7
    assert youden_threshold(np.array([1, 1]), np.array([0.2, 0.3])) == 0.5


def test_binary_metrics_hand_counts():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.4])
    m = binary_metrics(y, p, 0.5)  # TP=2 FN=1 FP=1 TN=3
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["ppv"] == pytest.approx(2 / 3)
    assert m["npv"] == pytest.approx(3 / 4)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["f1"] == pytest.approx(4 / 6)
    # Pairs ranked right: 0.9 beats 4 negatives, 0.6 beats 3, 0.2 beats 1 -> 8 of 12.
    assert m["auc"] == pytest.approx(8 / 12)
    assert m["threshold"] == 0.5


def test_undefined_metrics_are_nan():
    m = binary_metrics(np.array([0, 0]), np.array([0.2, 0.4]), 0.5)
    assert np.isnan(m["auc"]) and np.isnan(m["ppv"]) and np.isnan(m["sensitivity"])
