"""z-score with the training fold's mean and SD; constant features are dropped, not hidden.

scikit-learn's ``StandardScaler`` silently divides constant features by 1.
Here a feature whose training SD is zero carries no information for any later
step, so it is removed and listed in ``constant_features_`` instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alnm_ray.select.base import BaseSelector, EmptySelectionError

#: Relative SD below which a feature counts as constant (float round-off of a
#: truly constant column is ~1e-16 of its magnitude).
CONSTANT_RTOL = 1e-12


class ZScoreScaler(BaseSelector):
    """Standardise each feature to mean 0, SD 1 using training statistics (ddof = 0).

    Args:
        empty_policy, empty_keep: Kept for a uniform interface; an all-constant
            input always raises (nothing can be standardised).

    Attributes:
        mean_, scale_: Per kept feature, shape (n_kept,).
        constant_features_: Names dropped because their training SD is 0.

    Example:
        >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0]})
        >>> ZScoreScaler().fit_transform(X).round(3)["a"].tolist()
        [-1.225, 0.0, 1.225]
    """

    _step_name = "zscore"
    _score_name = "SD"
    _requires_y = False

    def __init__(self, empty_policy: str = "raise", empty_keep: int = 1) -> None:
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = X.to_numpy(dtype=float)
        mean = values.mean(axis=0)
        sd = values.std(axis=0)
        keep = sd > CONSTANT_RTOL * np.maximum(np.abs(mean), 1.0)
        if not keep.any():
            raise EmptySelectionError(
                f"zscore: all {values.shape[1]} features are constant in the training rows; "
                "expected at least one that varies. Check the extraction (masks, params) or "
                "the feature set.")
        self.constant_features_ = [str(c) for c, k in zip(X.columns, keep) if not k]
        if self.constant_features_:
            self.fallback_ = (f"zscore: dropped {len(self.constant_features_)} constant "
                              "feature(s)")
        self.mean_ = mean[keep]
        self.scale_ = sd[keep]
        return keep, sd

    def transform(self, X: Any) -> Any:
        """Select the non-constant columns and standardise them (see BaseSelector.transform)."""
        out = super().transform(X)
        if isinstance(out, pd.DataFrame):
            return (out - self.mean_) / self.scale_
        return (np.asarray(out, dtype=float) - self.mean_) / self.scale_

    def inverse_transform(self, X: Any) -> Any:
        """Undo the scaling (columns of the kept features only)."""
        self._check_fitted()
        return X * self.scale_ + self.mean_
