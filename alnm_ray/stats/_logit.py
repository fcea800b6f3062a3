"""Maximum-likelihood logistic fits through ``statsmodels`` with loud failure modes.

:func:`fit_logit` wraps ``statsmodels.api.Logit(...).fit(method="newton")``
and turns the three ways an unpenalised logistic fit goes wrong into a
:class:`LogisticFitError` with a four-part message instead of NaN or absurd
odds ratios:

* *perfect or quasi-complete separation* (some predictor pattern has only
  events or only non-events; the MLE does not exist and Newton's steps run
  off to infinity -- Albert & Anderson (1984), Biometrika 71:1-10);
* *non-convergence* within :data:`MAX_NEWTON_ITER` iterations;
* a *singular information matrix* (collinear predictors, e.g. a dummy that
  duplicates another column).

:func:`wald_group_p` is the joint Wald chi-square test of several
coefficients (a categorical variable's dummies), the test SPSS's
"Backward: Wald" and R's ``car::Anova(type = 3, test = "Wald")`` use.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import chi2
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from alnm_ray.exceptions import LogisticFitError

__all__ = ["MAX_NEWTON_ITER", "LogisticFitError", "fit_logit", "wald_group_p"]

#: Newton-Raphson iteration cap.  Newton converges quadratically on a
#: well-posed logistic likelihood (typically < 10 steps); R's ``glm`` stops
#: at 25, statsmodels' default is 35.  100 leaves room for badly scaled
#: predictors while still detecting divergence (separation) quickly.
MAX_NEWTON_ITER = 100
#: Fitted probabilities this close to 0 or 1 mean a linear predictor beyond
#: about +-23, which R's ``glm`` reports as "fitted probabilities numerically
#: 0 or 1 occurred" -- the signature of (quasi-)separation.
SEPARATION_EPS = 1e-10


def _cells(X: pd.DataFrame, y: np.ndarray) -> str:
    """Columns with few distinct values whose levels hold only events or only non-events."""
    found = []
    for col in X.columns:
        values = X[col].to_numpy()
        levels = np.unique(values)
        if levels.size > 2:
            continue
        for level in levels:
            hit = values == level
            events = int(y[hit].sum())
            if events in (0, int(hit.sum())):
                found.append(f"{col} = {level:g} has {events} events in {int(hit.sum())} patients")
    return ("; " + "; ".join(sorted(found)[:3])) if found else ""


def fit_logit(X: pd.DataFrame, y: np.ndarray, *, context: str) -> Any:
    """Fit ``logit P(y = 1) = b0 + X b`` by Newton-Raphson (statsmodels).

    Args:
        X: Design matrix without the intercept, shape ``(n, k)``; finite floats.
        y: 0/1 outcomes, shape ``(n,)``.
        context: Names the fit in error messages, e.g. ``"univariate: age"``.

    Returns:
        The statsmodels ``LogitResults``; ``params`` and ``bse`` are indexed by
        ``"const"`` and the columns of ``X``.

    Raises:
        LogisticFitError: Separation, non-convergence or a singular
            information matrix.

    Example:
        >>> rng = np.random.default_rng(0); x = rng.normal(size=200)
        >>> y = (rng.uniform(size=200) < 1 / (1 + np.exp(-x))).astype(int)
        >>> res = fit_logit(pd.DataFrame({"x": x}), y, context="demo")
        >>> list(res.params.index), bool(res.mle_retvals["converged"])
        (['const', 'x'], True)
    """
    exog = sm.add_constant(X.astype(float), has_constant="add", prepend=True)
    fix = ("Merge sparse levels, drop the variable, or leave it out of the candidates "
           "(on_separation='exclude' records it in excluded_); a penalised (Firth) fit is "
           "outside this builder.")
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="ignore"):
            warnings.simplefilter("always")
            res = sm.Logit(np.asarray(y, dtype=float), exog).fit(
                method="newton", maxiter=MAX_NEWTON_ITER, disp=0)
    except PerfectSeparationError as err:
        raise LogisticFitError(
            f"logistic regression ({context}): expected a finite maximum-likelihood fit; found "
            f"perfect separation{_cells(X, y)}. {fix}") from err
    except np.linalg.LinAlgError as err:
        raise LogisticFitError(
            f"logistic regression ({context}): expected linearly independent predictors; found "
            f"a singular information matrix ({err}) among {sorted(map(str, X.columns))[:5]}. "
            "Drop duplicated or collinear columns (e.g. a dummy equal to another variable).") from err
    kinds = {w.category for w in caught}
    converged = bool(res.mle_retvals.get("converged", False))
    fitted = np.asarray(res.predict(), dtype=float)
    separated = (PerfectSeparationWarning in kinds or
                 bool(np.any((fitted < SEPARATION_EPS) | (fitted > 1.0 - SEPARATION_EPS))))
    finite = bool(np.all(np.isfinite(res.params)) and np.all(np.isfinite(res.bse)))
    if separated or not converged or not finite:
        what = ("perfect or quasi-complete separation (fitted probabilities numerically 0 or 1"
                f"{_cells(X, y)})" if separated or _cells(X, y) else
                f"no convergence in {MAX_NEWTON_ITER} Newton iterations"
                + (" and non-finite standard errors" if not finite else ""))
        raise LogisticFitError(
            f"logistic regression ({context}): expected a finite maximum-likelihood fit; found "
            f"{what}. {fix}")
    if HessianInversionWarning in kinds or ConvergenceWarning in kinds:  # pragma: no cover
        raise LogisticFitError(
            f"logistic regression ({context}): expected an invertible information matrix; "
            "statsmodels could not invert it. Drop collinear predictors and refit.")
    return res


def wald_group_p(res: Any, columns: Sequence[str]) -> float:
    """Two-sided p of the joint Wald test that ``columns``' coefficients are all 0.

    ``W = b' V^-1 b`` with ``b`` the coefficients and ``V`` their covariance,
    referred to chi-square with ``len(columns)`` degrees of freedom; for one
    column this is the usual Wald z-test (``W = z^2``).

    Example:
        >>> rng = np.random.default_rng(1); x = rng.normal(size=300)
        >>> y = (rng.uniform(size=300) < 1 / (1 + np.exp(-x))).astype(int)
        >>> res = fit_logit(pd.DataFrame({"x": x}), y, context="demo")
        >>> bool(np.isclose(wald_group_p(res, ["x"]), res.pvalues["x"]))
        True
    """
    cols = list(columns)
    b = np.asarray(res.params[cols], dtype=float)
    v = np.asarray(res.cov_params().loc[cols, cols], dtype=float)
    stat = float(b @ np.linalg.solve(v, b))
    return float(chi2.sf(stat, len(cols))) if math.isfinite(stat) else math.nan
