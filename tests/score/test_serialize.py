"""skops first, joblib only when skops cannot round-trip; an explicit trusted-types list."""

from __future__ import annotations

import fractions
import re

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import ConfigError
from alnm_ray.score.serialize import (TRUSTED_TYPES, FallbackSerialisationWarning, UntrustedTypeError,
                                      dump_model, load_model)


def test_selection_pipeline_is_saved_with_skops_and_reloads_identically(train_data, fitted):
    X, _ = train_data
    data, info = dump_model(fitted, probe=X)
    assert info["format"] == "skops"
    assert "imblearn.pipeline.Pipeline" in info["trusted_types"]
    assert all(t in TRUSTED_TYPES or t.startswith("alnm_ray.") for t in info["trusted_types"])
    again = load_model(data, "skops")
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))


@pytest.mark.parametrize("name", ["lr", "nb", "svm", "knn", "xgboost", "lightgbm", "adaboost", "mlp"])
def test_every_registered_classifier_saves_with_skops(name, train_data, pipeline_factory):
    from imblearn.pipeline import Pipeline

    from alnm_ray.model.classifiers import make_classifier

    X, y = train_data
    model = Pipeline(pipeline_factory().steps[:-1] + [("clf", make_classifier(name, seed=0))]).fit(X, y)
    data, info = dump_model(model, probe=X)
    assert info["format"] == "skops", info.get("fallback_reason")
    np.testing.assert_array_equal(load_model(data, "skops").predict_proba(X), model.predict_proba(X))


def test_joblib_only_when_skops_cannot_rebuild(train_data):
    X, y = train_data
    model = LogisticRegression().fit(X, y)
    model.pattern_ = re.compile(r"T2WI__.*")  # skops cannot rebuild a compiled regex; pickle can
    with pytest.warns(FallbackSerialisationWarning, match="saved with joblib"):
        data, info = dump_model(model, probe=X)
    assert info["format"] == "joblib" and "re.Pattern" in info["fallback_reason"]
    again = load_model(data, "joblib")
    assert again.pattern_.pattern == r"T2WI__.*"


def test_types_outside_the_list_are_refused_on_save_and_on_load(train_data):
    X, y = train_data
    model = LogisticRegression().fit(X, y)
    model.note_ = fractions.Fraction(1, 3)  # skops handles it, but nobody reviewed it
    with pytest.raises(ConfigError, match=r"found fractions\.Fraction\. Check that these types"):
        dump_model(model, probe=X)
    data = sio.dumps(model)
    with pytest.raises(UntrustedTypeError, match=r"found fractions\.Fraction\. Nothing was built"):
        load_model(data, "skops")


def test_unknown_format_is_refused():
    with pytest.raises(Exception, match="expected format 'skops' or 'joblib'"):
        load_model(b"", "pickle")
