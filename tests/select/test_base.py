"""Contract shared by every selection estimator: sklearn-clonable, NotFittedError before
fit, DataFrame in -> DataFrame out with the patient index, arrays in -> arrays out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from alnm_ray.exceptions import NotFittedError, SchemaMismatchError
from alnm_ray.select import (
    CorrelationFilter,
    ImportanceSelector,
    LassoCVSelector,
    MRMRSelector,
    MutualInfoSelector,
    UnivariateFilter,
    ZScoreScaler,
)

ESTIMATORS = [
    UnivariateFilter(), CorrelationFilter(0.9, seed=1), MRMRSelector(k=3),
    MutualInfoSelector(k=3), ImportanceSelector(k=3, n_estimators=20),
    LassoCVSelector(n_repeats=1, n_folds=3), ZScoreScaler(),
]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_contract(est, binary_frame):
    X, y = binary_frame(n=60, p=6, signal=1.5)
    with pytest.raises(NotFittedError, match="not fitted"):
        est.transform(X)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    out = twin.fit(X, y).transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.index) == list(X.index)
    assert list(out.columns) == list(twin.get_feature_names_out())
    assert 1 <= out.shape[1] <= 6
    arr = clone(est).fit(X.to_numpy(), y).transform(X.to_numpy())
    assert isinstance(arr, np.ndarray) and arr.shape == out.shape
    with pytest.raises(SchemaMismatchError, match="lacks"):
        twin.transform(X.drop(columns=list(out.columns)[:1]))
