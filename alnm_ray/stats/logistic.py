"""Clinical logistic regression: univariate screen, multivariable fit, backward elimination.

The papers' Table 2 recipe as an estimator (Gu 2025; Zhang 2025):

1. **Univariate** logistic regression of the outcome on each candidate
   variable alone: odds ratio ``exp(b)``, Wald 95 % CI ``exp(b +- z SE)`` and
   Wald p (statsmodels ``Logit``, Newton-Raphson).
2. Candidates whose univariate p is below ``univariate_p`` **enter** the
   multivariable model (``univariate_p=None``: all enter).
3. Optional **stepwise backward elimination** (``selection="backward"``):
   refit, drop the term with the largest Wald p while that p >= ``stay_p``,
   repeat.  Ties go to the term listed last among the candidates, so the path
   is deterministic.  Every step is recorded in ``steps_``.
4. The **final multivariable** fit on the kept terms gives the model.

Categorical variables are dummy-coded against a reference level (the one
given in ``categorical={"col": reference}``, else the first category of a
pandas ``Categorical``, else the smallest level in sorted order -- R's factor
default).  A categorical variable is one **group**: it enters, stays or
leaves with all its dummies, judged by the joint Wald chi-square p of its
dummies (for a two-level variable that is its dummy's Wald p).  Per-dummy
odds ratios and p-values are reported in the table.

Failure modes are loud: a candidate whose univariate fit separates raises a
:class:`LogisticFitError` (or, with ``on_separation="exclude"``, is left out
and recorded in ``excluded_`` with a :class:`FallbackWarning`); when no
candidate passes the screen (or elimination would remove every term)
``empty_policy="best"`` keeps the single term with the smallest p and records
it in ``fallback_``, ``"raise"`` raises.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator, ClassifierMixin

from alnm_ray._validation import capped, check_range, look_up_option
from alnm_ray.csvsafe import neutralize_frame
from alnm_ray.exceptions import FallbackWarning, NotFittedError, SchemaMismatchError
from alnm_ray.stats._logit import LogisticFitError, fit_logit, wald_group_p

__all__ = ["DEFAULT_P_THRESHOLD", "ODDS_RATIO_COLUMNS", "SELECTIONS", "ClinicalLogisticModel",
           "LogisticFitError", "Term"]

#: The papers' significance level for entering and staying in the model
#: (Gu 2025 and Zhang 2025: "P < .05").
DEFAULT_P_THRESHOLD = 0.05
#: Selection methods after the univariate screen.
SELECTIONS: tuple[str, ...] = ("none", "backward")
#: What to do when a candidate's univariate fit separates.
SEPARATION_POLICIES: tuple[str, ...] = ("raise", "exclude")
#: What to do when no term would be left.
EMPTY_POLICIES: tuple[str, ...] = ("best", "raise")
#: Decision threshold of :meth:`ClinicalLogisticModel.predict` (probability).
PREDICT_THRESHOLD = 0.5

_STEP_COLS = ("beta", "se", "z", "p", "or", "or_low", "or_high", "group_p")
#: Columns of :attr:`ClinicalLogisticModel.odds_ratio_table_`, in order.
ODDS_RATIO_COLUMNS: tuple[str, ...] = (
    ("variable", "level", "reference", "is_reference")
    + tuple(f"uni_{c}" for c in _STEP_COLS) + ("entered",)
    + tuple(f"multi_{c}" for c in _STEP_COLS) + ("kept",)
)


@dataclass(frozen=True)
class Term:
    """One candidate variable as the model codes it.

    Attributes:
        name: The column name in ``X``.
        kind: ``"continuous"`` or ``"categorical"``.
        levels: Categorical levels, reference first; ``()`` when continuous.
        columns: Design-matrix columns: ``(name,)`` or ``("name[level]", ...)``
            for the non-reference levels.
        low, high: Training range (continuous; NaN when categorical).
    """

    name: str
    kind: str
    levels: tuple[Any, ...]
    columns: tuple[str, ...]
    low: float = math.nan
    high: float = math.nan

    @property
    def reference(self) -> Any:
        """The reference level (``None`` for a continuous term)."""
        return self.levels[0] if self.levels else None

    def design(self, values: pd.Series) -> pd.DataFrame:
        """Design columns for ``values`` (a column of ``X``)."""
        if self.kind == "continuous":
            return pd.DataFrame({self.name: values.to_numpy(dtype=float)}, index=values.index)
        return pd.DataFrame({c: (values == lev).to_numpy(dtype=float)
                             for c, lev in zip(self.columns, self.levels[1:])}, index=values.index)


def _sorted_levels(values: pd.Series) -> list[Any]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().tolist())
        return [c for c in values.cat.categories.tolist() if c in present]
    levels = pd.unique(values.dropna()).tolist()
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def _wald(beta: float, se: float, z_crit: float) -> dict[str, float]:
    z = beta / se
    return {"beta": beta, "se": se, "z": z, "p": float(2.0 * norm.sf(abs(z))),
            "or": math.exp(beta), "or_low": math.exp(beta - z_crit * se),
            "or_high": math.exp(beta + z_crit * se)}


class ClinicalLogisticModel(ClassifierMixin, BaseEstimator):
    """Univariate -> multivariable logistic regression with optional backward elimination.

    Args:
        univariate_p: Candidates with univariate p below this enter the
            multivariable model; ``None`` lets every candidate enter.
        selection: ``"none"`` (fit all entered terms) or ``"backward"``
            (stepwise backward elimination by Wald p).
        stay_p: Backward elimination drops terms while their p >= ``stay_p``.
        categorical: Column names to dummy-code, or ``{column: reference}``;
            non-numeric, boolean and ``Categorical`` columns are always categorical.
        level: Confidence level of the odds-ratio intervals.
        on_separation: ``"raise"`` or ``"exclude"`` (leave a separating
            candidate out of the univariate screen, recorded in ``excluded_``).
        empty_policy: ``"best"`` (keep the single term with the smallest p,
            recorded in ``fallback_``) or ``"raise"`` when no term would remain.

    Attributes:
        terms_: Every candidate :class:`Term` (in ``X``'s column order).
        entered_: Names of the terms that passed the univariate screen.
        kept_: Names of the terms in the final model.
        steps_: Backward-elimination record, one dict per refit
            (``step``, ``removed``, ``p``), empty without elimination.
        excluded_: ``{name: reason}`` for candidates left out by ``on_separation``.
        fallback_: What ``empty_policy`` did, or ``None``.
        intercept_: Intercept of the final model.
        coef_: Final coefficients, a Series indexed by design column.
        result_: The final statsmodels ``LogitResults``.
        odds_ratio_table_: The Table-2 DataFrame (:data:`ODDS_RATIO_COLUMNS`).
        feature_names_in_: The candidate column names.

    Example:
        >>> rng = np.random.default_rng(0); n = 300
        >>> X = pd.DataFrame({"size": rng.normal(2, 1, n), "noise": rng.normal(size=n),
        ...                   "her2": rng.choice(["neg", "pos"], n)})
        >>> lp = -2 + 1.0 * X["size"] + 1.2 * (X["her2"] == "pos")
        >>> y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
        >>> m = ClinicalLogisticModel(selection="backward").fit(X, y)
        >>> m.kept_
        ['size', 'her2']
        >>> m.predict_proba(X).shape
        (300, 2)
    """

    fallback_: str | None

    def __init__(self, univariate_p: float | None = DEFAULT_P_THRESHOLD, selection: str = "none",
                 stay_p: float = DEFAULT_P_THRESHOLD,
                 categorical: Any = None, level: float = 0.95, on_separation: str = "raise",
                 empty_policy: str = "best") -> None:
        self.univariate_p = univariate_p
        self.selection = selection
        self.stay_p = stay_p
        self.categorical = categorical
        self.level = level
        self.on_separation = on_separation
        self.empty_policy = empty_policy

    # -- input ---------------------------------------------------------------------------
    def _check_frame(self, X: Any, y: Any = None) -> tuple[pd.DataFrame, np.ndarray | None]:
        if not isinstance(X, pd.DataFrame):
            raise SchemaMismatchError(
                f"clinical logistic model: X: expected a pandas DataFrame with named columns; got "
                f"{type(X).__name__}. Wrap the table in pd.DataFrame(..., columns=[...]).")
        if X.shape[1] == 0 or X.shape[0] == 0:
            raise SchemaMismatchError(
                f"clinical logistic model: X: expected at least one row and one candidate column; "
                f"got shape {X.shape}. Pass the training table with its clinical columns.")
        missing = [str(c) for c in X.columns if X[c].isna().any()]
        if missing:
            raise SchemaMismatchError(
                f"clinical logistic model: column(s) {capped(sorted(missing))}: expected a value "
                "for every patient; found missing values. Impute or drop those rows first; rows "
                "are never dropped silently.")
        if y is None:
            return X, None
        arr = np.asarray(y).ravel()
        if arr.shape[0] != X.shape[0]:
            raise SchemaMismatchError(
                f"clinical logistic model: y: expected {X.shape[0]} labels (one per row of X); got "
                f"{arr.shape[0]}. Pass the labels of the same rows.")
        bad = sorted({str(v) for v in pd.unique(arr).tolist()} - {"0", "1", "True", "False",
                                                                   "0.0", "1.0"})
        if bad or np.unique(arr).size < 2:
            raise SchemaMismatchError(
                f"clinical logistic model: y: expected 0/1 labels with both classes present; got "
                f"values {capped(sorted({str(v) for v in pd.unique(arr).tolist()}))}. Map the "
                "labels to 0/1 (1 = ALNM) on a set with events and non-events.")
        return X, arr.astype(int)

    def _build_terms(self, X: pd.DataFrame) -> list[Term]:
        cats = self.categorical or {}
        refs = dict(cats) if isinstance(cats, dict) else {c: None for c in cats}
        unknown = sorted(str(c) for c in refs if c not in X.columns)
        if unknown:
            raise SchemaMismatchError(
                f"clinical logistic model: categorical: expected columns of X; got unknown "
                f"{capped(unknown)} (X has {capped(sorted(map(str, X.columns)))}). Fix the names.")
        terms = []
        for col in X.columns:
            s = X[col]
            numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            if col not in refs and numeric:
                values = s.to_numpy(dtype=float)
                if not np.isfinite(values).all():
                    raise SchemaMismatchError(
                        f"clinical logistic model: column {col!r}: expected finite numbers; found "
                        "infinite values. Fix or drop those rows.")
                terms.append(Term(str(col), "continuous", (), (str(col),),
                                  float(values.min()), float(values.max())))
                continue
            levels = _sorted_levels(s)
            ref = refs.get(col)
            if ref is not None:
                if ref not in levels:
                    raise SchemaMismatchError(
                        f"clinical logistic model: categorical[{col!r}]: expected a reference level "
                        f"among {capped(levels)}; got {ref!r}. Pick one of the observed levels.")
                levels = [ref] + [lev for lev in levels if lev != ref]
            if len(levels) < 2:
                raise SchemaMismatchError(
                    f"clinical logistic model: column {col!r}: expected at least 2 levels; found "
                    f"only {capped(levels)}. Drop the constant column.")
            terms.append(Term(str(col), "categorical", tuple(levels),
                              tuple(f"{col}[{lev}]" for lev in levels[1:])))
        return terms

    def _design(self, X: pd.DataFrame, terms: list[Term]) -> pd.DataFrame:
        parts = [t.design(X[t.name]) for t in terms]
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=X.index)

    # -- fitting -------------------------------------------------------------------------
    def _fallback(self, what: str, scores: dict[str, float]) -> list[str]:
        if self.empty_policy == "raise" or not scores:
            raise LogisticFitError(
                f"clinical logistic model: expected at least one term in the multivariable "
                f"model; {what}. Raise univariate_p/stay_p (or pass univariate_p=None), or set "
                "empty_policy='best' to keep the term with the smallest p.")
        best = min(scores, key=lambda k: (scores[k], list(scores).index(k)))
        self.fallback_ = (f"{what}; empty_policy 'best' kept {best!r} "
                          f"(p = {scores[best]:.4g})")
        warnings.warn(self.fallback_, FallbackWarning, stacklevel=4)
        return [best]

    def fit(self, X: Any, y: Any) -> ClinicalLogisticModel:
        """Screen, select and fit on the training rows.

        Args:
            X: Training table, one row per patient, one column per candidate.
            y: 0/1 outcomes (1 = ALNM), shape ``(n,)``.

        Returns:
            self

        Raises:
            SchemaMismatchError: Bad table or labels.
            LogisticFitError: Separation / non-convergence, or no term left with
                ``empty_policy="raise"``.
            ConfigError: Bad parameters.
        """
        look_up_option("clinical logistic model: selection", self.selection, SELECTIONS)
        look_up_option("clinical logistic model: on_separation", self.on_separation,
                       SEPARATION_POLICIES)
        look_up_option("clinical logistic model: empty_policy", self.empty_policy, EMPTY_POLICIES)
        check_range("clinical logistic model: stay_p", self.stay_p, 0.0, 1.0)
        check_range("clinical logistic model: level", self.level, 0.0, 1.0, inclusive=False)
        if self.univariate_p is not None:
            check_range("clinical logistic model: univariate_p", self.univariate_p, 0.0, 1.0)
        df, yy = self._check_frame(X, y)
        assert yy is not None
        z_crit = float(norm.ppf(0.5 + self.level / 2.0))
        terms = self._build_terms(df)
        self.feature_names_in_ = np.asarray([t.name for t in terms], dtype=object)
        self.n_features_in_ = len(terms)
        self.classes_ = np.array([0, 1])
        self.excluded_: dict[str, str] = {}
        self.fallback_ = None
        uni: dict[str, dict[str, float]] = {}
        uni_group: dict[str, float] = {}
        for t in terms:
            try:
                res = fit_logit(t.design(df[t.name]), yy, context=f"univariate: {t.name}")
            except LogisticFitError as err:
                if self.on_separation == "raise":
                    raise
                self.excluded_[t.name] = str(err)
                warnings.warn(f"clinical logistic model: {t.name!r} left out of the candidates: "
                              f"{err}", FallbackWarning, stacklevel=2)
                continue
            for c in t.columns:
                uni[c] = _wald(float(res.params[c]), float(res.bse[c]), z_crit)
            uni_group[t.name] = wald_group_p(res, t.columns)
        usable = [t for t in terms if t.name in uni_group]
        if self.univariate_p is None:
            entered = [t.name for t in usable]
        else:
            entered = [t.name for t in usable if uni_group[t.name] < self.univariate_p]
        if not entered:
            entered = self._fallback(
                f"found no candidate with univariate p < {self.univariate_p}",
                {t.name: uni_group[t.name] for t in usable})
        self.entered_ = entered
        by_name = {t.name: t for t in terms}
        kept = list(entered)
        self.steps_: list[dict[str, Any]] = []
        res = fit_logit(self._design(df, [by_name[k] for k in kept]), yy,
                        context=f"multivariable: {capped(kept)}")
        while self.selection == "backward":
            ps = {k: wald_group_p(res, by_name[k].columns) for k in kept}
            worst = max(reversed(kept), key=lambda k: ps[k])  # ties: last listed
            if ps[worst] < self.stay_p:
                break
            self.steps_.append({"step": len(self.steps_) + 1, "removed": worst, "p": ps[worst]})
            if len(kept) == 1:
                kept = self._fallback(
                    f"backward elimination removed every term (last: {worst!r}, "
                    f"p = {ps[worst]:.4g} >= stay_p = {self.stay_p})", ps)
                self.steps_.pop()
                break
            kept.remove(worst)
            res = fit_logit(self._design(df, [by_name[k] for k in kept]), yy,
                            context=f"multivariable: {capped(kept)}")
        self.kept_ = kept
        self.terms_ = terms
        self.result_ = res
        self.intercept_ = float(res.params["const"])
        self.coef_ = res.params.drop("const").astype(float)
        self.odds_ratio_table_ = self._table(terms, uni, uni_group, entered, kept, res, z_crit)
        return self

    def _table(self, terms: list[Term], uni: dict[str, dict[str, float]],
               uni_group: dict[str, float], entered: list[str], kept: list[str], res: Any,
               z_crit: float) -> pd.DataFrame:
        nan_step = dict.fromkeys(_STEP_COLS, math.nan)
        rows = []
        for t in terms:
            multi_group = wald_group_p(res, t.columns) if t.name in kept else math.nan
            base = {"variable": t.name, "entered": t.name in entered, "kept": t.name in kept}
            if t.kind == "categorical":
                rows.append({**base, "level": str(t.levels[0]), "reference": str(t.levels[0]),
                             "is_reference": True,
                             **{f"uni_{k}": v for k, v in nan_step.items()},
                             **{f"multi_{k}": v for k, v in nan_step.items()},
                             "uni_or": 1.0 if t.name in uni_group else math.nan,
                             "multi_or": 1.0 if t.name in kept else math.nan,
                             "uni_group_p": uni_group.get(t.name, math.nan),
                             "multi_group_p": multi_group})
            for c, lev in zip(t.columns, t.levels[1:] if t.levels else ("",)):
                u = uni.get(c, {k: math.nan for k in _STEP_COLS})
                m = (_wald(float(res.params[c]), float(res.bse[c]), z_crit) if t.name in kept
                     else {k: math.nan for k in _STEP_COLS})
                rows.append({**base, "level": str(lev), "reference": "" if t.kind ==
                             "continuous" else str(t.levels[0]), "is_reference": False,
                             **{f"uni_{k}": v for k, v in u.items()},
                             **{f"multi_{k}": v for k, v in m.items()},
                             "uni_group_p": uni_group.get(t.name, math.nan),
                             "multi_group_p": multi_group})
        return pd.DataFrame(rows, columns=list(ODDS_RATIO_COLUMNS))

    # -- prediction ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "result_"):
            raise NotFittedError(
                f"{type(self).__name__}: this instance is not fitted yet; expected fit(X, y) on "
                "the training rows first. Call fit before predicting or exporting.")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "result_")

    @property
    def kept_terms_(self) -> list[Term]:
        """The final model's :class:`Term` objects, in model order."""
        self._check_fitted()
        by_name = {t.name: t for t in self.terms_}
        return [by_name[k] for k in self.kept_]

    def design_matrix(self, X: Any) -> pd.DataFrame:
        """The final model's design columns for ``X`` (no intercept).

        Raises:
            SchemaMismatchError: Missing columns, missing values or unseen levels.
        """
        self._check_fitted()
        df, _ = self._check_frame(X)
        terms = self.kept_terms_
        absent = sorted(t.name for t in terms if t.name not in df.columns)
        if absent:
            raise SchemaMismatchError(
                f"clinical logistic model: X: expected the model's columns {capped(self.kept_)}; "
                f"missing {capped(absent)}. Pass a table with the training columns.")
        for t in terms:
            if t.kind == "categorical":
                unseen = sorted({str(v) for v in df[t.name].tolist()} - {str(v) for v in t.levels})
                if unseen:
                    raise SchemaMismatchError(
                        f"clinical logistic model: column {t.name!r}: expected levels seen in "
                        f"training {capped(sorted(map(str, t.levels)))}; found {capped(unseen)}. "
                        "Recode to the training levels.")
        return self._design(df, terms)[list(self.coef_.index)]

    def decision_function(self, X: Any) -> np.ndarray:
        """Linear predictor ``b0 + x'b`` (log-odds of ALNM), shape ``(n,)``."""
        design = self.design_matrix(X)
        return self.intercept_ + design.to_numpy(dtype=float) @ self.coef_.to_numpy(dtype=float)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``[P(y=0), P(y=1)]``, shape ``(n, 2)``."""
        p1 = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X: Any) -> np.ndarray:
        """0/1 calls at ``P(y=1) >= 0.5`` (:data:`PREDICT_THRESHOLD`)."""
        return (self.predict_proba(X)[:, 1] >= PREDICT_THRESHOLD).astype(int)

    # -- reporting -----------------------------------------------------------------------
    def formula(self, digits: int = 4) -> str:
        """The fitted model as text, like the papers' supplementary formulas.

        Example:
            >>> rng = np.random.default_rng(2); x = rng.normal(size=200)
            >>> y = (rng.uniform(size=200) < 1 / (1 + np.exp(-x))).astype(int)
            >>> m = ClinicalLogisticModel().fit(pd.DataFrame({"x": x}), y)
            >>> m.formula(2).startswith("logit(P) = ")
            True
        """
        self._check_fitted()
        parts = [f"{self.intercept_:.{digits}f}"]
        for name, b in self.coef_.items():
            parts.append(f"{'-' if b < 0 else '+'} {abs(b):.{digits}f} × {name}")
        return "logit(P) = " + " ".join(parts)

    def to_csv(self, path: str | Path) -> Path:
        """Write :attr:`odds_ratio_table_` as CSV (formula-like text neutralised).

        Returns:
            The written path.
        """
        self._check_fitted()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        neutralize_frame(self.odds_ratio_table_).to_csv(out, index=False)
        return out
