"""Shared machinery of the selection estimators.

Every selector keeps pandas column names and the patient index: ``transform``
of a DataFrame returns a DataFrame with the selected columns, in input order,
and the same index.  NumPy input gives NumPy output (columns named ``x0``...).

When a step removes *every* feature, the step's ``empty_policy`` decides:

* ``"best"`` (default): keep the ``empty_keep`` best features by the step's own
  score (smallest p-value, largest ICC, earliest LASSO entry ...);
* ``"passthrough"``: keep the step's whole input;
* ``"raise"``: raise :class:`EmptySelectionError`.

The policy applied is recorded in ``fallback_`` (``None`` when nothing special
happened) and announced with a :class:`~alnm_ray.exceptions.FallbackWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, validate_data

from alnm_ray._validation import capped, check_range, look_up_option
from alnm_ray.exceptions import EmptySelectionError, FallbackWarning, NotFittedError, SchemaMismatchError

EMPTY_POLICIES: tuple[str, ...] = ("best", "passthrough", "raise")


def _standard_checks(X: Any, step: str, estimator: Any, reset: bool) -> None:
    """scikit-learn's feature-name and feature-count checks (its standard messages), chained."""
    try:
        validate_data(estimator, X, reset=reset, skip_check_array=True)
    except ValueError as err:
        raise SchemaMismatchError(
            f"{err}\n{step}: X lacks or reorders the columns seen in fit; expected the same "
            "feature columns, in the same order, as the training data. Build X with the same "
            "feature set and extraction parameters.") from err


def as_frame(X: Any, *, step: str, estimator: Any = None, reset: bool = True) -> pd.DataFrame:
    """Return ``X`` as a DataFrame of finite floats, keeping names and index.

    Args:
        X: DataFrame or 2-D array-like (sparse matrices are refused).
        step: Step name used in messages.
        estimator: When given, scikit-learn's feature-name and ``n_features_in_``
            bookkeeping runs on it (set when ``reset``, checked otherwise), with
            scikit-learn's standard messages.
        reset: True in ``fit``, False in ``transform``.

    Raises:
        SchemaMismatchError: When a column is not numeric or holds NaN/inf
            (scikit-learn's "Input X contains NaN" message plus the columns), or
            the columns differ from fit's.
    """
    if isinstance(X, pd.DataFrame):
        if estimator is not None:
            _standard_checks(X, step, estimator, reset)
        df = X
    else:
        try:
            arr = check_array(X, dtype="numeric", ensure_all_finite=False, input_name="X")
        except ValueError as err:  # TypeErrors (sparse, objects) keep scikit-learn's type
            raise SchemaMismatchError(
                f"{step}: X: {err} Expected a 2-D dense table (patients x features); pass a "
                "DataFrame or a 2-D array.") from err
        if estimator is not None:
            _standard_checks(arr, step, estimator, reset)
        df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    bad = [c for c, dt in df.dtypes.items() if not pd.api.types.is_numeric_dtype(dt)
           or pd.api.types.is_bool_dtype(dt)]
    if bad:
        raise SchemaMismatchError(
            f"{step}: column(s) {capped(sorted(map(str, bad)))} are not numeric; the selection "
            "steps expect float features. Encode clinical variables first "
            "(alnm_ray.model.feature_sets.ClinicalEncoder does it inside each fold).")
    values = df.to_numpy(dtype=float)
    finite = np.isfinite(values)
    if not finite.all():
        cols = [str(c) for c, ok in zip(df.columns, finite.all(axis=0)) if not ok]
        what = "NaN" if np.isnan(values).any() else "infinity or a value too large for float64"
        raise SchemaMismatchError(
            f"Input X contains {what}. {step}: column(s) {capped(sorted(cols))} hold NaN or "
            "infinite values; expected finite floats. Impute or drop them before selection "
            "(ClinicalEncoder imputes in-fold and records how many values it filled).")
    return df


