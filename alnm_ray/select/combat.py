"""ComBat harmonisation of centre (batch) effects, learned on the training rows only.

ComBat (Johnson, Li & Rabinovic 2007, *Biostatistics* 8:118) models each feature
as ``y = alpha + X beta + gamma_batch + delta_batch * eps``: an additive and a
multiplicative centre effect on top of the biological covariates ``X``.  The
centre effects of all features are shrunk towards common priors by empirical
Bayes (parametric: normal / inverse-gamma priors, solved iteratively;
non-parametric: a likelihood-weighted average over the other features) and
removed, keeping the covariate effects.  ``mean_only`` removes the additive
effect alone.

Why not ``neuroHarmonize``/``neuroCombat``: neuroHarmonize 2.5 pins
``numpy<2`` and ``pandas<3``; neuroCombat 0.2.12 prints to stdout, casts data
frames to float32, fails on NumPy 2 with a reference batch (``np.int``), and
its apply-to-new-rows function (``neuroCombatFromTraining``, "under
development") adds back the *average* training covariate effect instead of each
row's own, refuses any unseen centre and has no pass-through policy.  This
module follows neuroCombat's estimates step by step (same design, pooled
variance, priors, ``it_sol`` stopping rule, leave-one-feature-out
non-parametric prior); ``tests/select/test_combat.py`` checks the harmonised
training data against ``neuroCombat`` to 1e-6.

Leakage: ``fit`` learns the standardisation, covariate effects and
``gamma*``/``delta*`` from the rows it is given; ``transform`` applies those
learned values to any rows (test rows of the fold, new patients).  Batch labels
and covariates are *metadata*, never features, passed to ``fit`` and
``transform`` (``batch=``, ``covariates=``).  The estimator requests them by
default through scikit-learn's metadata routing, so an ``imblearn``/scikit-learn
``Pipeline`` forwards them under ``sklearn.config_context(enable_metadata_routing=True)``;
without routing, ``pipe.fit(X, y, combat__batch=centres)`` works for ``fit`` and
:func:`alnm_ray.select.routing.transform_with_metadata` for ``transform``.
Both may be a pandas object indexed by patient id (looked up by ``X``'s index,
so one cohort-wide Series serves every fold) or aligned with ``X``'s rows.

Centres unseen in training are handled by ``unseen``:

* ``"refuse"`` (default): raise :class:`UnseenBatchError`;
* ``"reference"``: adjust them with ``reference_batch``'s learned parameters;
* ``"none"``: leave their rows unharmonised.

Whatever happens is recorded in ``unseen_`` and announced with a
:class:`~alnm_ray.exceptions.FallbackWarning`.  A training set with one centre
(or no batch labels) has no centre effect to learn: the step is the identity,
recorded in ``fallback_``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from alnm_ray._validation import capped, look_up_option
from alnm_ray.exceptions import FallbackWarning, SchemaMismatchError, UnseenBatchError
from alnm_ray.select.base import as_frame, check_fitted
from alnm_ray.select.columns import KINDS, feature_kind

logger = logging.getLogger(__name__)

UNSEEN_POLICIES: tuple[str, ...] = ("refuse", "reference", "none")
#: Relative change at which the parametric EB iteration stops (sva / neuroCombat ``it_sol``).
IT_SOL_CONV = 1e-4
#: Safety cap on that iteration (it converges in ~10-50 steps in practice).
IT_SOL_MAX_ITER = 10_000
#: Rows of the leave-one-feature-out likelihood matrix computed at once (memory ~ chunk x p).
NONPARAM_CHUNK = 512


def _lookup(name: str, values: Any, X: pd.DataFrame, frame: bool) -> Any:
    """Rows of ``values`` for ``X``: by patient id when it is indexed like ``X``, else by position."""
    if isinstance(values, (pd.Series, pd.DataFrame)):
        idx = values.index.astype(str)
        want = pd.Index(X.index.astype(str))
        if idx.has_duplicates:
            raise SchemaMismatchError(
                f"combat: {name}: duplicate index labels; expected one entry per patient id. "
                "Pass one row per patient.")
        missing = want.difference(idx)
        if len(missing) == 0:
            out = values.copy()
            out.index = idx
            return out.loc[want]
        if len(values) != len(X):
            raise SchemaMismatchError(
                f"combat: {name}: no entry for {len(missing)} row(s) of X "
                f"({capped(sorted(map(str, missing)))}); expected an entry per patient id of X "
                "(or one per row, in X's order). Pass the centres of every patient.")
        values = values.to_numpy()
    arr = np.asarray(values, dtype=object if not frame else float)
    if arr.shape[0] != len(X):
        raise SchemaMismatchError(
            f"combat: {name}: expected {len(X)} entries (one per row of X); got {arr.shape[0]}. "
            "Pass the labels of the same rows, or a Series indexed by patient id.")
    return arr


def _covariate_matrix(names: tuple[str, ...], covariates: Any, X: pd.DataFrame) -> np.ndarray:
    if not names:
        return np.zeros((len(X), 0))
    if covariates is None:
        raise SchemaMismatchError(
            f"combat: covariates: expected the values of {list(names)} for every row; got None. "
            "Pass covariates=<DataFrame with those columns> to fit and transform, or set "
            "covariates=() on the step.")
    cov = covariates if isinstance(covariates, pd.DataFrame) else pd.DataFrame(
        np.asarray(covariates), columns=list(names))
    missing = [c for c in names if c not in cov.columns]
    if missing:
        raise SchemaMismatchError(
            f"combat: covariates: missing column(s) {capped(sorted(missing))}; expected "
            f"{list(names)}. Add them to the covariates table (clinical variables).")
    cov = cov[list(names)]
    bad = [c for c in names if not pd.api.types.is_numeric_dtype(cov[c])
           or pd.api.types.is_bool_dtype(cov[c])]
    if bad:
        raise SchemaMismatchError(
            f"combat: covariates {capped(sorted(bad))} are not numeric; expected numbers "
            "(continuous, or 0/1 for a two-level variable). Encode categories as 0/1 columns.")
    values = np.asarray(_lookup("covariates", cov, X, frame=True), dtype=float)
    if not np.isfinite(values).all():
        raise SchemaMismatchError(
            "combat: covariates hold NaN or infinite values; expected finite numbers for every "
            "row. Impute them before harmonisation or drop the covariate.")
    return values


def _postmean(g_hat: Any, g_bar: Any, n: Any, d_star: Any, t2: Any) -> Any:
    return (t2 * n * g_hat + d_star * g_bar) / (t2 * n + d_star)


def _postvar(sum2: Any, n: Any, a: Any, b: Any) -> Any:
    return (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)


def _priors(delta_hat: np.ndarray) -> tuple[float, float]:
    """Inverse-gamma hyperparameters (a, b) from the method of moments (sva ``aprior``/``bprior``)."""
    m, s2 = float(np.mean(delta_hat)), float(np.var(delta_hat, ddof=1))
    return (2 * s2 + m ** 2) / s2, (m * s2 + m ** 3) / s2


def _it_sol(s: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: float, t2: float,
            a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Parametric EB posterior (gamma*, delta*) of one batch; s has shape (n_b, p)."""
    n = s.shape[0]
    g_old, d_old = g_hat.copy(), d_hat.copy()
    for _ in range(IT_SOL_MAX_ITER):
        g_new = _postmean(g_hat, g_bar, n, d_old, t2)
        d_new = _postvar(((s - g_new) ** 2).sum(axis=0), n, a, b)
        # sva's rule, kept as is (signed ratio) so the estimates match neuroCombat's.
        change = max((np.abs(g_new - g_old) / g_old).max(), (np.abs(d_new - d_old) / d_old).max())
        g_old, d_old = g_new, d_new
        if not change > IT_SOL_CONV:
            break
    return g_new, d_new


