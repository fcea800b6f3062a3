"""Differential analysis (Liu 2025 §2.6): the test follows the feature's type; p-values equal scipy's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alnm_ray.exceptions import ConfigError, FallbackWarning, NotFittedError
from alnm_ray.select import ClinicalEncoder, SelectionConfig, ZScoreScaler, build_selection_pipeline
from alnm_ray.select.differential import DifferentialFilter, contingency_test


def _quantitative(rng, n=60):
    y = np.r_[np.zeros(n), np.ones(n)].astype(int)

    def normal(mean, sd):  # normal quantiles in random order: passes Shapiro-Wilk every time
        return mean + sd * rng.permutation(stats.norm.ppf((np.arange(n) + 0.5) / n))

    X = pd.DataFrame({
        "normal": np.r_[normal(0, 1), normal(0.6, 1)],
        "unequal_var": np.r_[normal(0, 1), normal(0.6, 4)],
        "skewed": np.r_[rng.exponential(1, n), rng.exponential(2, n)],
    })
    return X, y


def test_quantitative_auto_rule_t_test_if_normal_else_mann_whitney(rng):
    X, y = _quantitative(rng)
    f = DifferentialFilter().fit(X, y)
    # Student's t (the paper's "independent t-test") even with unequal variances: no Welch switch.
    assert f.tests_.tolist() == ["student", "student", "mannwhitney"]
    a, b = X[y == 0], X[y == 1]
    expected = [stats.ttest_ind(a.normal, b.normal).pvalue,
                stats.ttest_ind(a.unequal_var, b.unequal_var).pvalue,
                stats.mannwhitneyu(a.skewed, b.skewed, alternative="two-sided").pvalue]
    np.testing.assert_allclose(f.pvalues_, expected, rtol=1e-10)
    assert f.selected_features_ == [c for c, p in zip(X.columns, expected) if p < 0.05]


def test_ttest_rule_uses_the_t_test_for_every_quantitative_feature(rng):
    X, y = _quantitative(rng)
    f = DifferentialFilter(quantitative_test="ttest").fit(X, y)
    assert f.tests_.tolist() == ["student"] * 3
    a, b = X[y == 0], X[y == 1]
    np.testing.assert_allclose(f.pvalues_, stats.ttest_ind(a, b, axis=0).pvalue, rtol=1e-10)


def test_binary_column_chi_squared_when_expected_counts_allow_else_fisher(rng):
    y = np.r_[np.zeros(50), np.ones(50)].astype(int)
    common = (rng.random(100) < 0.3 + 0.4 * y).astype(float)  # expected counts >= 5
    rare = np.zeros(100)
    rare[[0, 60, 61, 62, 63]] = 1.0  # expected counts 2.5 < 5
    f = DifferentialFilter().fit(pd.DataFrame({"common": common, "rare": rare}), y)
    assert f.tests_.tolist() == ["chi2", "fisher"]
    assert f.categorical_ == {"common": ["common"], "rare": ["rare"]}
    t_common = pd.crosstab(common, y).to_numpy()
    t_rare = pd.crosstab(rare, y).to_numpy()
    np.testing.assert_allclose(f.pvalues_, [stats.chi2_contingency(t_common).pvalue,
                                            stats.fisher_exact(t_rare).pvalue], rtol=1e-12)


def test_encoded_multilevel_variable_is_one_table_kept_or_dropped_together(rng):
    n = 90
    y = np.r_[np.zeros(45), np.ones(45)].astype(int)
    subtype = np.r_[np.repeat(["HER2", "LumA", "TN"], [2, 30, 13]),
                    np.repeat(["HER2", "LumA", "TN"], [3, 9, 33])]
    raw = pd.DataFrame({"subtype": subtype, "age": rng.normal(50, 8, n)})
    # As the pipeline sees it: encoded in-fold, then z-scored (one-hot columns are no longer 0/1).
    X = ZScoreScaler().fit_transform(ClinicalEncoder().fit_transform(raw), y)
    f = DifferentialFilter(seed=3).fit(X, y)
    group = ["subtype=HER2", "subtype=LumA", "subtype=TN"]
    assert f.categorical_ == {"subtype": group}
    table = pd.crosstab(subtype, y).to_numpy()
    assert np.outer(table.sum(1), table.sum(0)).min() / n < 5  # HER2 is rare: no chi-squared
    tests = dict(zip(X.columns, f.tests_))
    assert {tests[c] for c in group} == {"fisher_freeman_halton"}
    assert tests["age"] in {"student", "mannwhitney"} and "age" not in f.categorical_
    p = dict(zip(X.columns, f.pvalues_))
    assert len({p[c] for c in group}) == 1  # one p-value for the variable
    assert p[group[0]] < 0.001
    assert set(group) <= set(f.selected_features_)
    # the Monte Carlo Fisher-Freeman-Halton p-value is reproducible per seed and close to scipy's
    again = DifferentialFilter(seed=3).fit(X, y)
    np.testing.assert_array_equal(again.pvalues_, f.pvalues_)
    ref, test = contingency_test(table, seed=11)
    assert test == "fisher_freeman_halton" and p[group[0]] == pytest.approx(ref, abs=2e-3)


def test_declared_numeric_grade_is_tabulated_not_t_tested(rng):
    y = np.r_[np.zeros(60), np.ones(60)].astype(int)
    grade = np.r_[rng.choice([1, 2, 3], 60, p=[0.5, 0.3, 0.2]), rng.choice([1, 2, 3], 60, p=[0.2, 0.3, 0.5])]
    X = pd.DataFrame({"grade": grade.astype(float)})
    assert DifferentialFilter().fit(X, y).tests_[0] in {"student", "mannwhitney"}
    f = DifferentialFilter(categorical=("grade",)).fit(X, y)
    assert f.tests_[0] == "chi2"
    assert f.pvalues_[0] == pytest.approx(stats.chi2_contingency(pd.crosstab(grade, y)).pvalue)


def test_degenerate_table_gives_p_one():
    assert contingency_test(np.array([[10, 12]])) == (1.0, "none")
    assert contingency_test(np.array([[10, 0], [5, 0]])) == (1.0, "none")


def test_nothing_significant_falls_back_to_the_smallest_p(rng):
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    X = pd.DataFrame(rng.normal(size=(80, 5)), columns=list("abcde"))
    with pytest.warns(FallbackWarning, match="differential: all 5 features filtered out"):
        f = DifferentialFilter(alpha=1e-6).fit(X, y)
    assert f.selected_features_ == [X.columns[int(np.argmin(f.pvalues_))]]


def test_not_fitted_and_bad_parameters():
    with pytest.raises(NotFittedError, match="not fitted"):
        DifferentialFilter().transform(np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="Did you mean 'ttest'"):
        DifferentialFilter(quantitative_test="t-test").fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_config_builds_the_step_and_validates_its_fields():
    cfg = SelectionConfig(icc_threshold=None, smote=False, steps=("differential",),
                          differential_alpha=0.01, differential_test="ttest",
                          differential_categorical=["grade"], differential_max_levels=3)
    step = build_selection_pipeline(cfg, seed=7).named_steps["differential"]
    assert (step.alpha, step.quantitative_test, step.categorical, step.max_levels, step.seed) == (
        0.01, "ttest", ("grade",), 3, 7)
    assert SelectionConfig.from_yaml(cfg.to_yaml()) == cfg
    with pytest.raises(ConfigError, match="differential_test: expected one of auto, ttest; got 'mwu'"):
        cfg.replace(differential_test="mwu")
    with pytest.raises(ConfigError, match="steps: expected one of .* Did you mean 'differential'"):
        cfg.replace(steps=("diferential",))
