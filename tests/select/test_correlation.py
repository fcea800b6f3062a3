"""Spearman/Pearson redundancy removal: repeated until none remain, seeded drop rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alnm_ray.select import CorrelationFilter, abs_correlation


def _redundant(rng, n=60):
    a, b, c = rng.normal(size=(3, n))
    cols = {"a": a, "a1": a + 0.05 * rng.normal(size=n), "a2": a + 0.05 * rng.normal(size=n),
            "b": b, "b1": b + 0.05 * rng.normal(size=n), "c": c}
    return pd.DataFrame(cols)


def test_no_pair_above_threshold_remains(rng):
    X = _redundant(rng)
    f = CorrelationFilter(0.9, seed=0).fit(X)
    kept = abs_correlation(f.transform(X).to_numpy())
    assert (kept - np.eye(kept.shape[0])).max() <= 0.9
    assert len(f.selected_features_) == 3  # one of the a-group, one of the b-group, c
    assert "c" in f.selected_features_
    assert all(rho > 0.9 for _, _, rho in f.drops_)


def test_random_rule_is_seeded_and_deterministic(rng):
    X = _redundant(rng)
    runs = {s: CorrelationFilter(0.9, drop="random", seed=s).fit(X) for s in range(8)}
    again = CorrelationFilter(0.9, drop="random", seed=3).fit(X)
    assert again.drops_ == runs[3].drops_
    assert len({tuple(r.selected_features_) for r in runs.values()}) > 1


def test_mean_rule_drops_the_hub_independent_of_seed(rng):
    # corr(x, hub) = 1/sqrt(1 + s^2) ~ 0.92 > 0.9 but corr(x, z) = 1/(1 + s^2) ~ 0.86.
    n, s = 400, 0.41
    h = rng.normal(size=n)
    X = pd.DataFrame({"x": h + s * rng.normal(size=n), "hub": h,
                      "z": h + s * rng.normal(size=n)})
    r = abs_correlation(X.to_numpy())
    assert r[0, 1] > 0.9 and r[1, 2] > 0.9 and r[0, 2] < 0.9  # hub links both
    for s in (0, 1, 2):
        f = CorrelationFilter(0.9, drop="mean", seed=s).fit(X)
        assert f.selected_features_ == ["x", "z"]


def test_spearman_sees_monotone_pearson_does_not(rng):
    x = rng.normal(size=100)
    X = pd.DataFrame({"x": x, "ex": np.exp(3 * x)})
    assert stats.pearsonr(x, np.exp(3 * x))[0] < 0.9
    assert len(CorrelationFilter(0.9, method="spearman").fit(X).selected_features_) == 1
    assert len(CorrelationFilter(0.9, method="pearson").fit(X).selected_features_) == 2


def test_spearman_matrix_matches_scipy(rng):
    v = rng.normal(size=(30, 4))
    np.testing.assert_allclose(abs_correlation(v, "spearman"),
                               np.abs(stats.spearmanr(v).statistic), atol=1e-12)
