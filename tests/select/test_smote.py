"""SafeSMOTE: balancing, recorded fallbacks on small folds, never applied at predict time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import FallbackWarning, SchemaMismatchError
from alnm_ray.select import SYNTHETIC_PREFIX, SafeSMOTE


def _data(rng, n_major, n_minor, p=3):
    X = pd.DataFrame(rng.normal(size=(n_major + n_minor, p)), columns=list("abc")[:p],
                     index=[f"P{i}" for i in range(n_major + n_minor)])
    y = np.r_[np.zeros(n_major), np.ones(n_minor)].astype(int)
    return X, y


def test_balances_and_keeps_originals_first(rng):
    X, y = _data(rng, 30, 12)
    s = SafeSMOTE(k_neighbors=5, seed=1)
    Xr, yr = s.fit_resample(X, y)
    assert np.bincount(yr).tolist() == [30, 30]
    pd.testing.assert_frame_equal(Xr.iloc[:42], X)
    assert list(Xr.index[42:]) == [f"{SYNTHETIC_PREFIX}{i}" for i in range(18)]
    assert (s.k_used_, s.n_synthetic_, s.fallback_) == (5, 18, None)
    # Synthetic rows lie between minority rows: inside the minority's bounding box.
    minority = X[y == 1]
    assert (Xr.iloc[42:] >= minority.min() - 1e-12).all().all()
    assert (Xr.iloc[42:] <= minority.max() + 1e-12).all().all()


def test_seeded(rng):
    X, y = _data(rng, 30, 12)
    a, _ = SafeSMOTE(seed=3).fit_resample(X, y)
    b, _ = SafeSMOTE(seed=3).fit_resample(X, y)
    c, _ = SafeSMOTE(seed=4).fit_resample(X, y)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_reduce_k_fallback_recorded(rng):
    X, y = _data(rng, 20, 4)
    with pytest.warns(FallbackWarning, match="k reduced to 3"):
        s = SafeSMOTE(k_neighbors=5, fallback="reduce_k")
        Xr, yr = s.fit_resample(X, y)
    assert s.k_used_ == 3
    assert "minority class has 4 rows <= k_neighbors=5" in s.fallback_
    assert np.bincount(yr).tolist() == [20, 20]


def test_skip_fallback_recorded(rng):
    X, y = _data(rng, 20, 4)
    with pytest.warns(FallbackWarning, match="SMOTE skipped"):
        s = SafeSMOTE(k_neighbors=5, fallback="skip")
        Xr, yr = s.fit_resample(X, y)
    assert s.k_used_ == 0 and len(Xr) == 24
    assert np.array_equal(yr, y)


def test_single_minority_row_is_skipped_even_with_reduce_k(rng):
    X, y = _data(rng, 20, 1)
    with pytest.warns(FallbackWarning, match="skipped"):
        s = SafeSMOTE(fallback="reduce_k")
        Xr, _ = s.fit_resample(X, y)
    assert s.k_used_ == 0 and len(Xr) == 21


def test_balanced_input_untouched(rng):
    X, y = _data(rng, 10, 10)
    s = SafeSMOTE()
    Xr, _ = s.fit_resample(X, y)
    assert Xr is X and s.fallback_ is None


def test_not_applied_at_predict_time(rng):
    X, y = _data(rng, 30, 10)
    pipe = Pipeline([("smote", SafeSMOTE(seed=0)), ("clf", LogisticRegression())]).fit(X, y)
    assert pipe.predict_proba(X.iloc[:7]).shape == (7, 2)
    assert pipe.named_steps["smote"].n_synthetic_ == 20


def test_single_class_is_an_error(rng):
    X, _ = _data(rng, 10, 0)
    with pytest.raises(SchemaMismatchError, match="expected both classes"):
        SafeSMOTE().fit_resample(X, np.zeros(10, dtype=int))
