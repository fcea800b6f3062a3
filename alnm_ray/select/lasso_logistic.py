"""L1-penalised logistic regression (the "Rad-score" LASSO), lambda at minimum CV deviance.

Radiomics scores such as Zhang 2025's tumour and LN scores are the linear
predictor of an L1-penalised *logistic* regression, ``intercept + sum(coef *
z-scored feature)``, on the log-odds scale (glmnet ``family="binomial"``).
:class:`~alnm_ray.select.lasso.LassoCVSelector` (Guo 2024) regresses the 0/1
label with squared error instead; its linear predictor is a linear
probability, so an odds ratio "per unit" of it is not comparable with the
papers'.

Rule (glmnet ``cv.glmnet(family="binomial", type.measure="deviance")``,
``lambda.min``):

* objective ``mean log-loss + lambda * ||b||_1``, intercept not penalised;
  scikit-learn's ``LogisticRegression(l1_ratio=1, C=1 / (lambda * n))`` with
  the ``saga`` solver (exact zeros, unpenalised intercept), warm-started
  along the path;
* one lambda grid for every split: ``n_alphas`` log-spaced values from
  ``lambda_max = max |X' (y - mean(y))| / n`` (the smallest lambda at which
  every coefficient is zero; computed on the training rows passed to ``fit``)
  down to ``eps * lambda_max``;
* ``n_repeats`` repetitions of stratified K-fold CV over the training rows
  only, shuffled with seed ``derive(seed, r)``; the validation deviance
  (mean binomial log-loss of the held-out rows) of every split is averaged
  over all ``n_repeats x n_folds`` splits; lambda_min is its argmin (the
  largest lambda on ties);
* the features with non-zero coefficients at lambda_min, refitted on all the
  training rows, are kept; ``coef_`` and ``intercept_`` are that fit's.

Stratified folds (not plain K-fold) keep both classes in every training part
so that each fold's logistic fit exists.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from alnm_ray._validation import check_range
from alnm_ray.select.base import BaseSelector
from alnm_ray.select.lasso import _repeat_seed

__all__ = ["LogisticLassoSelector", "logistic_lambda_grid", "logistic_lasso_path"]

#: Probabilities are clipped to [_P_CLIP, 1 - _P_CLIP] in the deviance.
_P_CLIP = 1e-15


def logistic_lambda_grid(X: np.ndarray, y: np.ndarray, n_alphas: int = 100, eps: float = 1e-3
                         ) -> np.ndarray:
    """Decreasing log-spaced lambdas from ``lambda_max = max|X'(y - mean y)| / n``.

    At ``lambda_max`` the L1-penalised logistic fit (intercept free) has every
    coefficient zero: the gradient of the mean log-loss at ``b = 0``,
    ``intercept = logit(mean y)`` is ``X'(mean y - y) / n``.
    """
    amax = float(np.abs(X.T @ (y - y.mean())).max()) / X.shape[0]
    amax = amax if amax > 0 else 1.0
    return np.logspace(np.log10(amax), np.log10(amax * eps), int(n_alphas))


def logistic_lasso_path(X: np.ndarray, y: np.ndarray, alphas: np.ndarray, *, tol: float = 1e-6,
                        max_iter: int = 10000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """L1 logistic coefficients at decreasing ``alphas`` (warm-started ``saga``).

    Args:
        X: Features (n, p); y: 0/1 labels (n,), both classes present;
        alphas: Decreasing lambdas (mean log-loss + lambda * ||b||_1).
        tol, max_iter, seed: The solver's tolerance, iteration cap and seed.

    Returns:
        ``(coefs (p, len(alphas)), intercepts (len(alphas),))``.  At and above
        ``lambda_max`` the coefficients are exactly zero and the intercept is
        ``logit(mean y)``.

    Example:
        >>> rng = np.random.default_rng(0); X = rng.normal(size=(80, 3))
        >>> y = (X[:, 0] + rng.logistic(size=80) > 0).astype(int)
        >>> coefs, _ = logistic_lasso_path(X, y, logistic_lambda_grid(X, y, 10))
        >>> int(np.count_nonzero(coefs[:, 0])), int(np.flatnonzero(coefs[:, 3])[0])
        (0, 0)
    """
    n, p = X.shape
    amax = float(np.abs(X.T @ (y - y.mean())).max()) / n
    mean = float(np.clip(y.mean(), _P_CLIP, 1 - _P_CLIP))
    coefs = np.zeros((p, alphas.size))
    intercepts = np.full(alphas.size, np.log(mean / (1 - mean)))
    model = LogisticRegression(l1_ratio=1.0, solver="saga", tol=tol, max_iter=max_iter,
                               warm_start=True, random_state=int(seed))
    for k, lam in enumerate(alphas):
        if lam >= amax * (1 - 1e-12):  # nothing enters above lambda_max
            continue
        model.set_params(C=1.0 / (float(lam) * n))
        model.fit(X, y)
        coefs[:, k] = model.coef_[0]
        intercepts[k] = float(model.intercept_[0])
    return coefs, intercepts


def _deviance(y: np.ndarray, lp: np.ndarray) -> np.ndarray:
    """Mean binomial log-loss of each column of the linear predictors ``lp`` (n, k)."""
    prob = np.clip(1.0 / (1.0 + np.exp(-lp)), _P_CLIP, 1 - _P_CLIP)
    yy = y[:, None]
    return -(yy * np.log(prob) + (1 - yy) * np.log(1 - prob)).mean(axis=0)


class LogisticLassoSelector(BaseSelector):
    """Keep the features with non-zero L1-logistic coefficients at the min-deviance lambda.

    Args:
        n_repeats: CV repetitions with different shuffles.
        n_folds: Stratified folds per repetition.
        n_alphas: Size of the lambda grid (glmnet default 100).
        eps: Smallest lambda as a fraction of the largest.
        seed: Base seed of the fold shuffles and the solver.
        tol, max_iter: ``saga`` tolerance and iteration cap.
        empty_policy, empty_keep: When lambda_min keeps no feature; scores are
            the largest lambda at which each feature enters the path.

    Attributes:
        alpha_: Chosen lambda; ``C_ = 1 / (alpha_ * n)`` is scikit-learn's C.
        alphas_: The lambda grid, shape (n_alphas,), decreasing.
        deviance_path_: Validation mean log-loss, shape (n_alphas, n_repeats, n_folds).
        deviance_mean_: Mean over repeats and folds, shape (n_alphas,).
        coef_: Coefficients at ``alpha_`` on all the training rows, shape (n_features,).
        intercept_: Intercept at ``alpha_`` (log-odds).
        coef_path_: Coefficients along the grid, shape (n_features, n_alphas).
        intercept_path_: Intercepts along the grid, shape (n_alphas,).
        score_scale_: ``"log-odds"``: ``intercept_ + X @ coef_`` is a Rad-score.
        n_solver_warnings_: Solver convergence warnings counted during fit.

    Example:
        >>> rng = np.random.default_rng(0); y = rng.integers(0, 2, 100)
        >>> X = pd.DataFrame(rng.normal(size=(100, 4)), columns=list("abcd")); X["a"] += 2 * y
        >>> "a" in LogisticLassoSelector(n_folds=5, n_alphas=20).fit(X, y).selected_features_
        True
    """

    _step_name = "lasso_logistic"
    _score_name = "lambda at path entry"
    score_scale_ = "log-odds"

    def __init__(self, n_repeats: int = 1, n_folds: int = 10, n_alphas: int = 100,
                 eps: float = 1e-3, seed: int = 0, tol: float = 1e-6, max_iter: int = 10000,
                 empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.n_repeats = n_repeats
        self.n_folds = n_folds
        self.n_alphas = n_alphas
        self.eps = eps
        self.seed = seed
        self.tol = tol
        self.max_iter = max_iter
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _validate_params(self) -> None:
        check_range("lasso_logistic: n_repeats", self.n_repeats, 1)
        check_range("lasso_logistic: n_folds", self.n_folds, 2)
        check_range("lasso_logistic: n_alphas", self.n_alphas, 2)
        check_range("lasso_logistic: eps", self.eps, 0.0, 1.0, inclusive=False)
        check_range("lasso_logistic: tol", self.tol, 0.0, inclusive=False)
        check_range("lasso_logistic: max_iter", self.max_iter, 1)

    def _splits(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        minority = int(min(y.sum(), y.size - y.sum()))
        if minority < self.n_folds:
            raise ValueError(
                f"lasso_logistic: n_folds={self.n_folds} exceeds the {minority} training rows of the "
                "smaller class; expected at least one per fold (stratified folds). Lower n_folds "
                "(SelectionConfig.lasso_folds) or use more training patients.")
        dummy = np.zeros(y.size)
        return [split for r in range(self.n_repeats) for split in StratifiedKFold(
            self.n_folds, shuffle=True, random_state=_repeat_seed(self.seed, r)).split(dummy, y)]

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = X.to_numpy(dtype=float)
        target = np.asarray(y, dtype=float)
        splits = self._splits(target.astype(int))
        alphas = logistic_lambda_grid(values, target, self.n_alphas, self.eps)
        kw: dict[str, Any] = {"tol": self.tol, "max_iter": self.max_iter, "seed": self.seed}
        dev = np.empty((alphas.size, len(splits)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            for s, (tr, va) in enumerate(splits):
                coefs, b0 = logistic_lasso_path(values[tr], target[tr], alphas, **kw)
                dev[:, s] = _deviance(target[va], values[va] @ coefs + b0)
            coef_path, intercepts = logistic_lasso_path(values, target, alphas, **kw)
        self.n_solver_warnings_ = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        self.alphas_ = alphas
        self.deviance_path_ = dev.reshape(alphas.size, self.n_repeats, self.n_folds)
        self.deviance_mean_ = self.deviance_path_.mean(axis=(1, 2))
        best = int(np.argmin(self.deviance_mean_))
        self.alpha_ = float(alphas[best])
        self.C_ = 1.0 / (self.alpha_ * values.shape[0])
        self.coef_path_ = coef_path
        self.intercept_path_ = intercepts
        self.coef_ = coef_path[:, best].copy()
        self.intercept_ = float(intercepts[best])
        nonzero = coef_path != 0
        entry = np.where(nonzero.any(axis=1), alphas[np.argmax(nonzero, axis=1)], 0.0)
        return self.coef_ != 0, entry
