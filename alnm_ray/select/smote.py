"""SMOTE that cannot fail on a small fold, with the fallback recorded.

``imblearn``'s SMOTE needs ``k_neighbors < n_minority``.  In a small training
fold the minority class may have ``<= k`` rows; :class:`SafeSMOTE` then applies
a documented fallback instead of crashing:

* ``"reduce_k"`` (default): use ``k = n_minority - 1`` (skip when that is 0);
* ``"skip"``: return the data unchanged.

Either way ``fallback_`` says what happened and a
:class:`~alnm_ray.exceptions.FallbackWarning` is emitted.  The step is a
sampler (it has ``fit_resample`` and no ``transform``), so an
``imblearn.pipeline.Pipeline`` applies it during ``fit`` only -- never to
validation or test rows.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from sklearn.base import BaseEstimator

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.exceptions import FallbackWarning, SchemaMismatchError
from alnm_ray.select.base import as_frame, binary_target_tags, check_binary_y

SMOTE_FALLBACKS: tuple[str, ...] = ("reduce_k", "skip")
#: Index label prefix of synthetic rows (``"smote:0"``, ``"smote:1"``, ...).
SYNTHETIC_PREFIX = "smote:"


class SafeSMOTE(BaseEstimator):
    """Oversample the minority class to parity with SMOTE, inside a fold only.

    Args:
        k_neighbors: Neighbours used to interpolate (5 in Guo 2024).
        fallback: "reduce_k" or "skip" when the minority class has <= k rows.
        seed: Random seed of the interpolation.

    Attributes:
        k_used_: The k actually used (0 when SMOTE was skipped).
        n_minority_: Minority rows in the training data.
        n_original_: Rows before resampling (the first rows of the output).
        n_synthetic_: Rows added.
        fallback_: Text of the fallback applied, else None.

    Example:
        >>> X = np.arange(40.0).reshape(20, 2); y = np.r_[np.zeros(14), np.ones(6)]
        >>> Xr, yr = SafeSMOTE(k_neighbors=5, seed=0).fit_resample(X, y)
        >>> int(yr.sum()), len(yr)
        (14, 28)
    """

    _step_name = "smote"

    def __init__(self, k_neighbors: int = 5, fallback: str = "reduce_k", seed: int = 0) -> None:
        self.k_neighbors = k_neighbors
        self.fallback = fallback
        self.seed = seed

    def __sklearn_tags__(self) -> Any:
        return binary_target_tags(super().__sklearn_tags__())

    def fit(self, X: Any, y: Any) -> "SafeSMOTE":
        """Resample and discard the result (for API symmetry); returns self."""
        self.fit_resample(X, y)
        return self

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        """Return the training rows followed by synthetic minority rows.

        Args:
            X: Training features (n_rows, n_features); a DataFrame keeps its
                columns, original rows keep their index labels and synthetic
                rows are labelled ``"smote:<i>"``.
            y: Binary labels (0/1).

        Returns:
            ``(X_resampled, y_resampled)``; the first ``n_original_`` rows are
            the input rows in input order.

        Raises:
            SchemaMismatchError: When y holds a single class or is not binary.
        """
        check_range("smote: k_neighbors", self.k_neighbors, 1)
        look_up_option("smote: fallback", self.fallback, SMOTE_FALLBACKS)
        df = as_frame(X, step=self._step_name, estimator=self, reset=True)
        yy = check_binary_y(y, df.shape[0], step=self._step_name)
        counts = np.bincount(yy, minlength=2)
        if counts.min() == 0:
            raise SchemaMismatchError(
                f"smote: y: expected both classes in the training rows; got 1 class only (class "
                f"{int(np.argmax(counts))}, {counts.max()} rows). Use stratified splits.")
        self.n_original_ = df.shape[0]
        self.n_minority_ = int(counts.min())
        self.fallback_: str | None = None
        k = int(self.k_neighbors)
        if counts[0] == counts[1]:
            self.k_used_ = 0
            self.n_synthetic_ = 0
            return X, yy
        if self.n_minority_ <= k:
            if self.fallback == "reduce_k" and self.n_minority_ >= 2:
                k = self.n_minority_ - 1
                self.fallback_ = (f"smote: minority class has {self.n_minority_} rows <= "
                                  f"k_neighbors={self.k_neighbors}; k reduced to {k}")
            else:
                self.fallback_ = (f"smote: minority class has {self.n_minority_} rows <= "
                                  f"k_neighbors={self.k_neighbors}; SMOTE skipped "
                                  f"(fallback={self.fallback!r})")
                k = 0
            warnings.warn(self.fallback_, FallbackWarning, stacklevel=2)
        self.k_used_ = k
        if k == 0:
            self.n_synthetic_ = 0
            return X, yy
        values = df.to_numpy(dtype=float)
        Xr, yr = SMOTE(k_neighbors=k, random_state=self.seed).fit_resample(values, yy)
        self.n_synthetic_ = Xr.shape[0] - self.n_original_
        if not isinstance(X, pd.DataFrame):
            return Xr, np.asarray(yr)
        index = list(df.index) + [f"{SYNTHETIC_PREFIX}{i}" for i in range(self.n_synthetic_)]
        out = pd.DataFrame(Xr, columns=df.columns, index=pd.Index(index, name=df.index.name))
        return out, np.asarray(yr)
