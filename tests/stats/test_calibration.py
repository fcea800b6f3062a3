"""Calibration statistics against statsmodels, pandas qcut and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import logit
from scipy.stats import chi2
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import brier_score_loss

from alnm_ray.exceptions import ConfigError
from alnm_ray.stats import (
    InvalidPredictionsError,
    brier_score,
    calibration_curve,
    calibration_intercept_slope,
    hosmer_lemeshow,
)


def test_brier_matches_sklearn(preds):
    y, models = preds
    for p in models.values():
        assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)


def test_intercept_and_slope_match_statsmodels(preds):
    y, models = preds
    for p in models.values():
        lp = logit(p)
        slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
        citl_fit = sm.GLM(y, np.ones((y.size, 1)), offset=lp, family=sm.families.Binomial()).fit()
        r = calibration_intercept_slope(y, p)
        assert r.slope == pytest.approx(slope_fit.params[1], abs=1e-7)
        assert r.intercept == pytest.approx(citl_fit.params[0], abs=1e-7)


def test_perfectly_calibrated_model_has_slope_one(rng):
    p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    r = calibration_intercept_slope(y, p)
    assert r.slope == pytest.approx(1.0, abs=0.08)
    assert r.intercept == pytest.approx(0.0, abs=0.05)


def test_separation_gives_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="no finite maximum-likelihood estimate"):
        r = calibration_intercept_slope([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert math.isnan(r.slope)


def _hl_reference(y, p, g=10):
    """Hosmer-Lemeshow recomputed with pandas.qcut (ties kept together) and groupby."""
    groups = pd.qcut(p, g, duplicates="drop")
    df = pd.DataFrame({"y": y, "p": p, "g": groups})
    t = df.groupby("g", observed=True).agg(o=("y", "sum"), e=("p", "sum"), n=("y", "size"))
    stat = float((((t.o - t.e) ** 2) / (t.e * (1 - t.e / t.n))).sum())
    return stat, len(t) - 2, float(chi2.sf(stat, len(t) - 2)), t


def test_hosmer_lemeshow_matches_qcut(preds, tied_preds):
    for y, models in (preds, tied_preds):
        for p in models.values():
            r = hosmer_lemeshow(y, p)
            stat, df, pval, table = _hl_reference(y, p)
            assert r.df == df and r.groups == len(table)
            assert r.statistic == pytest.approx(stat, rel=1e-10)
            assert r.p == pytest.approx(pval, rel=1e-8)
            np.testing.assert_array_equal(r.n, table.n.to_numpy())
            np.testing.assert_allclose(r.observed, table.o.to_numpy())


def test_hosmer_lemeshow_ties_stay_together_and_order_free(tied_preds, rng):
    y, models = tied_preds
    p = models["m1"]  # rounded to 1 decimal: 10 groups cannot all be distinct
    r = hosmer_lemeshow(y, p)
    assert r.groups < 10 and r.df == r.groups - 2
    perm = rng.permutation(y.size)
    assert hosmer_lemeshow(y[perm], p[perm]).statistic == pytest.approx(r.statistic, rel=1e-12)


def test_hosmer_lemeshow_too_few_groups():
    with pytest.warns(RuntimeWarning, match="needs at least 3"):
        r = hosmer_lemeshow([0, 1, 0, 1], [0.3, 0.3, 0.6, 0.6])
    assert math.isnan(r.p) and r.groups == 2
    with pytest.warns(RuntimeWarning, match="needs at least 3"):
        assert math.isnan(hosmer_lemeshow([0, 1, 0, 1], [0.2, 0.8, 0.3, 0.6], g=2).p)
    with pytest.raises(InvalidPredictionsError, match="g: expected an integer"):
        hosmer_lemeshow([0, 1], [0.2, 0.8], g=1)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_curve_matches_sklearn(preds, strategy):
    y, models = preds
    p = models["m0"]
    c = calibration_curve(y, p, n_bins=8, strategy=strategy)
    prob_true, prob_pred = sk_calibration_curve(y, p, n_bins=8, strategy=strategy)
    np.testing.assert_allclose(c.observed, prob_true)
    np.testing.assert_allclose(c.mean_predicted, prob_pred)
    assert c.count.sum() == y.size
    assert np.all((c.low <= c.observed) & (c.observed <= c.high))


def test_wilson_interval_matches_statsmodels(preds):
    from statsmodels.stats.proportion import proportion_confint

    y, models = preds
    c = calibration_curve(y, models["m2"], n_bins=5)
    lo, hi = proportion_confint(np.round(c.observed * c.count), c.count, alpha=0.05, method="wilson")
    np.testing.assert_allclose(c.low, lo, atol=1e-12)
    np.testing.assert_allclose(c.high, hi, atol=1e-12)


def test_calibration_curve_options():
    with pytest.raises(ConfigError, match="Did you mean 'quantile'"):
        calibration_curve([0, 1], [0.2, 0.8], strategy="quantiles")
    with pytest.raises(InvalidPredictionsError, match="n_bins"):
        calibration_curve([0, 1], [0.2, 0.8], n_bins=0)
