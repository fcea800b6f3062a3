"""The fast selection paths select exactly what the straightforward ones select.

References (``tests/select/_reference.py``): scipy's ``shapiro`` column by
column and one scikit-learn ``lars_path`` per LASSO CV split.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path

from alnm_ray.select.icc import ReaderRatings
from alnm_ray.select.lasso import (
    BATCH_MAX_FEATURES,
    LassoCVSelector,
    lars_lasso_knots,
    lasso_path_at,
    lasso_paths_at,
)
from alnm_ray.select.pipeline import build_selection_pipeline
from alnm_ray.select.univariate import shapiro_pvalues

from ._reference import REFERENCE_STEPS, ReferenceLasso


def radiomics_fold(seed: int, n: int = 150, per_sequence: int = 150):
    """Correlated blocks of 10, three informative factors, half the columns log-normal."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.43).astype(int)
    ids = [f"P{i:03d}" for i in range(n)]
    icc_ids = np.sort(rng.choice(n, 30, replace=False))
    blocks, cols, frames = [], [], []
    for seq in ("T2WI", "ADC"):
        latent = rng.normal(size=(n, per_sequence // 10))
        latent[:, :3] += 0.6 * y[:, None]
        vals = (np.repeat(latent, 10, axis=1) * rng.uniform(0.5, 1.0, per_sequence)
                + rng.normal(size=(n, per_sequence)) * rng.uniform(0.05, 1.0, per_sequence))
        skewed = rng.random(per_sequence) < 0.5
        vals[:, skewed] = np.exp(0.7 * vals[:, skewed])
        blocks.append(vals)
        feats = [f"original_glcm_F{j:03d}" for j in range(per_sequence)]
        cols += [f"{seq}__{f}" for f in feats]
        noisy = rng.random(per_sequence) < 0.3
        for reader in ("A", "B", "A2"):
            idx = np.arange(n) if reader == "A" else icc_ids
            extra = 0.0 if reader == "A" else rng.normal(size=(idx.size, per_sequence)) * np.where(
                noisy, 1.0, 0.02) * vals.std(axis=0)
            f = pd.DataFrame(vals[idx] + extra, columns=feats)
            f.insert(0, "patient_id", [ids[i] for i in idx])
            f.insert(1, "sequence", seq)
            f.insert(2, "reader", reader)
            frames.append(f)
    X = pd.DataFrame(np.hstack(blocks), columns=cols, index=ids)
    return X, y, ReaderRatings(pd.concat(frames, ignore_index=True))


def correlated_problem(rng, n=120, p=12):
    latent = rng.normal(size=(n, 4))
    X = latent @ rng.normal(size=(4, p)) * 0.7 + rng.normal(size=(n, p))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=n) > 0).astype(float)
    return X, y


