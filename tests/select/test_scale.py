"""z-score from training statistics; constant features dropped, not hidden."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import NotFittedError
from alnm_ray.select import EmptySelectionError, ZScoreScaler


def test_training_statistics_applied_to_new_rows(rng):
    train = pd.DataFrame({"a": rng.normal(5, 2, 50), "b": rng.normal(-1, 0.5, 50)})
    test = pd.DataFrame({"a": [5.0, 9.0], "b": [-1.0, 0.0]}, index=["t1", "t2"])
    s = ZScoreScaler().fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(ddof=0), 1)
    out = s.transform(test)
    assert list(out.index) == ["t1", "t2"]
    assert out.loc["t2", "a"] == pytest.approx((9.0 - train.a.mean()) / train.a.std(ddof=0))


def test_constant_feature_dropped_and_listed(rng):
    X = pd.DataFrame({"a": rng.normal(size=20), "const": 3.0})
    s = ZScoreScaler().fit(X)
    assert s.constant_features_ == ["const"]
    assert list(s.transform(X).columns) == ["a"]
    assert "dropped 1 constant" in s.fallback_


def test_all_constant_raises_and_not_fitted():
    X = pd.DataFrame({"a": [1.0] * 5, "b": [2.0] * 5})
    with pytest.raises(EmptySelectionError, match="all 2 features are constant"):
        ZScoreScaler().fit(X)
    with pytest.raises(NotFittedError):
        ZScoreScaler().transform(X)


def test_non_finite_values_rejected():
    X = pd.DataFrame({"a": [1.0, np.nan, 2.0]})
    with pytest.raises(ValueError, match=r"column\(s\) 'a' hold NaN"):
        ZScoreScaler().fit(X)