def _int_eprior(s: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Non-parametric EB of one batch: each feature's (gamma, delta) averaged over the other
    features' estimates, weighted by the likelihood of its data under them (sva ``int.eprior``).

    Computed in log space (neuroCombat's direct product under/overflows for large batches).
    """
    n, p = s.shape
    s1, s2 = s.sum(axis=0), (s ** 2).sum(axis=0)
    log_norm = -0.5 * n * np.log(2 * np.pi * d_hat)
    g_star, d_star = np.empty(p), np.empty(p)
    for lo in range(0, p, NONPARAM_CHUNK):
        hi = min(lo + NONPARAM_CHUNK, p)
        # sum_k (x_ik - g_j)^2 for features i (rows) under feature j's (g_j, d_j) (columns).
        sum2 = s2[lo:hi, None] - 2 * s1[lo:hi, None] * g_hat[None, :] + n * g_hat[None, :] ** 2
        log_lh = log_norm[None, :] - sum2 / (2 * d_hat[None, :])
        log_lh[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # leave the feature itself out
        w = np.exp(log_lh - log_lh.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        g_star[lo:hi] = w @ g_hat
        d_star[lo:hi] = w @ d_hat
    return g_star, d_star


class ComBatHarmonizer(TransformerMixin, BaseEstimator):
    """Remove centre effects with ComBat learned on the training rows; apply them to new rows.

    Args:
        parametric: Parametric empirical Bayes (True, Johnson 2007) or non-parametric.
        mean_only: Adjust the additive centre effect only (no scaling).
        eb: Shrink the centre effects by empirical Bayes; False uses the raw
            per-centre estimates.
        covariates: Names of biological covariates to preserve (numeric columns
            of the ``covariates`` table given to fit/transform; never the label).
        kinds: Feature kinds harmonised ("radiomics", "deep", "clinical"); other
            columns pass through.  None harmonises every column.
        unseen: "refuse", "reference" or "none" for centres absent from training.
        reference_batch: The centre whose parameters unseen centres get
            (``unseen="reference"``).

    Attributes:
        batches_: Training centres (sorted, as str).
        n_per_batch_: Training rows per centre.
        harmonized_features_: Names of the harmonised columns.
        constant_features_: Harmonisable columns left unchanged (zero pooled variance).
        grand_mean_, var_pooled_: Per harmonised feature, shape (p,).
        beta_: Covariate effects, shape (n_covariates, p).
        gamma_star_, delta_star_: Centre effects, shape (n_batches, p).
        fallback_: Text of any fit-time fallback (one centre, too few features
            for EB), else None.
        unseen_: Dict centre -> rows of the last ``transform`` from centres
            unseen in training, with the policy applied.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame(rng.normal(size=(60, 4)), columns=list("abcd"))
        >>> centre = np.repeat(["A", "B"], 30); X[centre == "B"] += 3.0
        >>> out = ComBatHarmonizer().fit_transform(X, batch=centre)
        >>> bool(abs(out[centre == "A"].mean() - out[centre == "B"].mean()).max() < 0.5)
        True
    """

    __metadata_request__fit = {"batch": True, "covariates": True}
    __metadata_request__transform = {"batch": True, "covariates": True}
    _step_name = "combat"

    def __init__(self, parametric: bool = True, mean_only: bool = False, eb: bool = True,
                 covariates: Sequence[str] = (), kinds: Sequence[str] | None = None,
                 unseen: str = "refuse", reference_batch: str | None = None) -> None:
        self.parametric = parametric
        self.mean_only = mean_only
        self.eb = eb
        self.covariates = covariates
        self.kinds = kinds
        self.unseen = unseen
        self.reference_batch = reference_batch

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def _validate_params(self) -> None:
        look_up_option("combat: unseen", self.unseen, UNSEEN_POLICIES)
        for k in self.kinds or ():
            look_up_option("combat: kinds", k, KINDS)
        if self.unseen == "reference" and self.reference_batch is None:
            raise SchemaMismatchError(
                "combat: reference_batch: expected the centre whose parameters unseen centres "
                "get (unseen='reference'); got None. Name a training centre, or choose "
                "unseen='refuse' or 'none'.")

    # -- fit -----------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, batch: Any = None, covariates: Any = None
            ) -> "ComBatHarmonizer":
        """Learn the centre effects from the training rows.

        Args:
            X: Training features (n_rows, n_features); a DataFrame keeps names.
            y: Ignored (the label is never a covariate: it is unknown for new rows).
            batch: Centre per row: aligned with X, or a Series indexed by patient id.
            covariates: DataFrame with the columns named in ``covariates`` (same
                alignment rules), or None when there are none.

        Returns:
            self

        Raises:
            SchemaMismatchError: On non-finite features, misaligned labels, or a
                centre with a single training row (not ``mean_only``).
        """
        self._validate_params()
        df = as_frame(X, step=self._step_name, estimator=self, reset=True)
        names = [str(c) for c in df.columns]
        harm = np.array([self.kinds is None or feature_kind(c) in self.kinds for c in names])
        values = df.to_numpy(dtype=float)
        self.fallback_: str | None = None
        self.unseen_: dict[str, str] = {}
        labels = (np.full(len(df), "all", dtype=object) if batch is None
                  else _lookup("batch", batch, df, frame=False))
        labels = np.asarray([str(v) for v in labels], dtype=object)
        found, counts = np.unique(labels.astype(str), return_counts=True)
        self.batches_: list[str] = [str(b) for b in found]
        self.n_per_batch_ = {b: int(c) for b, c in zip(self.batches_, counts)}
        if self.unseen == "reference" and self.reference_batch is not None and \
                len(self.batches_) > 1 and str(self.reference_batch) not in self.batches_:
            raise SchemaMismatchError(
                f"combat: reference_batch: {self.reference_batch!r} is not a training centre; "
                f"expected one of {capped(self.batches_)}. Name a centre present in every "
                "training set, or choose unseen='refuse' or 'none'.")
        cov = _covariate_matrix(tuple(self.covariates), covariates, df)
        sd = values.std(axis=0)
        varying = sd > 1e-12 * np.maximum(np.abs(values.mean(axis=0)), 1.0)
        self.constant_features_ = [n for n, h, v in zip(names, harm, varying) if h and not v]
        self._cols = np.flatnonzero(harm & varying)
        self.harmonized_features_ = [names[i] for i in self._cols]
        p = self._cols.size
        self.grand_mean_, self.var_pooled_ = np.zeros(p), np.ones(p)
        self.beta_ = np.zeros((cov.shape[1], p))
        self.gamma_star_ = np.zeros((len(self.batches_), p))
        self.delta_star_ = np.ones((len(self.batches_), p))
        if len(self.batches_) < 2 or p == 0:
            self.fallback_ = ("combat: no batch labels given" if batch is None else
                              f"combat: the training rows come from {len(self.batches_)} centre(s)"
                              ) + "; no centre effect to learn, features left unchanged"
            if p == 0 and len(self.batches_) >= 2:
                self.fallback_ = "combat: no column to harmonise; features left unchanged"
            warnings.warn(self.fallback_, FallbackWarning, stacklevel=2)
            return self
        small = [b for b, c in self.n_per_batch_.items() if c < 2]
        if small and not self.mean_only:
            raise SchemaMismatchError(
                f"combat: centre(s) {capped(small)} have a single training row; expected at "
                "least 2 per centre to estimate its scale effect. Merge small centres, or set "
                "mean_only=True (additive effect only).")
        self._fit_combat(values[:, self._cols], labels, cov)
        logger.debug("combat: %d features harmonised over %d centres", p, len(self.batches_))
        return self

    def _fit_combat(self, Y: np.ndarray, labels: np.ndarray, cov: np.ndarray) -> None:
        n, p = Y.shape
        B = len(self.batches_)
        code = np.searchsorted(self.batches_, labels)
        design = np.hstack([np.eye(B)[code], cov])
        coef = np.linalg.solve(design.T @ design, design.T @ Y)
        counts = np.bincount(code, minlength=B)
        self.grand_mean_ = (counts / n) @ coef[:B]
        self.var_pooled_ = ((Y - design @ coef) ** 2).mean(axis=0)
        self.beta_ = coef[B:]
        s = (Y - self.grand_mean_ - cov @ self.beta_) / np.sqrt(self.var_pooled_)
        gamma_hat = np.stack([s[code == b].mean(axis=0) for b in range(B)])
        if self.mean_only:
            delta_hat = np.ones((B, p))
        else:
            delta_hat = np.stack([s[code == b].var(axis=0, ddof=1) for b in range(B)])
            delta_hat[delta_hat == 0] = 1.0
        use_eb = bool(self.eb)
        if use_eb and p < 3:
            use_eb = False
            self.fallback_ = (f"combat: {p} harmonised feature(s); empirical Bayes needs at least "
                              "3 to estimate its priors, raw per-centre estimates used")
            warnings.warn(self.fallback_, FallbackWarning, stacklevel=3)
        if not use_eb:
            self.gamma_star_, self.delta_star_ = gamma_hat, delta_hat
            return
        g_bar = gamma_hat.mean(axis=1)
        t2 = gamma_hat.var(axis=1, ddof=1)
        g_star, d_star = np.empty((B, p)), np.empty((B, p))
        for b in range(B):
            sb = s[code == b]
            if self.parametric:
                if self.mean_only:
                    g_star[b], d_star[b] = _postmean(gamma_hat[b], g_bar[b], 1, 1, t2[b]), 1.0
                else:
                    a_pr, b_pr = _priors(delta_hat[b])
                    g_star[b], d_star[b] = _it_sol(sb, gamma_hat[b], delta_hat[b], g_bar[b],
                                                   t2[b], a_pr, b_pr)
            else:
                g_star[b], d_star[b] = _int_eprior(sb, gamma_hat[b], delta_hat[b])
        self.gamma_star_, self.delta_star_ = g_star, d_star

    # -- transform -----------------------------------------------------------
    def transform(self, X: Any, *, batch: Any = None, covariates: Any = None) -> Any:
        """Harmonise rows with the parameters learned in fit.

        Args:
            X: Rows with the training columns.
            batch, covariates: As in :meth:`fit`, for these rows.

        Returns:
            Same type, shape, columns and index as ``X``.

        Raises:
            NotFittedError: Before fit.
            UnseenBatchError: A centre absent from training, policy "refuse".
        """
        check_fitted(self, "batches_")
        df = as_frame(X, step=self._step_name, estimator=self, reset=False)
        out = df.to_numpy(dtype=float).copy()
        self.unseen_ = {}
        if len(self.batches_) >= 2 and self._cols.size:
            if batch is None:
                raise SchemaMismatchError(
                    f"combat: batch: expected the centre of each of the {len(df)} rows; got None. "
                    "Pass batch=<centres> to transform (the step was fitted on "
                    f"{len(self.batches_)} centres).")
            labels = np.asarray([str(v) for v in _lookup("batch", batch, df, frame=False)])
            out[:, self._cols] = self._apply(out[:, self._cols], labels,
                                             _covariate_matrix(tuple(self.covariates),
                                                               covariates, df))
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(out, index=X.index, columns=X.columns)
        return out

    def _apply(self, Y: np.ndarray, labels: np.ndarray, cov: np.ndarray) -> np.ndarray:
        known = np.isin(labels, self.batches_)
        new = sorted(set(labels[~known].tolist()))
        keep = np.ones(len(labels), dtype=bool)
        code = np.searchsorted(self.batches_, labels)
        if new:
            if self.unseen == "refuse":
                raise UnseenBatchError(
                    f"combat: batch: centre(s) {capped(new)} were not in the training rows; "
                    f"expected one of {capped(self.batches_)}. Train with those centres, or set "
                    "unseen='reference' (with reference_batch) or unseen='none' "
                    "(SelectionConfig.combat_unseen).")
            if self.unseen == "reference":
                code[~known] = self.batches_.index(str(self.reference_batch))
                what = f"adjusted as reference centre {self.reference_batch!r}"
            else:
                keep = known
                what = "left unharmonised"
            self.unseen_ = {c: what for c in new}
            warnings.warn(f"combat: {int((~known).sum())} row(s) from centre(s) unseen in training "
                          f"{capped(new)} {what} (unseen={self.unseen!r})", FallbackWarning,
                          stacklevel=3)
        code = np.clip(code, 0, len(self.batches_) - 1)
        sd = np.sqrt(self.var_pooled_)
        mean = self.grand_mean_ + cov @ self.beta_
        s = (Y - mean) / sd
        adj = (s - self.gamma_star_[code]) / np.sqrt(self.delta_star_[code])
        return np.where(keep[:, None], adj * sd + mean, Y)

    def fit_transform(self, X: Any, y: Any = None, **params: Any) -> Any:
        """``fit`` then ``transform`` of the same rows with the same metadata."""
        return self.fit(X, y, **params).transform(X, **params)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output names (the input names; ComBat keeps every column)."""
        check_fitted(self, "batches_")
        return np.asarray(getattr(self, "feature_names_in_", None) if hasattr(
            self, "feature_names_in_") else [f"x{i}" for i in range(self.n_features_in_)],
            dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "batches_")
