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


def _loop_replicates(y, p, threshold, n_boot, seed):
    """The plain reference: resample patients replicate by replicate and recompute each metric.

    Draws exactly as the earlier weight-matrix implementation did: one
    ``integers(0, highs)`` call per replicate, event slots first.
    """
    from alnm_ray.stats import roc_auc

    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    highs = np.r_[np.full(pos.size, pos.size), np.full(neg.size, neg.size)]
    out = []
    for _ in range(n_boot):
        draw = rng.integers(0, highs)
        idx = np.r_[pos[draw[:pos.size]], neg[draw[pos.size:]]]
        yb, pb = y[idx], p[idx]
        pred = pb >= threshold
        sens = (pred & (yb == 1)).sum() / (yb == 1).sum()
        spec = (~pred & (yb == 0)).sum() / (yb == 0).sum()
        out.append([roc_auc(yb, pb), sens, spec, np.mean((pb - yb) ** 2)])
    return np.array(out)


def test_vectorised_replicates_equal_a_per_replicate_loop(tied_preds):
    from alnm_ray.stats import evaluate_models
    from alnm_ray.stats._bootstrap import LevelCounts, bootstrap
    from alnm_ray.stats.summary import _BOOT_METRICS, _bootstrap_block

    y, models = tied_preds
    p = models["m1"]
    ref = _loop_replicates(y, p, 0.5, 300, 11)
    np.testing.assert_allclose(bootstrap_auc_ci(y, p, n_boot=300, seed=11).replicates, ref[:, 0],
                               rtol=0, atol=1e-12)
    lc = LevelCounts(y, p)
    reps = bootstrap(y, lambda a, b: _bootstrap_block(a, b, [lc], [0.5]), n_boot=300, seed=11)
    cols = [0, 1 + _BOOT_METRICS.index("sensitivity"), 1 + _BOOT_METRICS.index("specificity"),
            len(_BOOT_METRICS)]
    np.testing.assert_allclose(reps[:, cols], ref, rtol=0, atol=1e-12)
    report = evaluate_models(y, {"m1": p}, threshold=0.5, n_boot=300, seed=11)
    assert report["models"]["m1"]["auc_ci_bootstrap"] == pytest.approx(
        percentile_ci(ref[:, 0]).tolist(), abs=1e-12)
    assert report["models"]["m1"]["ci_bootstrap"]["brier"] == pytest.approx(
        percentile_ci(ref[:, 3]).tolist(), abs=1e-12)


def test_weights_and_draws_share_one_stream(preds):
    from alnm_ray.stats._bootstrap import stratified_draws

    y, _ = preds
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    w = np.concatenate(list(stratified_weights(y, 9, 4)))
    for r, (a, b) in enumerate(zip(*[np.concatenate(x) for x in zip(*stratified_draws(y, 9, 4))])):
        np.testing.assert_array_equal(w[r], np.bincount(np.r_[pos[a], neg[b]], minlength=y.size))
