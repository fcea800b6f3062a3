"""In-fold encoding of clinical variables: median imputation and one-hot categories.

Learned from the training fold only (medians, category levels), so it belongs
inside the fold like every other learned step.  Imputed and unseen values are
counted, not hidden.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, validate_data

from alnm_ray._validation import capped, check_range
from alnm_ray.exceptions import NotFittedError, SchemaMismatchError


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


class ClinicalEncoder(TransformerMixin, BaseEstimator):
    """Numeric columns: NaN -> training median.  Categorical: one-hot of training levels.

    A two-level variable becomes one 0/1 column (``"col=<second level>"``);
    more levels give one column per level.  Missing or unseen levels encode as
    all zeros.

    Args:
        max_categories: Most levels allowed per categorical column (more usually
            means an identifier slipped in).

    Attributes:
        medians_: Dict numeric column -> training median.
        categories_: Dict categorical column -> sorted training levels (as str).
        imputed_: Dict column -> number of training values imputed/missing.
        n_unseen_: Dict column -> unseen levels met by the last transform.
        fallback_: Summary of the imputation, or None.
        feature_names_out_: Output column names.

    Example:
        >>> X = pd.DataFrame({"age": [40.0, np.nan, 60.0], "grade": ["1", "3", "3"]})
        >>> ClinicalEncoder().fit_transform(X).to_dict("list")
        {'age': [40.0, 50.0, 60.0], 'grade=3': [0.0, 1.0, 1.0]}
    """

    _step_name = "encode"

    def __init__(self, max_categories: int = 20) -> None:
        self.max_categories = max_categories

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # Mixed-type clinical tables: strings are categories, NaN is imputed (and counted) in-fold;
        # the output is float columns whatever the input dtype.
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _table(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame, after scikit-learn's standard checks (and messages) for sparse,
        1-D, empty and complex input; arrays also get the feature-count check."""
        try:
            check_array(X, dtype=None, ensure_all_finite=False, input_name="X")
        except ValueError as err:
            raise SchemaMismatchError(
                f"{err} encode: X: expected a 2-D table of clinical variables (patients x "
                "variables, at least one row); pass the clinical DataFrame.") from err
        if reset or not isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
        return X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))

    def fit(self, X: Any, y: Any = None) -> "ClinicalEncoder":
        """Learn medians and levels from the training rows (a DataFrame)."""
        check_range("encode: max_categories", self.max_categories, 2)
        X = self._table(X, reset=True)
        self.medians_: dict[str, float] = {}
        self.categories_: dict[str, list[str]] = {}
        self.imputed_: dict[str, int] = {}
        self.n_unseen_: dict[str, int] = {}
        self.columns_ = [str(c) for c in X.columns]
        for col in X.columns:
            s = X[col]
            n_missing = int(s.isna().sum())
            if n_missing:
                self.imputed_[str(col)] = n_missing
            if _is_categorical(s):
                levels = sorted({str(v) for v in s.dropna()})
                if len(levels) > self.max_categories:
                    raise SchemaMismatchError(
                        f"encode: column {col!r} has {len(levels)} levels; expected at most "
                        f"{self.max_categories} for a categorical clinical variable. Drop "
                        "identifier columns or raise max_categories.")
                self.categories_[str(col)] = levels
            else:
                if n_missing == len(s):
                    raise SchemaMismatchError(
                        f"encode: column {col!r} is empty in the training rows; expected at "
                        "least one value to impute from. Drop the column.")
                self.medians_[str(col)] = float(np.nanmedian(s.to_numpy(dtype=float)))
        names: list[str] = []
        for col in self.columns_:
            if col in self.categories_:
                levels = self.categories_[col]
                names += [f"{col}={lv}" for lv in (levels[1:] if len(levels) == 2 else levels)]
            else:
                names.append(col)
        self.feature_names_out_ = names
        self.fallback_ = (f"encode: imputed/missing training values {self.imputed_}"
                          if self.imputed_ else None)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        """Encode rows with the training medians and levels.

        Raises:
            NotFittedError: Before fit.
            SchemaMismatchError: When a training column is missing.
        """
        if not hasattr(self, "feature_names_out_"):
            raise NotFittedError("ClinicalEncoder: not fitted yet; call fit(X_train) first.")
        X = self._table(X, reset=False).rename(columns=str)
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise SchemaMismatchError(
                f"encode: X lacks column(s) {capped(sorted(missing))}; expected the clinical "
                "columns seen in fit. Use the same clinical table layout.")
        out: dict[str, np.ndarray] = {}
        self.n_unseen_ = {}
        for col in self.columns_:
            s = X[col]
            if col in self.categories_:
                levels = self.categories_[col]
                raw = s.to_numpy(dtype=object)
                present = ~pd.isna(raw)
                text = np.where(present, raw.astype(str), "")
                unseen = int((present & ~np.isin(text, levels)).sum())
                if unseen:
                    self.n_unseen_[col] = unseen
                for lv in (levels[1:] if len(levels) == 2 else levels):
                    out[f"{col}={lv}"] = (present & (text == lv)).astype(float)
            else:
                out[col] = s.astype(float).fillna(self.medians_[col]).to_numpy()
        return pd.DataFrame(out, index=X.index, columns=self.feature_names_out_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names."""
        return np.asarray(self.feature_names_out_, dtype=object)


def needs_encoding(X: pd.DataFrame) -> bool:
    """True when ``X`` has a non-numeric (or bool) column or any missing value."""
    categorical = any(not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)
                      for dt in X.dtypes)
    return categorical or bool(X.isna().to_numpy().any())
