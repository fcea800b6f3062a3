"""Table 1: the summary and the test follow the stated rules; every branch agrees with scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alnm_ray.report.baseline import (
    FISHER_RESAMPLES,
    FISHER_SEED,
    baseline_table,
    categorical_test,
    display_table,
    format_p,
)

N = 30
Z = stats.norm.ppf((np.arange(1, N + 1) - 0.5) / N)  # evenly spaced normal quantiles: Shapiro passes
E = stats.expon.ppf((np.arange(1, N + 1) - 0.5) / N)  # exponential quantiles: Shapiro rejects


def _cohort(**columns: np.ndarray) -> pd.DataFrame:
    label = np.r_[np.zeros(N, int), np.ones(N, int)]
    return pd.DataFrame({"patient_id": [f"P{i}" for i in range(2 * N)], "label": label, **columns})


def _row(table: pd.DataFrame, variable: str) -> pd.Series:
    return table[table.variable == variable].iloc[0]


def test_normal_equal_variances_mean_sd_and_student_t() -> None:
    a, b = 50 + 10 * Z, 56 + 10 * Z
    assert stats.shapiro(a).pvalue > 0.05 and stats.levene(a, b).pvalue >= 0.05
    row = _row(baseline_table(_cohort(age=np.r_[a, b])), "age")
    assert row["level"] == "mean ± SD" and row["test"] == "Student's t-test"
    assert row["ALNM− (n=30)"] == f"{a.mean():.1f} ± {a.std(ddof=1):.1f}" == "50.0 ± 10.0"
    assert np.isclose(row["p"], stats.ttest_ind(a, b).pvalue)


def test_normal_unequal_variances_use_welch() -> None:
    a, b = 50 + 5 * Z, 56 + 25 * Z
    assert stats.levene(a, b).pvalue < 0.05
    row = _row(baseline_table(_cohort(size=np.r_[a, b])), "size")
    assert row["test"] == "Welch's t-test" and row["level"] == "mean ± SD"
    assert np.isclose(row["p"], stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_a_non_normal_group_gives_median_iqr_and_mann_whitney() -> None:
    a, b = 50 + 10 * Z, 45 + 10 * E
    assert stats.shapiro(b).pvalue < 0.05
    table = baseline_table(_cohort(ki67_index=np.r_[a, b]))
    row = _row(table, "ki67_index")
    q1, med, q3 = np.percentile(b, [25, 50, 75])
    assert row["level"] == "median [Q1, Q3]" and row["test"] == "Mann–Whitney U"
    assert row["ALNM+ (n=30)"] == f"{med:.1f} [{q1:.1f}, {q3:.1f}]"
    assert np.isclose(row["p"], stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _categorical(neg: dict[str, int], pos: dict[str, int]) -> pd.DataFrame:
    values = [k for k, n in neg.items() for _ in range(n)] + [k for k, n in pos.items() for _ in range(n)]
    label = [0] * sum(neg.values()) + [1] * sum(pos.values())
    return pd.DataFrame({"label": label, "grade": values})


@pytest.mark.parametrize(("neg", "pos", "test", "reference"), [
    # n >= 40 and every expected count >= 5: Pearson without correction
    ({"a": 20, "b": 10}, {"a": 10, "b": 20}, "χ²",
     lambda t: stats.chi2_contingency(t, correction=False).pvalue),
    # n >= 40, smallest expected count 2 (>= 1, < 5): Yates' correction
    ({"a": 27, "b": 3}, {"a": 29, "b": 1}, "χ² (Yates)",
     lambda t: stats.chi2_contingency(t, correction=True).pvalue),
    # n >= 40 but an expected count of 0.5: Fisher
    ({"a": 30, "b": 0}, {"a": 29, "b": 1}, "Fisher's exact", lambda t: stats.fisher_exact(t).pvalue),
    # n < 40 with expected counts >= 1: Fisher
    ({"a": 5, "b": 3}, {"a": 2, "b": 6}, "Fisher's exact", lambda t: stats.fisher_exact(t).pvalue),
    # 3 x 2, every expected count >= 5: Pearson
    ({"a": 10, "b": 10, "c": 10}, {"a": 5, "b": 10, "c": 15}, "χ²",
     lambda t: stats.chi2_contingency(t, correction=False).pvalue),
    # 3 x 2 with expected counts below 1: Fisher–Freeman–Halton (seeded Monte Carlo)
    ({"a": 4, "b": 3, "c": 0}, {"a": 1, "b": 5, "c": 1}, "Fisher–Freeman–Halton",
     lambda t: stats.fisher_exact(t, method=stats.PermutationMethod(
         n_resamples=FISHER_RESAMPLES, random_state=FISHER_SEED)).pvalue),
])
def test_categorical_branches_match_scipy(neg, pos, test, reference) -> None:
    table = baseline_table(_categorical(neg, pos))
    counts = np.array([[neg.get(k, 0), pos.get(k, 0)] for k in sorted(set(neg) | set(pos))])
    row = table.iloc[0]
    assert row["test"] == test
    assert np.isclose(row["p"], reference(counts))
    assert row["p_text"] == format_p(row["p"])
    n_neg = sum(neg.values())
    assert row[f"ALNM− (n={n_neg})"] == f"{counts[0, 0]} ({100 * counts[0, 0] / n_neg:.1f}%)"
    assert list(table.level) == sorted(set(neg) | set(pos)) and (table.test.iloc[1:] == "").all()


def test_fisher_freeman_halton_is_reproducible() -> None:
    t = np.array([[4, 1], [3, 5], [0, 1]])
    assert categorical_test(t) == categorical_test(t)


def test_p_formatting_and_the_display_table() -> None:
    assert [format_p(p) for p in (0.00049, 0.001, 0.0456, 0.5, float("nan"))] == \
        ["<0.001", "0.001", "0.046", "0.500", "—"]
    table = baseline_table(_cohort(age=np.r_[50 + 10 * Z, 90 + 10 * Z]))
    shown = display_table(table)
    assert list(shown.columns) == ["variable", "level", "ALNM− (n=30)", "ALNM+ (n=30)", "test", "p"]
    assert shown["p"].iloc[0] == "<0.001"


def test_missing_values_and_single_level_columns() -> None:
    df = _categorical({"a": 20, "b": 10}, {"a": 10, "b": 20})
    df.loc[0, "grade"] = None
    df["site"] = "left"
    table = baseline_table(df)
    grade = table.iloc[0]
    assert grade["ALNM− (n=30)"] == "19 (65.5%)"  # the denominator leaves the missing value out
    site = _row(table, "site")
    assert site["test"] == "—" and site["p_text"] == "—"
