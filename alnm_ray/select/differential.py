"""Differential analysis: a two-group test per feature, chosen by the feature's type.

Liu 2025 (§2.6, §2.8): "Mann-Whitney U-test or independent t-test was performed
for quantitative features, while chi-squared test or Fisher's exact test was
applied for categorical features ... with a p-value threshold of 0.05"; "All
tests were two-sided".  Gu 2025 applied t-tests to the z-scored radiomics
features (``quantitative_test="ttest"``).

Quantitative features reuse :class:`~alnm_ray.select.univariate.UnivariateFilter`
(one implementation of each test):

* ``"auto"`` (Liu): Shapiro-Wilk in each class at ``normality_alpha`` (both
  classes p >= alpha, n >= 3 and non-constant = normal) -> Student's t
  (pooled variance), else two-sided Mann-Whitney U.  *Assumed*: Student's
  rather than Welch's t, because the paper says "independent t-test" and names
  no variance test (UnivariateFilter runs with ``variance_alpha=0``, so
  Levene never rejects).
* ``"ttest"`` (Gu): Student's t for every feature (``normality_alpha=0``);
  a feature constant within a class, or a class of fewer than 3 rows, still
  gets Mann-Whitney U, as in UnivariateFilter (recorded in ``tests_``).

Categorical features: a contingency table (levels x classes) ->

* Pearson's chi-squared when every expected count is >= 5
  (``scipy.stats.chi2_contingency``; Yates' continuity correction on 2x2
  tables, scipy's default -- *assumed*, the paper does not say);
* otherwise Fisher's exact test on 2x2 tables (two-sided);
* otherwise, for larger tables, the Fisher-Freeman-Halton test: scipy's r x c
  ``fisher_exact`` estimates its p-value by Monte Carlo (``fisher_resamples``
  tables drawn with a seeded generator); there is no exact r x c enumeration
  in scipy.

A column is categorical when

* its name was declared in ``categorical`` (an exact column name, or the
  clinical variable name before ``=`` of :class:`ClinicalEncoder`'s one-hot
  columns), or
* it is a one-hot column of :class:`ClinicalEncoder` (``"<variable>=<level>"``);
  the columns of one variable form one r x 2 table and are kept or dropped
  together; each is read as "level present" above the midpoint of its
  training range, so z-scoring (and SMOTE's interpolation) does not change
  the table; rows with no level (missing values) are left out of the table, or
* it has at most ``max_levels`` distinct values in the training rows
  (binary flags by default: *assumed*, a 0/1 variable is categorical in any
  reading, while a numeric grade 1-3 may be ordinal -- declare it if the
  protocol tabulates it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.select.base import BaseSelector
from alnm_ray.select.univariate import UnivariateFilter

#: Quantitative test rules: "auto" (normality decides t vs Mann-Whitney U), "ttest" (always t).
QUANTITATIVE_TESTS: tuple[str, ...] = ("auto", "ttest")
#: Cochran's rule: chi-squared needs every expected cell count >= 5.
MIN_EXPECTED = 5.0
#: Separator of ClinicalEncoder's one-hot column names ("grade=3").
ONEHOT_SEP = "="
TEST_CHI2 = "chi2"
TEST_FISHER = "fisher"
TEST_FREEMAN_HALTON = "fisher_freeman_halton"
TEST_DEGENERATE = "none"


def _levels(values: np.ndarray, onehot: bool) -> np.ndarray:
    """Level code per row for one column (one-hot columns: 1 above the range midpoint, else 0)."""
    if onehot:
        lo, hi = values.min(), values.max()
        return (values > (lo + hi) / 2).astype(int) if hi > lo else np.zeros(values.size, int)
    return np.unique(values, return_inverse=True)[1]


def _group_levels(block: np.ndarray) -> np.ndarray:
    """Level per row of a multi-column one-hot group; -1 where no level is present."""
    present = np.column_stack([_levels(block[:, j], True) for j in range(block.shape[1])])
    level = np.argmax(present, axis=1)
    level[present.sum(axis=1) != 1] = -1
    return level


def contingency_test(table: np.ndarray, *, resamples: int = 9999,
                     seed: int = 0) -> tuple[float, str]:
    """Two-sided test of independence of a (levels x classes) count table.

    Args:
        table: Non-negative counts, shape (r, c).
        resamples: Monte Carlo tables for the Fisher-Freeman-Halton p-value (r x c > 2 x 2).
        seed: Seed of that Monte Carlo draw.

    Returns:
        ``(p_value, test)`` with test "chi2", "fisher", "fisher_freeman_halton"
        or "none" (fewer than two non-empty levels or classes: p = 1).

    Example:
        >>> p, test = contingency_test(np.array([[8, 2], [1, 9]]))
        >>> round(p, 4), test
        (0.0055, 'fisher')
    """
    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return 1.0, TEST_DEGENERATE
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    if expected.min() >= MIN_EXPECTED:
        return float(stats.chi2_contingency(t).pvalue), TEST_CHI2
    counts = t.astype(np.int64)
    if counts.shape == (2, 2):
        return float(stats.fisher_exact(counts, alternative="two-sided").pvalue), TEST_FISHER
    method = stats.MonteCarloMethod(n_resamples=int(resamples), rng=np.random.default_rng(seed))
    return float(stats.fisher_exact(counts, method=method).pvalue), TEST_FREEMAN_HALTON


class DifferentialFilter(BaseSelector):
    """Keep features whose two-group test has p < ``alpha`` (Liu 2025's differential analysis).

    Args:
        alpha: Two-sided significance level of a retained feature (0.05).
        quantitative_test: "auto" (Shapiro-Wilk -> Student t / Mann-Whitney U)
            or "ttest" (Student t throughout, Gu 2025).
        normality_alpha: Shapiro-Wilk level of the "auto" rule.
        categorical: Column names (or ClinicalEncoder variable names) to test as
            categorical whatever their values.
        max_levels: Other columns with at most this many distinct training
            values are categorical.
        fisher_resamples: Monte Carlo tables of the r x c Fisher-Freeman-Halton test.
        seed: Seed of that Monte Carlo draw.
        empty_policy, empty_keep: When no feature has p < alpha (scores are
            -log10 p, so "best" keeps the smallest p-values).

    Attributes:
        pvalues_: p-value per input feature, shape (n_features,).
        tests_: Test per feature: "student", "mannwhitney", "chi2", "fisher",
            "fisher_freeman_halton" or "none".
        categorical_: Dict variable -> its columns, for the categorical features.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.r_[np.zeros(40), np.ones(40)].astype(int)
        >>> X = pd.DataFrame({"size": rng.normal(size=80) + 1.5 * y,
        ...                   "flag": (rng.random(80) < 0.2 + 0.6 * y).astype(float),
        ...                   "noise": rng.normal(size=80)})
        >>> f = DifferentialFilter().fit(X, y)
        >>> f.selected_features_, f.tests_.tolist()
        (['size', 'flag'], ['student', 'chi2', 'student'])
    """

    _step_name = "differential"
    _score_name = "-log10 p"

    def __init__(self, alpha: float = 0.05, quantitative_test: str = "auto",
                 normality_alpha: float = 0.05, categorical: tuple[str, ...] = (),
                 max_levels: int = 2, fisher_resamples: int = 9999, seed: int = 0,
                 empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.alpha = alpha
        self.quantitative_test = quantitative_test
        self.normality_alpha = normality_alpha
        self.categorical = categorical
        self.max_levels = max_levels
        self.fisher_resamples = fisher_resamples
        self.seed = seed
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _validate_params(self) -> None:
        check_range("differential: alpha", self.alpha, 0.0, 1.0, inclusive=False)
        look_up_option("differential: quantitative_test", self.quantitative_test,
                       QUANTITATIVE_TESTS)
        check_range("differential: normality_alpha", self.normality_alpha, 0.0, 1.0)
        check_range("differential: max_levels", self.max_levels, 1)
        check_range("differential: fisher_resamples", self.fisher_resamples, 99)

    def _categorical_groups(self, X: pd.DataFrame) -> dict[str, list[str]]:
        declared = {str(c) for c in self.categorical}
        groups: dict[str, list[str]] = {}
        for col in map(str, X.columns):
            var, sep, _ = col.partition(ONEHOT_SEP)
            if sep and var:
                groups.setdefault(var, []).append(col)
            elif col in declared or X[col].nunique() <= self.max_levels:
                groups[col] = [col]
        return groups

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        cols = [str(c) for c in X.columns]
        assert y is not None  # _requires_y: BaseSelector.fit checked the labels
        values = X.to_numpy(dtype=float)
        groups = self._categorical_groups(X.set_axis(cols, axis=1))
        pos = {c: i for i, c in enumerate(cols)}
        pvals = np.ones(len(cols))
        tests = np.full(len(cols), TEST_DEGENERATE, dtype=object)
        in_group = {c for members in groups.values() for c in members}
        quant = [i for i, c in enumerate(cols) if c not in in_group]
        if quant:
            uni = UnivariateFilter(
                alpha=self.alpha, variance_alpha=0.0,
                normality_alpha=0.0 if self.quantitative_test == "ttest" else self.normality_alpha)
            uni._select(X.iloc[:, quant], y)
            pvals[quant] = uni.pvalues_
            tests[quant] = uni.tests_
        for offset, (var, members) in enumerate(sorted(groups.items())):
            idx = [pos[c] for c in members]
            onehot = ONEHOT_SEP in members[0] and var != members[0]
            level = (_group_levels(values[:, idx]) if len(idx) > 1
                     else _levels(values[:, idx[0]], onehot))
            ok = level >= 0
            table = pd.crosstab(level[ok], y[ok]).to_numpy()
            p, test = contingency_test(table, resamples=self.fisher_resamples,
                                       seed=int(self.seed) + offset)
            pvals[idx] = p
            tests[idx] = test
        self.pvalues_ = pvals
        self.tests_ = tests.astype(str)
        self.categorical_ = {k: list(v) for k, v in sorted(groups.items())}
        keep = pvals < self.alpha
        return keep, -np.log10(np.clip(pvals, 1e-300, 1.0))
