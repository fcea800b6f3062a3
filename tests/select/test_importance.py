"""Gradient-boosting importance top-k."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alnm_ray.select import ImportanceSelector


def test_planted_features_rank_first(rng):
    n = 200
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, 30)), columns=[f"T2WI__deep_{j:03d}" for j in range(30)])
    X["T2WI__deep_004"] += 2 * y
    X["T2WI__deep_017"] -= 2 * y
    f = ImportanceSelector(k=2, seed=0, max_features=None).fit(X, y)
    assert f.selected_features_ == ["T2WI__deep_004", "T2WI__deep_017"]
    assert f.importances_.shape == (30,)


def test_k_and_seed(rng):
    n = 120
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, 40)))
    X.columns = [f"f{j}" for j in range(40)]
    a = ImportanceSelector(k=5, seed=1).fit(X, y)
    b = ImportanceSelector(k=5, seed=1).fit(X, y)
    assert len(a.selected_features_) == 5
    assert a.selected_features_ == b.selected_features_
    np.testing.assert_array_equal(a.importances_, b.importances_)
