"""LASSO selection with repeated K-fold CV choosing lambda at minimum mean MSE.

Guo 2024: "LASSO regression ... with 20 repetitions of 10-fold cross-validation
using different random seeds ... the feature subset corresponding to the
optimal regularization parameter lambda with the minimum mean squared error".

Design: one lambda grid for all splits (glmnet/scikit-learn convention:
``n_alphas`` log-spaced values from lambda_max, where the first feature enters,
down to ``eps * lambda_max``, computed on the whole training fold); repeat
``r`` shuffles its K folds with seed ``derive(seed, r)``; the validation MSE of
every split at every lambda is averaged over all ``n_repeats x n_folds``
splits (equal to the mean over repeats of the per-repeat mean, as every repeat
has K folds); lambda_min is the argmin.  The 0/1 label is regressed with
squared error (glmnet ``family="gaussian"``), as in the paper.  Features with
a non-zero coefficient at lambda_min on the whole training fold are kept.

Solver: by default the exact piecewise-linear LASSO path from LARS
(``sklearn.linear_model.lars_path(method="lasso")``), read off at the grid
values -- the same estimator as ``LassoCV``'s coordinate descent, ~9x faster
for 20 features x 200 splits (0.5 s vs 4.6 s measured); ``solver="cd"`` runs
``LassoCV`` itself.  ``tests/select/test_lasso.py`` checks both choose the same
lambda.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV, lars_path
from sklearn.model_selection import KFold

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.select.base import BaseSelector

LASSO_SOLVERS: tuple[str, ...] = ("lars", "cd")


def _repeat_seed(seed: int, repeat: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(repeat)]).generate_state(1)[0])


def lambda_grid(X: np.ndarray, y: np.ndarray, n_alphas: int = 100, eps: float = 1e-3
                ) -> np.ndarray:
    """Decreasing log-spaced lambdas from lambda_max = max|Xc' yc| / n (intercept fitted)."""
    xc = X - X.mean(axis=0)
    amax = float(np.abs(xc.T @ (y - y.mean())).max()) / X.shape[0]
    amax = amax if amax > 0 else 1.0
    return np.logspace(np.log10(amax), np.log10(amax * eps), int(n_alphas))


def lasso_path_at(X: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, float,
                                                                           np.ndarray]:
    """Exact LASSO coefficients at ``alphas`` via LARS (intercept fitted by centring).

    Args:
        X: Features (n, p); y: targets (n,); alphas: lambdas (any order).

    Returns:
        ``(coefs (p, len(alphas)), y_mean, x_mean (p,))``; intercept at a lambda
        is ``y_mean - x_mean @ coefs[:, k]``.
    """
    mx, my = X.mean(axis=0), float(y.mean())
    xc, yc = X - mx, y - my
    knots, _, path = lars_path(xc, yc, method="lasso", Gram=xc.T @ xc, Xy=xc.T @ yc,
                               max_iter=max(500, 10 * X.shape[1]))
    a, c = knots[::-1], path[:, ::-1]  # ascending lambda
    k = np.clip(np.searchsorted(a, alphas, side="right") - 1, 0, a.size - 1)
    k2 = np.minimum(k + 1, a.size - 1)
    span = np.where(a[k2] > a[k], a[k2] - a[k], 1.0)
    w = np.clip((alphas - a[k]) / span, 0.0, 1.0)
    coefs = c[:, k] * (1 - w) + c[:, k2] * w
    # At and above lambda_max nothing is active; interpolation round-off (1e-17) must not
    # count as a selected feature.
    coefs[:, alphas >= a[-1] * (1 - 1e-9)] = 0.0
    return coefs, my, mx


