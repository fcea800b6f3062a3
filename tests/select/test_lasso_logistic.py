"""L1-penalised logistic LASSO (lasso_logistic): the Rad-score selector, lambda at minimum CV deviance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from alnm_ray.select.config import SelectionConfig
from alnm_ray.select.lasso import LassoCVSelector, _repeat_seed
from alnm_ray.select.lasso_logistic import LogisticLassoSelector, logistic_lambda_grid
from alnm_ray.select.pipeline import build_selection_pipeline
from alnm_ray.stats import LinearScore


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    n = 240
    X = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"f{i}" for i in range(8)])
    lp = -0.3 + 1.2 * X["f0"] - 0.8 * X["f1"]
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return X, y


def _fit(X, y, **kw):
    return LogisticLassoSelector(n_folds=5, n_alphas=40, seed=0, **kw).fit(X, y)


def test_coefficients_are_the_l1_logistic_fit_at_the_chosen_lambda(data):
    X, y = data
    sel = _fit(X, y)
    assert sel.C_ == pytest.approx(1 / (sel.alpha_ * len(y)))
    # liblinear penalises the intercept; with a huge intercept scaling that penalty vanishes.
    ref = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=sel.C_, tol=1e-10, max_iter=100000,
                             intercept_scaling=1e4).fit(X, y)
    np.testing.assert_allclose(sel.coef_, ref.coef_[0], atol=1e-4)
    assert sel.intercept_ == pytest.approx(float(ref.intercept_[0]), abs=1e-4)
    assert set(sel.selected_features_) >= {"f0", "f1"}
    assert list(sel.selected_features_) == [c for c, b in zip(X.columns, sel.coef_) if b != 0]


def test_lambda_is_the_minimum_of_the_stratified_cv_deviance(data):
    X, y = data
    sel = _fit(X, y)
    alphas = logistic_lambda_grid(X.to_numpy(float), y.astype(float), 40)
    np.testing.assert_allclose(sel.alphas_, alphas)
    assert np.all(sel.coef_path_[:, 0] == 0) and np.count_nonzero(sel.coef_path_[:, 1]) >= 1
    assert sel.alpha_ == sel.alphas_[int(np.argmin(sel.deviance_mean_))]
    # One split's deviance at the chosen lambda, recomputed from an independent fit on its training rows.
    tr, va = next(StratifiedKFold(5, shuffle=True, random_state=_repeat_seed(0, 0)).split(X, y))
    k = int(np.argmin(sel.deviance_mean_))
    ref = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=1 / (sel.alpha_ * len(tr)), tol=1e-10,
                             max_iter=100000, intercept_scaling=1e4).fit(X.iloc[tr], y[tr])
    p = ref.predict_proba(X.iloc[va])[:, 1]
    dev = -np.mean(y[va] * np.log(p) + (1 - y[va]) * np.log(1 - p))
    assert sel.deviance_path_[k, 0, 0] == pytest.approx(dev, abs=1e-4)


def test_the_score_is_on_the_log_odds_scale_unlike_the_squared_error_lasso(data):
    """Refitting y on the score gives a slope near 1 (log-odds); Guo's squared-error score needs a large one."""
    X, y = data
    rad = LinearScore.from_estimator(_fit(X, y), name="rad")
    assert rad.scale == "log-odds"
    lin = LinearScore.from_estimator(LassoCVSelector(n_repeats=1, n_folds=5).fit(X, y), name="lin")
    assert lin.scale is None

    def slope(score):
        return float(LogisticRegression(C=1e6).fit(score.reshape(-1, 1), y).coef_[0, 0])

    assert 0.8 < slope(rad.score(X)) < 1.6
    assert slope(lin.score(X)) > 3.0


def test_seeded_and_built_by_the_selection_pipeline(data):
    X, y = data
    cfg = SelectionConfig(icc_threshold=None, smote=False, steps=("lasso_logistic",), lasso_repeats=2,
                          lasso_folds=5, lasso_n_alphas=30)
    a = build_selection_pipeline(cfg, seed=3).fit(X, y).named_steps["lasso_logistic"]
    b = build_selection_pipeline(cfg, seed=3).fit(X, y).named_steps["lasso_logistic"]
    assert isinstance(a, LogisticLassoSelector) and a.deviance_path_.shape == (30, 2, 5)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert "lasso_logistic" in SelectionConfig.preset("zhang2025").steps


def test_too_few_rows_of_a_class_for_the_folds_is_named(data):
    X, y = data
    y = np.zeros(len(y), dtype=int)
    y[:3] = 1
    with pytest.raises(ValueError, match=r"n_folds=5 exceeds the 3 training rows of the smaller class.*Lower "
                                         r"n_folds"):
        _fit(X, y)
