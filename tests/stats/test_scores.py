"""Linear-predictor scores from fitted LASSO / logistic models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import ConfigError, NotFittedError, SchemaMismatchError
from alnm_ray.select.lasso import LassoCVSelector
from alnm_ray.stats import ClinicalLogisticModel, LinearScore


@pytest.fixture
def features(rng):
    n = 160
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    X["f0"] += 1.5 * y
    X["f3"] -= 1.0 * y
    return X, y


def test_from_lasso_selector_keeps_nonzero_and_reproduces_prediction(features):
    X, y = features
    sel = LassoCVSelector(n_repeats=2, n_folds=5).fit(X, y)
    s = LinearScore.from_estimator(sel, name="tumour_score")
    assert list(s.feature_names) == sel.selected_features_
    np.testing.assert_allclose(s.score(X), sel.intercept_ + X.to_numpy() @ sel.coef_, atol=1e-12)
    # Column order in X does not matter: features are matched by name.
    np.testing.assert_allclose(s.score(X[X.columns[::-1]]), s.score(X), atol=1e-12)


def test_from_logistic_models_equals_decision_function(features):
    X, y = features
    lr = LogisticRegression(C=10.0).fit(X, y)
    s = LinearScore.from_estimator(lr, name="LN_score", drop_zero=False)
    np.testing.assert_allclose(s.score(X), lr.decision_function(X), atol=1e-10)
    clin = ClinicalLogisticModel(univariate_p=None).fit(X, y)
    s2 = LinearScore.from_estimator(clin)
    np.testing.assert_allclose(s2.score(X), clin.decision_function(X), atol=1e-10)


def test_formula_and_json_round_trip(features):
    X, y = features
    s = LinearScore.from_estimator(LogisticRegression().fit(X, y), name="rad")
    back = LinearScore.from_json(s.to_json())
    assert back == s  # exact floats
    text = s.formula(3)
    assert text.startswith("rad = ") and text.count("×") == 6
    with pytest.raises(ConfigError, match="expected a document with format"):
        LinearScore.from_dict({"format": "other"})


def test_errors_name_the_problem(features):
    X, y = features
    s = LinearScore(0.0, ("f0", "zz"), (1.0, 2.0))
    with pytest.raises(SchemaMismatchError, match=r"missing 'zz'.*same feature names"):
        s.score(X)
    with pytest.raises(SchemaMismatchError, match=r"expected shape \(n, 2\)"):
        s.score(np.zeros((3, 3)))
    with pytest.raises(ConfigError, match="one coefficient per feature"):
        LinearScore(0.0, ("a",), (1.0, 2.0))
    with pytest.raises(NotFittedError, match="Fit it first"):
        LinearScore.from_estimator(LogisticRegression())
    with pytest.raises(ConfigError, match="feature names"):
        LinearScore.from_estimator(LogisticRegression().fit(X.to_numpy(), y))


def test_logistic_lasso_score_is_log_odds_and_keeps_its_scale_in_json(features):
    from alnm_ray.select.lasso_logistic import LogisticLassoSelector

    X, y = features
    sel = LogisticLassoSelector(n_folds=5, n_alphas=30).fit(X, y)
    s = LinearScore.from_estimator(sel, name="tumour_score")
    assert s.scale == "log-odds" and list(s.feature_names) == sel.selected_features_
    np.testing.assert_allclose(s.score(X), sel.intercept_ + X.to_numpy() @ sel.coef_, atol=1e-12)
    back = LinearScore.from_json(s.to_json())
    assert back == s and back.scale == "log-odds"
    assert LinearScore.from_estimator(LassoCVSelector(n_repeats=1, n_folds=5).fit(X, y)).scale is None
