"""LASSO with repeated K-fold CV: same lambda as LassoCV, shapes for plots, empty policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.select import LassoCVSelector


def _data(rng, n=150, p=10):
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j}" for j in range(p)])
    y = (X.f0 + 0.5 * X.f1 + rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


def test_lars_and_coordinate_descent_agree(rng):
    X, y = _data(rng)
    a = LassoCVSelector(n_repeats=3, n_folds=5, seed=1, solver="lars").fit(X, y)
    b = LassoCVSelector(n_repeats=3, n_folds=5, seed=1, solver="cd").fit(X, y)
    assert a.alpha_ == b.alpha_
    np.testing.assert_allclose(a.mse_mean_, b.mse_mean_, rtol=1e-2)
    assert a.selected_features_ == b.selected_features_
    assert {"f0", "f1"} <= set(a.selected_features_)


def test_shapes_for_the_lasso_plots(rng):
    X, y = _data(rng)
    f = LassoCVSelector(n_repeats=4, n_folds=5, n_alphas=30, seed=0).fit(X, y)
    assert f.mse_path_.shape == (30, 4, 5)
    assert f.coef_path_.shape == (10, 30)
    assert np.all(np.diff(f.alphas_) < 0)
    assert f.alpha_ == f.alphas_[np.argmin(f.mse_mean_)]
    assert np.all(f.coef_path_[:, 0] == 0)  # lambda_max: nothing has entered yet
    np.testing.assert_array_equal(f.support_, f.coef_ != 0)


def test_seeded_repeats(rng):
    X, y = _data(rng)
    a = LassoCVSelector(n_repeats=2, n_folds=5, seed=5).fit(X, y)
    b = LassoCVSelector(n_repeats=2, n_folds=5, seed=5).fit(X, y)
    c = LassoCVSelector(n_repeats=2, n_folds=5, seed=6).fit(X, y)
    np.testing.assert_array_equal(a.mse_path_, b.mse_path_)
    assert not np.array_equal(a.mse_path_, c.mse_path_)


def test_nothing_selected_applies_policy(rng):
    n = 60
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)
    Z = rng.normal(size=(n, 4))
    # Remove every feature's sample covariance with y: the lasso path is all zeros.
    yc = y - y.mean()
    Z -= np.outer(yc, yc @ (Z - Z.mean(0))) / (yc @ yc)
    X = pd.DataFrame(Z, columns=list("abcd"))
    with pytest.warns(FallbackWarning, match="lasso: all 4 features filtered out"):
        f = LassoCVSelector(n_repeats=1, n_folds=5).fit(X, y)
    assert len(f.selected_features_) == 1


def test_too_many_folds_is_explained(rng):
    X, y = _data(rng, n=8)
    with pytest.raises(ValueError, match="Lower n_folds"):
        LassoCVSelector(n_folds=10).fit(X, y)


def test_batched_paths_are_the_same_whatever_the_block_of_splits(monkeypatch) -> None:
    """The centred copies are made a block of CV splits at a time (bounded memory); the paths do not change."""
    from alnm_ray.select import lasso

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 12))
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(float)
    splits = [np.sort(rng.choice(400, 360, replace=False)) for _ in range(25)]
    alphas = np.logspace(-3, 0, 20)
    monkeypatch.setattr(lasso, "_BATCH_BYTES", 10**12)
    whole = lasso.lasso_paths_at(X, y, splits, alphas)
    monkeypatch.setattr(lasso, "_BATCH_BYTES", 1)  # one split per block
    blocks = lasso.lasso_paths_at(X, y, splits, alphas)
    for (a, ya, xa), (b, yb, xb) in zip(whole, blocks):
        np.testing.assert_array_equal(a, b)
        assert ya == yb and np.array_equal(xa, xb)
