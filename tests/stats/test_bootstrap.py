"""Stratified bootstrap weights: class counts kept, block-size invariant, weighted AUC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from alnm_ray.stats import bootstrap_auc_ci
from alnm_ray.stats._bootstrap import percentile_ci, stratified_weights, weighted_auc


def test_weighted_auc_equals_sklearn_with_sample_weight(tied_preds, rng):
    y, models = tied_preds
    p = models["m1"]
    w = next(stratified_weights(y, 5, rng))
    got = weighted_auc(w, y, p)
    for row, value in zip(w, got):
        assert value == pytest.approx(roc_auc_score(y, p, sample_weight=row), abs=1e-12)


def test_stratified_weights_keep_class_counts(preds):
    y, _ = preds
    blocks = list(stratified_weights(y, 7, 3))
    w = np.concatenate(blocks)
    assert w.shape == (7, y.size)
    np.testing.assert_array_equal(w[:, y == 1].sum(axis=1), np.full(7, y.sum()))
    np.testing.assert_array_equal(w[:, y == 0].sum(axis=1), np.full(7, (y == 0).sum()))


def test_bootstrap_blocks_do_not_change_results(preds, monkeypatch):
    import alnm_ray.stats._bootstrap as boot

    y, models = preds
    whole = bootstrap_auc_ci(y, models["m0"], n_boot=50, seed=1).replicates
    monkeypatch.setattr(boot, "MAX_BLOCK_ELEMENTS", y.size * 7)  # blocks of 7 replicates
    assert len(list(boot.stratified_weights(y, 50, 1))) == 8
    blocked = bootstrap_auc_ci(y, models["m0"], n_boot=50, seed=1).replicates
    np.testing.assert_array_equal(whole, blocked)


def test_percentile_ci_ignores_nan_columns():
    reps = np.c_[np.arange(11.0), np.full(11, np.nan)]
    ci = percentile_ci(reps, 0.8)
    assert ci[:, 0].tolist() == pytest.approx([1.0, 9.0])
    assert np.isnan(ci[:, 1]).all()
