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

Solver: by default the exact piecewise-linear LASSO path (LARS with the lasso
modification), read off at the grid values -- the same estimator as
``LassoCV``'s coordinate descent; ``solver="cd"`` runs ``LassoCV`` itself.
``tests/select/test_lasso.py`` checks both choose the same lambda.

Speed: with few features (after mRMR, ``p <= BATCH_MAX_FEATURES``) every
split's path is computed at once by :func:`lars_lasso_knots`, a LARS that
advances all ``n_repeats x n_folds + 1`` problems in lock-step on their Gram
matrices (one batched solve per step instead of ~200 calls of scikit-learn's
``lars_path``, whose per-call Python overhead dominated: 20 x 10-fold went
from ~0.7 s to ~0.05 s on one core, ``benchmarks/bench_select.py``).  Its knots
equal ``lars_path``'s to ~1e-14 relative (``tests/select/test_select_identity.py``);
a split whose path is degenerate (near-collinear features, scikit-learn's
early-stopping cases) is recomputed with ``lars_path``, as are all splits
when there are more features.  A coefficient that leaves the active set is
exactly zero at its knot (``lars_path`` can leave ~1e-20 there, which would
count a feature as selected).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV, lars_path
from sklearn.model_selection import KFold

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.select.base import BaseSelector

LASSO_SOLVERS: tuple[str, ...] = ("lars", "cd")
#: Largest feature count solved by the batched LARS; each lock-step solve costs
#: O(splits x p^3), so beyond ~40 features per-split ``lars_path`` (O(p^2) per
#: step with Cholesky updates) is faster.
BATCH_MAX_FEATURES = 40
#: Smallest Gram eigenvalue (relative to its largest) for the batched LARS; below
#: it ``lars_path`` may meet degenerate active sets, so the split goes to it.
_MIN_RELATIVE_EIGENVALUE = 1e-10
#: ``lars_path`` stops once lambda falls below this (float32 epsilon).
_LARS_ALPHA_TOL = float(np.finfo(np.float32).eps)
#: A knot coefficient this small relative to the knot's largest is round-off of a drop.
_DROP_ROUNDOFF = 1e-12


def _repeat_seed(seed: int, repeat: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(repeat)]).generate_state(1)[0])


def lambda_grid(X: np.ndarray, y: np.ndarray, n_alphas: int = 100, eps: float = 1e-3
                ) -> np.ndarray:
    """Decreasing log-spaced lambdas from lambda_max = max|Xc' yc| / n (intercept fitted)."""
    xc = X - X.mean(axis=0)
    amax = float(np.abs(xc.T @ (y - y.mean())).max()) / X.shape[0]
    amax = amax if amax > 0 else 1.0
    return np.logspace(np.log10(amax), np.log10(amax * eps), int(n_alphas))


