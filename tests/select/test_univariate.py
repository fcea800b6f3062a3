"""Univariate filter: the test follows the distribution; p-values equal scipy's; empty policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alnm_ray.exceptions import FallbackWarning, NotFittedError
from alnm_ray.select import EmptySelectionError, UnivariateFilter
from alnm_ray.select.univariate import levene_pvalues


def _cohort(rng, n=80):
    y = np.r_[np.zeros(n), np.ones(n)].astype(int)
    a = {  # class 0 | class 1 columns
        "normal_equal": (rng.normal(0, 1, n), rng.normal(0.8, 1, n)),
        "normal_unequal": (rng.normal(0, 1, n), rng.normal(0.8, 4, n)),
        "skewed": (rng.exponential(1, n), rng.exponential(2, n)),
    }
    X = pd.DataFrame({k: np.r_[v0, v1] for k, (v0, v1) in a.items()})
    return X, y


def test_test_choice_follows_distribution(rng):
    X, y = _cohort(rng)
    f = UnivariateFilter().fit(X, y)
    assert dict(zip(X.columns, f.tests_)) == {
        "normal_equal": "student", "normal_unequal": "welch", "skewed": "mannwhitney"}
    a, b = X[y == 0], X[y == 1]
    expected = [stats.ttest_ind(a.normal_equal, b.normal_equal).pvalue,
                stats.ttest_ind(a.normal_unequal, b.normal_unequal, equal_var=False).pvalue,
                stats.mannwhitneyu(a.skewed, b.skewed, alternative="two-sided").pvalue]
    np.testing.assert_allclose(f.pvalues_, expected, rtol=1e-10)
    assert f.selected_features_ == [c for c, p in zip(X.columns, expected) if p < 0.05]


def test_levene_matches_scipy(rng):
    a = rng.normal(size=(30, 6)) * rng.uniform(0.5, 3, 6)
    b = rng.normal(size=(25, 6))
    for center in ("median", "mean"):
        np.testing.assert_allclose(levene_pvalues(a, b, center),
                                   stats.levene(a, b, center=center, axis=0).pvalue, rtol=1e-9)


def _no_difference(rng):
    base = rng.normal(size=(40, 3))
    X = pd.DataFrame(np.r_[base, base], columns=["f0", "f1", "f2"])  # identical in both classes
    X.iloc[40:, 1] += 0.2  # f1 differs a little (still p >= 0.05) -> the best
    return X, np.r_[np.zeros(40), np.ones(40)].astype(int)


def test_all_filtered_best_policy_records(rng):
    X, y = _no_difference(rng)
    with pytest.warns(FallbackWarning, match="univariate: all 3 features filtered out"):
        f = UnivariateFilter().fit(X, y)
    assert f.selected_features_ == ["f1"]
    assert "policy 'best' kept the 1 best by -log10 p" in f.fallback_


def test_all_filtered_passthrough_and_raise(rng):
    X, y = _no_difference(rng)
    with pytest.warns(FallbackWarning, match="passthrough"):
        assert UnivariateFilter(empty_policy="passthrough").fit(X, y).get_support().all()
    with pytest.raises(EmptySelectionError, match="Loosen the step's threshold"):
        UnivariateFilter(empty_policy="raise").fit(X, y)


def test_class_constant_feature_is_not_normal(rng):
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    X = pd.DataFrame({"c": np.r_[np.zeros(20), rng.normal(3, 1, size=20)]})
    assert UnivariateFilter().fit(X, y).tests_[0] == "mannwhitney"


def test_not_fitted_and_bad_labels(rng):
    X, y = _cohort(rng)
    with pytest.raises(NotFittedError):
        UnivariateFilter().transform(X)
    with pytest.raises(ValueError, match="expected binary labels 0/1"):
        UnivariateFilter().fit(X, y + 1)