def check_fitted(estimator: Any, attribute: str) -> None:
    """Raise :class:`NotFittedError` (a scikit-learn ``NotFittedError``) before ``fit``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"{type(estimator).__name__}: this instance is not fitted yet; expected fit(X, y) on "
            "the training rows before transform(). Call fit first.")


def binary_target_tags(tags: Any) -> Any:
    """scikit-learn tags of a step that learns from the binary ALNM label: ``y`` is required
    and has two classes (``classifier_tags.multi_class=False``), so scikit-learn's estimator
    checks give it 0/1 targets instead of multiclass ones.

    Example:
        >>> from sklearn.base import BaseEstimator
        >>> tags = binary_target_tags(BaseEstimator().__sklearn_tags__())
        >>> tags.target_tags.required, tags.classifier_tags.multi_class
        (True, False)
    """
    from sklearn.utils import ClassifierTags

    tags.target_tags.required = True
    tags.classifier_tags = ClassifierTags(multi_class=False)
    return tags


def check_binary_y(y: Any, n_rows: int, *, step: str) -> np.ndarray:
    """Return ``y`` as an int array of 0/1 with ``n_rows`` entries.

    Raises:
        SchemaMismatchError: On a length mismatch or labels other than 0/1.
    """
    if y is None:
        raise SchemaMismatchError(
            f"{step} requires y to be passed, but the target y is None. {step}: y: expected the "
            "binary labels (0/1) of the training rows; got None. Pass y to fit().")
    arr = np.asarray(y).ravel()
    if arr.shape[0] != n_rows:
        raise SchemaMismatchError(
            f"{step}: y: expected {n_rows} labels (one per row of X); got {arr.shape[0]}.")
    values = set(pd.unique(arr).tolist())
    if not values <= {0, 1, True, False}:
        raise SchemaMismatchError(
            f"{step}: y: expected binary labels 0/1 (1 = ALNM positive); got values "
            f"{capped(sorted(map(str, values)))}. Map the labels to 0/1 first.")
    return arr.astype(int)


class BaseSelector(TransformerMixin, BaseEstimator):
    """Base class: subclasses implement :meth:`_select`.

    Subclasses must store ``empty_policy`` and ``empty_keep`` in ``__init__``
    (they are ordinary parameters) and implement
    ``_select(X: DataFrame, y: ndarray | None) -> (keep: bool array, scores: float array)``
    where a higher score means a better feature.
    """

    #: Name used in messages and fallback records.
    _step_name = "selector"
    #: What the score means, for the fallback message.
    _score_name = "score"
    _requires_y = True

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        return binary_target_tags(tags) if self._requires_y else tags

    def _validate_params(self) -> None:  # noqa: D401 - overridden by subclasses
        """Check constructor parameters (called at the start of fit)."""

    def fit(self, X: Any, y: Any = None) -> "BaseSelector":
        """Learn which features to keep from the training rows.

        Args:
            X: Training features, shape (n_patients, n_features); a DataFrame
                keeps names and the patient index.
            y: Binary labels (0/1), shape (n_patients,).

        Returns:
            self

        Raises:
            SchemaMismatchError: On non-numeric/non-finite features or bad labels.
            EmptySelectionError: When every feature is removed and the policy is "raise".
        """
        look_up_option(f"{self._step_name}: empty_policy", self.empty_policy, EMPTY_POLICIES)
        check_range(f"{self._step_name}: empty_keep", self.empty_keep, 1)
        self._validate_params()
        df = as_frame(X, step=self._step_name, estimator=self, reset=True)
        if df.shape[0] < 2:
            raise SchemaMismatchError(
                f"{self._step_name}: X: n_samples = {df.shape[0]}; expected at least 2 training "
                "rows to learn from. Check the training split.")
        if df.shape[1] == 0:
            raise EmptySelectionError(
                f"{self._step_name}: X has no feature columns; expected at least one. An "
                "earlier step removed everything or the feature set is empty; check the "
                "feature set name and the fallbacks recorded by earlier steps.")
        yy = check_binary_y(y, df.shape[0], step=self._step_name) if self._requires_y else (
            None if y is None else np.asarray(y))
        self._input_was_frame = isinstance(X, pd.DataFrame)
        # ``feature_names_in_`` is scikit-learn's (DataFrames with string names only);
        # arrays get x0, x1 ... here, for messages and selected_features_.
        self._feature_names = np.asarray([str(c) for c in df.columns], dtype=object)
        self.fallback_: str | None = None
        keep, scores = self._select(df, yy)
        self.scores_ = np.asarray(scores, dtype=float)
        self.support_ = self._apply_empty_policy(np.asarray(keep, dtype=bool), self.scores_)
        return self

    def _apply_empty_policy(self, keep: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if keep.any():
            return keep
        p = keep.size
        earlier = self.fallback_
        if self.empty_policy == "raise":
            raise EmptySelectionError(
                f"{self._step_name}: all {p} features were filtered out; expected at least one "
                "to remain. Loosen the step's threshold, or set empty_policy='best' (keep "
                "the best-scoring features) or 'passthrough' (keep the step's input).")
        if self.empty_policy == "passthrough":
            self.fallback_ = (f"{self._step_name}: all {p} features filtered out; policy "
                              "'passthrough' kept all of them")
            keep = np.ones(p, dtype=bool)
        else:
            k = min(int(self.empty_keep), p)
            order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:k]
            keep = np.zeros(p, dtype=bool)
            keep[order] = True
            names = [str(n) for n in self._feature_names[keep]]
            self.fallback_ = (f"{self._step_name}: all {p} features filtered out; policy "
                              f"'best' kept the {k} best by {self._score_name}: {capped(names, 3)}")
        warnings.warn(self.fallback_, FallbackWarning, stacklevel=3)
        if earlier:
            self.fallback_ = f"{earlier}; {self.fallback_}"
        return keep

    def _check_fitted(self) -> None:
        if not hasattr(self, "support_"):
            raise NotFittedError(
                f"{type(self).__name__}: this instance is not fitted yet; expected fit(X, y) "
                "on the training rows before transform(). Call fit first.")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "support_")

    @property
    def selected_features_(self) -> list[str]:
        """Names of the kept features, in input order."""
        self._check_fitted()
        return [str(n) for n in self._feature_names[self.support_]]

    def get_support(self, indices: bool = False) -> np.ndarray:
        """Boolean mask (or integer indices) of the kept input features."""
        self._check_fitted()
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns."""
        self._check_fitted()
        return self._feature_names[self.support_].copy()

    def transform(self, X: Any) -> Any:
        """Keep the selected columns of ``X``.

        Args:
            X: Rows to transform: the columns seen in fit, in the same order
                (scikit-learn's feature-name and width checks).

        Returns:
            The selected columns (DataFrame in, DataFrame out with the same index).

        Raises:
            NotFittedError: Before fit.
            SchemaMismatchError: When the columns differ from fit's, or hold NaN/inf.
        """
        self._check_fitted()
        df = as_frame(X, step=self._step_name, estimator=self, reset=False)
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, np.flatnonzero(self.support_)]
        return df.to_numpy(dtype=float)[:, self.support_]
