"""Straightforward reference versions of the optimised selection steps.

They are the per-column / per-split code paths the estimators used before the
vectorised and batched ones (scipy's ``shapiro`` column by column, one
scikit-learn ``lars_path`` per CV split), kept here so the identity tests can
compare both on the same data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

from alnm_ray.select.lasso import LassoCVSelector, lambda_grid, lasso_path_at
from alnm_ray.select.univariate import (
    MIN_SHAPIRO_N,
    TEST_MANNWHITNEY,
    TEST_STUDENT,
    TEST_WELCH,
    UnivariateFilter,
    levene_pvalues,
)


class ReferenceUnivariate(UnivariateFilter):
    """:class:`UnivariateFilter` with ``scipy.stats.shapiro`` applied per column."""

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = X.to_numpy(dtype=float)
        a, b = values[y == 0], values[y == 1]
        p = values.shape[1]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            normal = np.ones(p, dtype=bool)
            for group in (a, b):
                if group.shape[0] < MIN_SHAPIRO_N:
                    normal[:] = False
                    continue
                sw = np.array([stats.shapiro(group[:, j]).pvalue for j in range(p)])
                normal &= np.nan_to_num(sw, nan=0.0) >= self.normality_alpha
                normal &= np.ptp(group, axis=0) > 0
            lev = levene_pvalues(a, b, self.levene_center)
            equal_var = normal & (np.nan_to_num(lev, nan=0.0) >= self.variance_alpha)
            pvals = np.ones(p)
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
        return pvals < self.alpha, -np.log10(np.clip(pvals, 1e-300, 1.0))


class ReferenceLasso(LassoCVSelector):
    """:class:`LassoCVSelector` with one scikit-learn ``lars_path`` per CV split."""

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = X.to_numpy(dtype=float)
        target = np.asarray(y, dtype=float)
        splits = self._splits(values.shape[0])
        alphas = lambda_grid(values, target, self.n_alphas, self.eps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mse = np.empty((alphas.size, len(splits)))
            for s, (tr, va) in enumerate(splits):
                coefs, my, mx = lasso_path_at(values[tr], target[tr], alphas)
                pred = (values[va] - mx) @ coefs + my
                mse[:, s] = ((target[va][:, None] - pred) ** 2).mean(axis=0)
            coef_path, my, mx = lasso_path_at(values, target, alphas)
        self.n_solver_warnings_ = 0
        self.alphas_ = alphas
        self.mse_path_ = mse.reshape(alphas.size, self.n_repeats, self.n_folds)
        self.mse_mean_ = self.mse_path_.mean(axis=(1, 2))
        best = int(np.argmin(self.mse_mean_))
        self.alpha_ = float(alphas[best])
        self.coef_path_ = coef_path
        self.coef_ = coef_path[:, best].copy()
        self.intercept_ = float(my - mx @ self.coef_)
        nonzero = coef_path != 0
        entry = np.where(nonzero.any(axis=1), alphas[np.argmax(nonzero, axis=1)], 0.0)
        return self.coef_ != 0, entry


#: Pipeline step name -> reference class replacing the optimised estimator.
REFERENCE_STEPS = {"univariate": ReferenceUnivariate, "lasso": ReferenceLasso}
