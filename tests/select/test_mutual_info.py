"""Mutual-information relevance/redundancy selector and its binned estimator."""

from __future__ import annotations

import pandas as pd

from alnm_ray.select import MutualInfoSelector
from alnm_ray.select.mutual_info import binned_mi, equal_frequency_codes


def test_binned_mi_identical_and_independent(rng):
    x = rng.normal(size=(500, 1))
    codes = equal_frequency_codes(x, 8)
    mi_same, h, _ = binned_mi(codes, codes, 8, 8)
    assert mi_same[0] > 0.9 * h[0]  # MI(X;X) = H(X) up to the small-sample correction
    other = equal_frequency_codes(rng.normal(size=(500, 1)), 8)
    mi_ind, _, _ = binned_mi(codes, other, 8, 8)
    assert mi_ind[0] < 0.05


def test_redundant_nonlinear_copy_dropped(rng):
    n = 300
    y = rng.integers(0, 2, n)
    a = rng.normal(size=n) + 1.5 * y
    X = pd.DataFrame({"a": a, "a_cubed": a ** 3, "b": rng.normal(size=n) + y, "noise": rng.normal(size=n)})
    f = MutualInfoSelector(k=3, redundancy_threshold=0.5).fit(X, y)
    assert f.ranking_[:2] in (["a", "b"], ["a_cubed", "b"])
    assert not {"a", "a_cubed"} <= set(f.ranking_)
    assert f.relevance_[X.columns.get_loc("noise")] < f.relevance_[X.columns.get_loc("b")]


def test_k_caps_the_selection(rng):
    y = rng.integers(0, 2, 100)
    X = pd.DataFrame(rng.normal(size=(100, 12)), columns=[f"f{j}" for j in range(12)])
    assert len(MutualInfoSelector(k=4, redundancy_threshold=1.0).fit(X, y).selected_features_) == 4
