"""One protocol for trained models: plain sets and post-fusion sets score the same way."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from alnm_ray.model import (
    FittedClassifier,
    FittedFusion,
    FittedModel,
    PostFusionClassifier,
    run_holdout,
)
from alnm_ray.select import SelectionConfig

from .conftest import make_cohort

CFG = SelectionConfig.preset("guo2024").replace(icc_threshold=None, lasso_repeats=1, lasso_folds=3)


@pytest.fixture(scope="module")
def holdout():
    c = make_cohort(n=90, p_rad=30, p_deep=20, signal=1.0, seed=21)
    sets = {"radiomics": c["radiomics"].drop(columns=["label", "center"]), "deep": c["deep"]}
    out = run_holdout(sets, c["y"], ["lr", "nb"], CFG, seed=0,
                      fusion={"post": ["radiomics", "deep"]}, fusion_inner_folds=3)
    return sets, out


def test_every_model_is_a_fitted_classifier_of_the_right_kind(holdout) -> None:
    _, out = holdout
    assert set(out.models) == {(s, c) for s in ("radiomics", "deep", "post") for c in ("lr", "nb")}
    for (fs, clf), model in out.models.items():
        assert isinstance(model, FittedClassifier)
        assert (model.feature_set, model.classifier) == (fs, clf)
        assert isinstance(model, FittedFusion if fs == "post" else FittedModel)
    assert out.models[("post", "lr")].inputs == ("radiomics", "deep")
    assert out.models[("deep", "nb")].inputs == ("deep",)


def test_predict_sets_reproduces_the_test_predictions_and_thresholds(holdout) -> None:
    sets, out = holdout
    for (fs, clf), model in out.models.items():
        pred = out.predictions[(out.predictions.feature_set == fs)
                               & (out.predictions.classifier == clf)]
        rows = {name: X.loc[pred.patient_id.tolist()] for name, X in sets.items()}
        p = model.predict_sets(rows)
        np.testing.assert_allclose(p, pred.prob.to_numpy())
        np.testing.assert_array_equal((p >= model.threshold).astype(int), pred.pred.to_numpy())
        row = out.results[(out.results.feature_set == fs) & (out.results.classifier == clf)]
        assert model.threshold == pytest.approx(float(row.threshold.iloc[0]))


def test_models_are_frozen_and_an_estimator_alone_is_not_one(holdout) -> None:
    _, out = holdout
    fusion = out.models[("post", "nb")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fusion.classifier = "lr"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.models[("radiomics", "lr")].threshold = 0.5  # type: ignore[misc]
    assert isinstance(fusion.model, PostFusionClassifier)
    assert not isinstance(fusion.model, FittedClassifier)  # no set name: wrap it in FittedFusion
