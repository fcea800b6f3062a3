"""mRMR: identical choices to the mrmr_selection package's mrmr_classif defaults."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.select import MRMRSelector


@pytest.mark.parametrize("data_seed", [0, 1, 2])
def test_same_selection_as_mrmr_selection(data_seed):
    rng = np.random.default_rng(data_seed)
    n, p = 90, 25
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j:02d}" for j in range(p)])
    X.iloc[:, :6] += 0.6 * y[:, None]
    X["f06"] = X["f00"] + 0.1 * rng.normal(size=n)  # redundant with f00
    # The package silences every warning at import; keep that inside this block.
    with warnings.catch_warnings():
        mrmr = pytest.importorskip("mrmr")
        expected = mrmr.mrmr_classif(X, pd.Series(y), K=8, n_jobs=1, show_progress=False)
    ours = MRMRSelector(k=8).fit(X, y)
    assert ours.ranking_ == expected


def test_k_larger_than_relevant_features(rng):
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)
    X = pd.DataFrame({"a": rng.normal(size=60) + y, "b": rng.normal(size=60)})
    assert len(MRMRSelector(k=10).fit(X, y).selected_features_) == 2


def test_no_relevant_feature_policy():
    y = np.r_[np.zeros(10), np.ones(10)].astype(int)
    X = pd.DataFrame({"f": np.r_[np.arange(10.0), np.arange(10.0)]})  # F = 0 exactly
    with pytest.warns(FallbackWarning, match="mrmr: all 1 features filtered out"):
        assert MRMRSelector(k=3).fit(X, y).selected_features_ == ["f"]