# -- Shapiro-Wilk ----------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 11, 12, 20, 57, 113])
def test_shapiro_matches_scipy_column_by_column(rng, n):
    x = np.c_[rng.normal(size=(n, 20)), np.exp(rng.normal(size=(n, 20))),
              rng.integers(0, 3, size=(n, 10)).astype(float), np.full((n, 2), 7.0),
              1e6 * rng.normal(size=(n, 5)) + 5e8]
    w, p = shapiro_pvalues(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy: "range zero" on constants
        ref = [stats.shapiro(x[:, j]) for j in range(x.shape[1])]
    np.testing.assert_allclose(w, [r.statistic for r in ref], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p, [r.pvalue for r in ref], rtol=0, atol=1e-12)


def test_shapiro_needs_three_rows():
    with pytest.raises(ValueError, match="at least 3 rows; got 2"):
        shapiro_pvalues(np.ones((2, 4)))


# -- batched LARS ----------------------------------------------------------------

def test_batched_lars_knots_equal_lars_path(rng):
    problems = [correlated_problem(rng) for _ in range(12)]
    grams, xys, ns, refs = [], [], [], []
    for X, y in problems:
        xc, yc = X - X.mean(0), y - y.mean()
        grams.append(xc.T @ xc)
        xys.append(xc.T @ yc)
        ns.append(len(y))
        refs.append(lars_path(xc, yc, method="lasso", Gram=grams[-1], Xy=xys[-1], max_iter=500))
    knots, paths, ok = lars_lasso_knots(np.array(grams), np.array(xys), np.array(ns))
    assert ok.all()
    drops = 0
    for kn, pa, (ref_knots, _, ref_path) in zip(knots, paths, refs):
        assert kn.shape == ref_knots.shape
        np.testing.assert_allclose(kn, ref_knots, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(pa, ref_path, rtol=0, atol=1e-10 * np.abs(ref_path).max())
        active = pa != 0
        drops += int((active[:, :-1] & ~active[:, 1:]).sum())
    assert drops > 0  # the lasso modification (variables leaving) was exercised


def test_paths_of_all_splits_equal_per_split_paths(rng):
    X, y = correlated_problem(rng, n=90, p=8)
    alphas = np.logspace(0, -3, 40) * np.abs((X - X.mean(0)).T @ (y - y.mean())).max() / 90
    sets = [np.sort(rng.choice(90, 80, replace=False)) for _ in range(6)] + [np.arange(90)]
    for (coefs, my, mx), t in zip(lasso_paths_at(X, y, sets, alphas), sets):
        ref, ref_my, ref_mx = lasso_path_at(X[t], y[t], alphas)
        np.testing.assert_array_equal(coefs != 0, ref != 0)
        np.testing.assert_allclose(coefs, ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose([my, *mx], [ref_my, *ref_mx], rtol=1e-12, atol=1e-14)


def test_collinear_and_wide_tables_use_lars_path(rng):
    X, y = correlated_problem(rng, n=60, p=5)
    X = np.c_[X, X[:, 0]]  # an exact duplicate: singular Gram, lars_path's degenerate branch
    alphas = np.logspace(-1, -4, 30)
    sets = [np.arange(60), np.arange(5, 60)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        got = lasso_paths_at(X, y, sets, alphas)
        for (coefs, _, _), t in zip(got, sets):
            np.testing.assert_array_equal(coefs, lasso_path_at(X[t], y[t], alphas)[0])
    wide = rng.normal(size=(50, BATCH_MAX_FEATURES + 1))
    coefs, _, _ = lasso_paths_at(wide, y[:50], [np.arange(50)], alphas)[0]
    np.testing.assert_array_equal(coefs, lasso_path_at(wide, y[:50], alphas)[0])


def test_lasso_selector_equals_reference(rng):
    X, y = correlated_problem(rng, n=150, p=15)
    X = pd.DataFrame(X, columns=[f"f{j}" for j in range(15)])
    yy = y.astype(int)
    new = LassoCVSelector(n_repeats=5, n_folds=10, seed=3).fit(X, yy)
    ref = ReferenceLasso(n_repeats=5, n_folds=10, seed=3).fit(X, yy)
    assert new.selected_features_ == ref.selected_features_
    assert new.alpha_ == ref.alpha_
    np.testing.assert_allclose(new.mse_path_, ref.mse_path_, rtol=1e-10)
    np.testing.assert_allclose(new.coef_path_, ref.coef_path_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(new.intercept_, ref.intercept_, rtol=1e-12)


# -- the whole guo2024 pipeline ----------------------------------------------------

@pytest.mark.parametrize("table_seed", [0, 1, 2, 3])
def test_guo2024_pipeline_selects_identically(table_seed):
    X, y, readers = radiomics_fold(table_seed)
    fast = build_selection_pipeline("guo2024", kinds={"radiomics"}, seed=table_seed)
    ref = build_selection_pipeline("guo2024", kinds={"radiomics"}, seed=table_seed)
    ref.steps = [(name, REFERENCE_STEPS[name](**step.get_params()) if name in REFERENCE_STEPS
                  else step) for name, step in ref.steps]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast.fit(X, y, icc__reader_table=readers)
        ref.fit(X, y, icc__reader_table=readers)
    for (name, a), (_, b) in zip(fast.steps, ref.steps):
        if hasattr(a, "selected_features_"):
            assert a.selected_features_ == b.selected_features_, name
    uni_a, uni_b = fast.named_steps["univariate"], ref.named_steps["univariate"]
    assert set(uni_a.tests_) == {"student", "welch", "mannwhitney"}  # every branch ran
    np.testing.assert_array_equal(uni_a.tests_, uni_b.tests_)
    np.testing.assert_allclose(uni_a.pvalues_, uni_b.pvalues_, rtol=1e-10, atol=1e-300)
    assert fast.named_steps["mrmr"].ranking_ == ref.named_steps["mrmr"].ranking_
    las_a, las_b = fast.named_steps["lasso"], ref.named_steps["lasso"]
    assert las_a.alpha_ == las_b.alpha_
    np.testing.assert_allclose(las_a.coef_, las_b.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(las_a.mse_mean_, las_b.mse_mean_, rtol=1e-10)
    assert len(las_a.selected_features_) > 0
    np.testing.assert_allclose(fast.transform(X).to_numpy(), ref.transform(X).to_numpy(),
                               rtol=0, atol=0)
