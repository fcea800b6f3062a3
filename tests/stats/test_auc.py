"""AUC, ROC curve and bootstrap intervals against scikit-learn and a published example."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from alnm_ray.stats import InvalidPredictionsError, bootstrap_auc_ci, roc_auc, roc_confidence_band, roc_curve


def test_auc_matches_sklearn(preds, tied_preds):
    for y, models in (preds, tied_preds):
        for p in models.values():
            assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_hanley_mcneil_1982_area(hanley_mcneil):
    # Published worked example: area 0.893 for the 109 CT ratings.
    y, s = hanley_mcneil
    assert roc_auc(y, s) == pytest.approx(0.8932, abs=5e-5)


def test_roc_curve_matches_sklearn(tied_preds):
    y, models = tied_preds
    fpr, tpr, thr = roc_curve(y, models["m0"])
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(y, models["m0"], drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert thr[0] == np.inf
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, models["m0"]))


def test_bootstrap_ci_reproducible_and_sensible(preds):
    y, models = preds
    a = bootstrap_auc_ci(y, models["m0"], n_boot=400, seed=7)
    b = bootstrap_auc_ci(y, models["m0"], n_boot=400, seed=7)
    c = bootstrap_auc_ci(y, models["m0"], n_boot=400, seed=8)
    assert (a.low, a.high) == (b.low, b.high)
    assert not np.array_equal(a.replicates, c.replicates)
    assert a.low < a.estimate < a.high
    assert a.replicates.shape == (400,)
    lo, hi = np.quantile(a.replicates, [0.025, 0.975])
    assert (a.low, a.high) == pytest.approx((lo, hi))


def test_bootstrap_rejects_bad_n_boot(preds):
    y, models = preds
    with pytest.raises(InvalidPredictionsError, match="n_boot"):
        bootstrap_auc_ci(y, models["m0"], n_boot=0)


def test_roc_band_brackets_curve(preds):
    y, models = preds
    grid, lo, hi = roc_confidence_band(y, models["m0"], n_boot=200, seed=0)
    assert grid.shape == lo.shape == hi.shape == (101,)
    assert np.all(lo <= hi)
    assert np.all(np.diff(lo) >= -1e-12) and np.all(np.diff(hi) >= -1e-12)
    assert hi[-1] == 1.0
    fpr, tpr, _ = roc_curve(y, models["m0"])
    # The empirical step curve at the middle of the grid lies inside the band.
    mid = grid[50]
    emp = tpr[np.searchsorted(fpr, mid, side="right") - 1]
    assert lo[50] <= emp <= hi[50]
    with pytest.raises(InvalidPredictionsError, match="fpr_grid"):
        roc_confidence_band(y, models["m0"], fpr_grid=[0.5, 1.5])


scores = st.lists(st.integers(0, 1000), min_size=4, max_size=40)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_auc_invariant_to_monotone_transforms(data):
    raw = np.array(data.draw(scores), dtype=float) / 1000.0
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=raw.size, max_size=raw.size)))
    y[:2] = [0, 1]
    base = roc_auc(y, raw)
    for f in (lambda v: v ** 3, np.exp, lambda v: np.log(v + 0.5), lambda v: 7.0 * v - 3.0):
        assert roc_auc(y, f(raw)) == pytest.approx(base, abs=1e-12)
    assert roc_auc(y, -raw) == pytest.approx(1.0 - base, abs=1e-12)
    assert base == pytest.approx(roc_auc_score(y, raw), abs=1e-12)


@pytest.mark.slow
def test_bootstrap_and_delong_intervals_cover_true_auc():
    """Binormal data with known AUC = Phi(delta / sqrt 2): ~95 % coverage for both intervals."""
    from scipy.stats import norm

    from alnm_ray.stats import delong_ci

    rng = np.random.default_rng(11)
    delta, n_sim = 1.2, 200
    true_auc = norm.cdf(delta / np.sqrt(2))
    hits_boot = hits_delong = 0
    for k in range(n_sim):
        y = np.r_[np.zeros(70, int), np.ones(50, int)]
        s = rng.normal(size=y.size) + delta * y
        b = bootstrap_auc_ci(y, s, n_boot=300, seed=k)
        d = delong_ci(y, s)
        hits_boot += b.low <= true_auc <= b.high
        hits_delong += d.low <= true_auc <= d.high
    # 200 simulations: the binomial SD of a 95 % coverage estimate is ~1.5 points.
    assert 0.89 <= hits_delong / n_sim <= 0.99
    assert 0.88 <= hits_boot / n_sim <= 0.99