def _read_path(knots: np.ndarray, path: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Coefficients (p, len(alphas)) at ``alphas`` of a path given at decreasing ``knots``."""
    path = np.where(np.abs(path) <= _DROP_ROUNDOFF * np.abs(path).max(axis=0), 0.0, path)
    a, c = knots[::-1], path[:, ::-1]  # ascending lambda
    k = np.clip(np.searchsorted(a, alphas, side="right") - 1, 0, a.size - 1)
    k2 = np.minimum(k + 1, a.size - 1)
    span = np.where(a[k2] > a[k], a[k2] - a[k], 1.0)
    w = np.clip((alphas - a[k]) / span, 0.0, 1.0)
    coefs = c[:, k] * (1 - w) + c[:, k2] * w
    # At and above lambda_max nothing is active; interpolation round-off (1e-17) must not
    # count as a selected feature.
    coefs[:, alphas >= a[-1] * (1 - 1e-9)] = 0.0
    return coefs


def lasso_path_at(X: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, float,
                                                                           np.ndarray]:
    """Exact LASSO coefficients at ``alphas`` via LARS (intercept fitted by centring).

    Args:
        X: Features (n, p); y: targets (n,); alphas: lambdas (any order).

    Returns:
        ``(coefs (p, len(alphas)), y_mean, x_mean (p,))``; intercept at a lambda
        is ``y_mean - x_mean @ coefs[:, k]``.

    Example:
        >>> rng = np.random.default_rng(0); X = rng.normal(size=(50, 3))
        >>> y = X[:, 0] + 0.1 * rng.normal(size=50)
        >>> coefs, _, _ = lasso_path_at(X, y, np.array([10.0, 0.5, 1e-4]))
        >>> [int(np.count_nonzero(coefs[:, k])) for k in range(3)]  # none, x0, all
        [0, 1, 3]
    """
    mx, my = X.mean(axis=0), float(y.mean())
    xc, yc = X - mx, y - my
    knots, _, path = lars_path(xc, yc, method="lasso", Gram=xc.T @ xc, Xy=xc.T @ yc,
                               max_iter=max(500, 10 * X.shape[1]))
    return _read_path(knots, path, alphas), my, mx


def lars_lasso_knots(gram: np.ndarray, xy: np.ndarray, n_rows: np.ndarray, *,
                     alpha_stop: float = 0.0, max_iter: int = 500
                     ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """LARS-lasso knots of many problems at once, advanced in lock-step.

    Each problem ``f`` is the lasso of centred data given by its Gram matrix
    ``gram[f] = Xc' Xc`` and ``xy[f] = Xc' yc`` with ``n_rows[f]`` rows
    (objective ``||yc - Xc b||^2 / (2 n) + lambda ||b||_1``), the same
    parameterisation, stopping rules and knots as scikit-learn's
    ``lars_path(method="lasso", Gram=..., Xy=...)``.

    Args:
        gram: Gram matrices, shape (F, p, p).
        xy: Correlations with the centred target, shape (F, p).
        n_rows: Rows of each problem, shape (F,).
        alpha_stop: Stop a problem after the first knot below this lambda
            (knots further down are not needed to read the path above it).
        max_iter: Most LARS steps per problem.

    Returns:
        ``(knots, paths, ok)``: per problem the decreasing lambdas at the knots
        (shape (m,)) and the coefficients there (shape (p, m)); ``ok[f]`` is
        False where the problem met a case this solver does not reproduce
        (degenerate direction, lambda increasing, ``max_iter`` reached) -- use
        ``lars_path`` for it.

    Example:
        >>> rng = np.random.default_rng(0); X = rng.normal(size=(40, 3)); y = X[:, 1]
        >>> xc, yc = X - X.mean(0), y - y.mean()
        >>> knots, paths, ok = lars_lasso_knots((xc.T @ xc)[None], (xc.T @ yc)[None], np.array([40]))
        >>> bool(ok[0]), int(np.flatnonzero(paths[0][:, 1])[0])  # feature 1 enters first
        (True, 1)
    """
    n_prob, p = xy.shape
    n_rows = np.asarray(n_rows, dtype=float)
    beta = np.zeros((n_prob, p))
    cov = np.array(xy, dtype=float)
    active = np.zeros((n_prob, p), dtype=bool)
    sign = np.zeros((n_prob, p))
    running = np.ones(n_prob, dtype=bool)
    ok = np.ones(n_prob, dtype=bool)
    dropped = np.zeros(n_prob, dtype=bool)
    prev_alpha = np.full(n_prob, np.inf)
    knot_rows: list[np.ndarray] = []
    coef_rows: list[np.ndarray] = []
    eye = np.eye(p)
    for step in range(max_iter + 1):
        idx = np.flatnonzero(running)
        if idx.size == 0:
            break
        # Top of a LARS step: lambda = max |correlation| of the inactive features / n.
        absc = np.where(active[idx], -1.0, np.abs(cov[idx]))
        j = absc.argmax(axis=1)
        level = np.maximum(absc[np.arange(idx.size), j], 0.0)
        alpha = level / n_rows[idx]
        knot = np.full(n_prob, np.nan)
        knot[idx] = alpha
        knot_rows.append(knot)
        coef_rows.append(beta.copy())
        stop = (alpha <= _LARS_ALPHA_TOL) | (alpha < alpha_stop) | active[idx].all(axis=1)
        if step >= max_iter:
            ok[idx[~stop]] = False
            stop[:] = True
        join = ~stop & ~dropped[idx]
        active[idx[join], j[join]] = True
        sign[idx[join], j[join]] = np.sign(cov[idx[join], j[join]])
        # lars_path ends a lasso path early (with a warning) when lambda grows.
        rising = ~stop & (alpha > prev_alpha[idx])
        ok[idx[rising]] = False
        stop |= rising
        running[idx[stop]] = False
        prev_alpha[idx] = alpha
        idx, level = idx[~stop], level[~stop]
        if idx.size == 0:
            break
        act, g = active[idx], gram[idx]
        # Equiangular direction: solve G_AA w = sign_A (inactive rows: identity, rhs 0).
        rhs = np.where(act, sign[idx], 0.0)
        w = np.linalg.solve(np.where(act[:, :, None] & act[:, None, :], g, eye),
                            rhs[..., None])[..., 0]
        degenerate = ~((w * rhs).sum(axis=1) > 0)
        a = np.einsum("fij,fj->fi", g, w)
        c = cov[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            g1 = (level[:, None] - c) / (1.0 - a)
            g2 = (level[:, None] + c) / (1.0 + a)
            z = np.where(act & (w != 0), -beta[idx] / w, np.inf)
        g1 = np.where(~act & (g1 > 0), g1, np.inf)
        g2 = np.where(~act & (g2 > 0), g2, np.inf)
        gamma = np.minimum(np.minimum(g1.min(axis=1), g2.min(axis=1)), level)
        z = np.where(z > 0, z, np.inf)
        d = z.argmin(axis=1)
        zmin = z[np.arange(idx.size), d]
        drop = zmin < gamma
        gamma = np.where(drop, zmin, gamma)
        beta[idx] += gamma[:, None] * w
        cov[idx] -= gamma[:, None] * a
        di, dd = idx[drop], d[drop]
        beta[di, dd] = 0.0
        active[di, dd] = False
        sign[di, dd] = 0.0
        cov[di, dd] = xy[di, dd] - np.einsum("fj,fj->f", gram[di, dd], beta[di])
        dropped[idx] = drop
        ok[idx[degenerate]] = False
        running[idx[degenerate]] = False
    knots = np.stack(knot_rows, axis=1)
    coefs = np.stack(coef_rows, axis=2)
    m = np.isfinite(knots).sum(axis=1)
    return [knots[f, :m[f]] for f in range(n_prob)], [coefs[f, :, :m[f]] for f in range(n_prob)], ok


#: Bytes of centred data :func:`lasso_paths_at` holds at once (a block of CV splits).
_BATCH_BYTES = 32 * 2**20


def lasso_paths_at(X: np.ndarray, y: np.ndarray, train_sets: Sequence[np.ndarray],
                   alphas: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """:func:`lasso_path_at` for many row subsets of one table (the CV splits).

    With ``p <= BATCH_MAX_FEATURES`` the Gram matrices of all subsets are formed
    in one batched product and the paths come from :func:`lars_lasso_knots`;
    subsets it cannot reproduce, or every subset for wider tables, go through
    :func:`lasso_path_at`.  Results equal ``[lasso_path_at(X[t], y[t], alphas)
    for t in train_sets]`` to round-off.

    Args:
        X: Features (n, p); y: targets (n,); train_sets: row indices per subset;
        alphas: lambdas (any order).

    Returns:
        One ``(coefs (p, len(alphas)), y_mean, x_mean (p,))`` per subset.
    """
    n, p = X.shape
    if p > BATCH_MAX_FEATURES or not train_sets:
        return [lasso_path_at(X[t], y[t], alphas) for t in train_sets]
    member = np.zeros((len(train_sets), n))
    for f, t in enumerate(train_sets):
        member[f, t] = 1.0
    counts = member.sum(axis=1)
    mx = member @ X / counts[:, None]
    my = member @ y / counts
    gram = np.empty((len(train_sets), p, p))
    xy = np.empty((len(train_sets), p))
    # the centred copies of X (splits x n x p) are made a block of splits at a time, so memory
    # stays near _BATCH_BYTES however many splits (20 x 10-fold at 10,000 patients: 365 MB at once)
    step = max(1, int(_BATCH_BYTES // max(1, n * p * 8)))
    for lo in range(0, len(train_sets), step):
        hi = min(lo + step, len(train_sets))
        xc = (X[None, :, :] - mx[lo:hi, None, :]) * member[lo:hi, :, None]
        yc = (y[None, :] - my[lo:hi, None]) * member[lo:hi]
        gram[lo:hi] = np.matmul(xc.transpose(0, 2, 1), xc)
        xy[lo:hi] = np.einsum("fnp,fn->fp", xc, yc)
    eig = np.linalg.eigvalsh(gram)
    well_posed = eig[:, 0] > _MIN_RELATIVE_EIGENVALUE * np.maximum(eig[:, -1], 1e-300)
    out: list[tuple[np.ndarray, float, np.ndarray]] = [None] * len(train_sets)  # type: ignore
    todo = np.flatnonzero(well_posed)
    if todo.size:
        knots, paths, ok = lars_lasso_knots(
            gram[todo], xy[todo], counts[todo], alpha_stop=float(np.min(alphas)),
            max_iter=max(500, 10 * p))
        for f, kn, pa, good in zip(todo, knots, paths, ok):
            if good:
                out[f] = (_read_path(kn, pa, alphas), float(my[f]), mx[f])
    for f, t in enumerate(train_sets):
        if out[f] is None:
            out[f] = lasso_path_at(X[t], y[t], alphas)
    return out


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
                coef_path, my, mx = lasso_path_at(values, target, alphas)
            else:
                # Every split's path and the whole fold's in one batch (last entry).
                paths = lasso_paths_at(values, target, [tr for tr, _ in splits]
                                       + [np.arange(values.shape[0])], alphas)
                mse = np.empty((alphas.size, len(splits)))
                for s, (_, va) in enumerate(splits):
                    coefs, my, mx = paths[s]
                    pred = (values[va] - mx) @ coefs + my
                    mse[:, s] = ((target[va][:, None] - pred) ** 2).mean(axis=0)
                coef_path, my, mx = paths[-1]
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