class LassoCVSelector(BaseSelector):
    """Keep the features with non-zero LASSO coefficients at the min-MSE lambda.

    Args:
        n_repeats: CV repetitions with different shuffles (20 in the paper).
        n_folds: Folds per repetition (10 in the paper; 5 in Liu 2025).
        n_alphas: Size of the lambda grid (glmnet/scikit-learn default 100).
        eps: Smallest lambda as a fraction of the largest.
        seed: Base seed of the fold shuffles.
        solver: "lars" (exact path, default) or "cd" (``LassoCV``).
        max_iter, tol: Coordinate-descent limits (solver "cd").
        empty_policy, empty_keep: When lambda_min keeps no feature (common on
            noise); scores are the largest lambda at which each feature enters
            the path, so "best" keeps the first features to enter.

    Attributes:
        alpha_: Chosen lambda.
        alphas_: The lambda grid, shape (n_alphas,), decreasing.
        mse_path_: Validation MSE, shape (n_alphas, n_repeats, n_folds).
        mse_mean_: Mean over repeats and folds, shape (n_alphas,).
        coef_: Coefficients at ``alpha_`` on the whole training data, shape (n_features,).
        coef_path_: Coefficients along the grid, shape (n_features, n_alphas).
        intercept_: Intercept at ``alpha_``.
        n_solver_warnings_: Solver warnings (convergence, degenerate LARS
            steps) counted during fit rather than printed.

    Example:
        >>> rng = np.random.default_rng(0); y = rng.integers(0, 2, 100)
        >>> X = pd.DataFrame(rng.normal(size=(100, 6)), columns=list("abcdef")); X["a"] += 2 * y
        >>> "a" in LassoCVSelector(n_repeats=2, n_folds=5).fit(X, y).selected_features_
        True
    """

    _step_name = "lasso"
    _score_name = "lambda at path entry"

    def __init__(self, n_repeats: int = 20, n_folds: int = 10, n_alphas: int = 100,
                 eps: float = 1e-3, seed: int = 0, solver: str = "lars", max_iter: int = 10000,
                 tol: float = 1e-4, empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.n_repeats = n_repeats
        self.n_folds = n_folds
        self.n_alphas = n_alphas
        self.eps = eps
        self.seed = seed
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _validate_params(self) -> None:
        check_range("lasso: n_repeats", self.n_repeats, 1)
        check_range("lasso: n_folds", self.n_folds, 2)
        check_range("lasso: n_alphas", self.n_alphas, 2)
        check_range("lasso: eps", self.eps, 0.0, 1.0, inclusive=False)
        look_up_option("lasso: solver", self.solver, LASSO_SOLVERS)

    def _splits(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        if n < self.n_folds:
            raise ValueError(
                f"lasso: n_folds={self.n_folds} exceeds the {n} training rows; expected at most "
                "one fold per row. Lower n_folds (SelectionConfig.lasso_folds).")
        dummy = np.zeros(n)
        return [split for r in range(self.n_repeats) for split in KFold(
            self.n_folds, shuffle=True, random_state=_repeat_seed(self.seed, r)).split(dummy)]

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = X.to_numpy(dtype=float)
        target = np.asarray(y, dtype=float)
        splits = self._splits(values.shape[0])
        alphas = lambda_grid(values, target, self.n_alphas, self.eps)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            if self.solver == "cd":
                model = LassoCV(alphas=alphas, cv=splits, n_jobs=1, max_iter=self.max_iter,
                                tol=self.tol)
                model.fit(values, target)
                mse = np.asarray(model.mse_path_)
            else:
                mse = np.empty((alphas.size, len(splits)))
                for s, (tr, va) in enumerate(splits):
                    coefs, my, mx = lasso_path_at(values[tr], target[tr], alphas)
                    pred = (values[va] - mx) @ coefs + my
                    mse[:, s] = ((target[va][:, None] - pred) ** 2).mean(axis=0)
            coef_path, my, mx = lasso_path_at(values, target, alphas)
        self.n_solver_warnings_ = sum(issubclass(w.category, (ConvergenceWarning, UserWarning))
                                      for w in caught)
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
