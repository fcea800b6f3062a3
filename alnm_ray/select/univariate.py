"""Univariate filter: the test is chosen per feature from its distribution.

Guo 2024: "For normally distributed features with equal variance, independent
sample t-tests were used; for normally distributed features with unequal
variance, corrected t-test methods (... Welch) were applied; and for
non-normally distributed features, the Mann-Whitney U test was employed.
Features with p-values < 0.05 were retained."

Per feature: Shapiro-Wilk in each class (normal when p >= ``normality_alpha``
in both); if normal, Levene's test (``levene_center``; "median" is the
Brown-Forsythe variant, scipy's default, robust to outliers) decides equal
variance (p >= ``variance_alpha``) -> Student t, else Welch; non-normal ->
two-sided Mann-Whitney U.  All tests are vectorised over features.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.select.base import BaseSelector

TEST_STUDENT = "student"
TEST_WELCH = "welch"
TEST_MANNWHITNEY = "mannwhitney"
LEVENE_CENTERS: tuple[str, ...] = ("mean", "median", "trimmed")
#: Shapiro-Wilk is defined for 3 <= n; below that a class cannot be tested for normality.
MIN_SHAPIRO_N = 3


def levene_pvalues(a: np.ndarray, b: np.ndarray, center: str = "median") -> np.ndarray:
    """Levene / Brown-Forsythe p-values of every column of two groups, vectorised.

    Same statistic as ``scipy.stats.levene`` (one-way ANOVA on |x - centre| of
    each group) without its per-column Python overhead (~40x faster for 3 000
    features).  ``center="trimmed"`` defers to scipy.

    Args:
        a, b: Group values, shapes (n_a, p) and (n_b, p).
        center: "median" (Brown-Forsythe) or "mean" (classic Levene).

    Returns:
        p-values, shape (p,); NaN where both groups are constant.
    """
    if center == "trimmed":
        return np.asarray(stats.levene(a, b, center="trimmed", axis=0).pvalue, float)
    pick = np.median if center == "median" else np.mean
    za, zb = np.abs(a - pick(a, axis=0)), np.abs(b - pick(b, axis=0))
    na, nb = a.shape[0], b.shape[0]
    ma, mb = za.mean(axis=0), zb.mean(axis=0)
    grand = (na * ma + nb * mb) / (na + nb)
    between = na * (ma - grand) ** 2 + nb * (mb - grand) ** 2
    within = ((za - ma) ** 2).sum(axis=0) + ((zb - mb) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (na + nb - 2) * between / within
    return stats.f.sf(w, 1, na + nb - 2)


class UnivariateFilter(BaseSelector):
    """Keep features whose class difference has p < ``alpha``.

    Args:
        alpha: Significance level of the retained difference (0.05 in the paper).
        normality_alpha: Shapiro-Wilk level below which a class is non-normal.
        variance_alpha: Levene level below which variances are unequal.
        levene_center: "median" (Brown-Forsythe, default), "mean" (classic Levene)
            or "trimmed".
        empty_policy, empty_keep: When no feature has p < alpha (scores are
            -log10 p, so "best" keeps the smallest p-values).

    Attributes:
        pvalues_: p-value per input feature, shape (n_features,).
        tests_: Test used per feature ("student", "welch" or "mannwhitney").
        normal_: Whether both classes passed Shapiro-Wilk.
        equal_var_: Levene's verdict (False where not normal).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.r_[np.zeros(30), np.ones(30)].astype(int)
        >>> X = pd.DataFrame({"sig": rng.normal(size=60) + 2 * y, "noise": rng.normal(size=60)})
        >>> UnivariateFilter().fit(X, y).selected_features_
        ['sig']
    """

    _step_name = "univariate"
    _score_name = "-log10 p"

    def __init__(self, alpha: float = 0.05, normality_alpha: float = 0.05,
                 variance_alpha: float = 0.05, levene_center: str = "median",
                 empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.alpha = alpha
        self.normality_alpha = normality_alpha
        self.variance_alpha = variance_alpha
        self.levene_center = levene_center
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _validate_params(self) -> None:
        check_range("univariate: alpha", self.alpha, 0.0, 1.0, inclusive=False)
        check_range("univariate: normality_alpha", self.normality_alpha, 0.0, 1.0)
        check_range("univariate: variance_alpha", self.variance_alpha, 0.0, 1.0)
        look_up_option("univariate: levene_center", self.levene_center, LEVENE_CENTERS)

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = X.to_numpy(dtype=float)
        a, b = values[y == 0], values[y == 1]
        p = values.shape[1]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # Constant-within-class features make scipy warn and return NaN;
            # they are handled below (treated as non-normal / unequal).
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            normal = np.ones(p, dtype=bool)
            for group in (a, b):
                if group.shape[0] < MIN_SHAPIRO_N:
                    normal[:] = False
                    continue
                sw = np.asarray(stats.shapiro(group, axis=0).pvalue, dtype=float)
                normal &= np.nan_to_num(sw, nan=0.0) >= self.normality_alpha
                # scipy reports p = 1 for a constant sample; a degenerate class is not normal.
                normal &= np.ptp(group, axis=0) > 0
            lev = levene_pvalues(a, b, self.levene_center)
            equal_var = normal & (np.nan_to_num(lev, nan=0.0) >= self.variance_alpha)
            pvals = np.ones(p)
            # Each test runs only on the features it applies to.
            for mask, test in ((normal & equal_var, "student"), (normal & ~equal_var, "welch"),
                               (~normal, "mannwhitney")):
                if not mask.any():
                    continue
                if test == "mannwhitney":
                    res = stats.mannwhitneyu(a[:, mask], b[:, mask], axis=0,
                                             alternative="two-sided")
                else:
                    res = stats.ttest_ind(a[:, mask], b[:, mask], axis=0,
                                          equal_var=test == "student")
                pvals[mask] = np.asarray(res.pvalue, dtype=float)
        pvals = np.nan_to_num(pvals, nan=1.0)
        self.pvalues_ = pvals
        self.normal_ = normal
        self.equal_var_ = equal_var
        self.tests_ = np.where(normal, np.where(equal_var, TEST_STUDENT, TEST_WELCH),
                               TEST_MANNWHITNEY)
        keep = pvals < self.alpha
        scores = -np.log10(np.clip(pvals, 1e-300, 1.0))
        return keep, scores
