"""FrozenModel: fitted selection + classifier behind one predict_proba."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import NotFittedError, SchemaMismatchError
from alnm_ray.score.frozen import FrozenModel


def test_predicts_like_the_engine_and_checks_columns(train_data, pipeline_factory):
    X, y = train_data
    selection = pipeline_factory()[:-1].fit(X, y)
    clf = LogisticRegression().fit(np.asarray(selection.transform(X), dtype=float), y)
    model = FrozenModel(selection, clf, list(X.columns)).fit()
    expected = clf.predict_proba(np.asarray(selection.transform(X), dtype=float))
    np.testing.assert_array_equal(model.predict_proba(X[X.columns[::-1]]), expected)  # order restored by name
    assert (model.predict(X, threshold=0.3) == (expected[:, 1] >= 0.3)).all()
    with pytest.raises(SchemaMismatchError, match="X lacks 1 feature column"):
        model.predict_proba(X.drop(columns=X.columns[0]))
    with pytest.raises(SchemaMismatchError, match="expected a DataFrame"):
        model.predict_proba(X.to_numpy())
    with pytest.raises(NotFittedError):
        FrozenModel().fit()
    with pytest.raises(NotFittedError, match="call fit"):
        FrozenModel(selection, clf, list(X.columns)).predict_proba(X)


def test_a_model_saved_before_centre_harmonisation_still_predicts(train_data, pipeline_factory):
    """skops restores the saved attributes only: an older bundle's model has no batch_column."""
    X, y = train_data
    selection = pipeline_factory()[:-1].fit(X, y)
    clf = LogisticRegression().fit(np.asarray(selection.transform(X), dtype=float), y)
    model = FrozenModel(selection, clf, list(X.columns)).fit()
    expected = model.predict_proba(X)
    del model.__dict__["batch_column"]
    np.testing.assert_array_equal(model.predict_proba(X), expected)
