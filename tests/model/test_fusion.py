"""Post-fusion: SVM stacked on per-modality out-of-fold probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from alnm_ray.exceptions import NotFittedError, SchemaMismatchError
from alnm_ray.model import PostFusionClassifier, fit_post_fusion
from alnm_ray.select import SelectionConfig

from .conftest import make_cohort

CFG = SelectionConfig.preset("guo2024").replace(icc_threshold=None, lasso_repeats=1, lasso_folds=5)


def _data(seed=0, signal=1.0, n=150):
    c = make_cohort(n=n, p_rad=40, p_deep=30, signal=signal, seed=seed)
    rad = c["radiomics"].drop(columns=["label", "center"])
    X = pd.concat([c["clinical"], rad, c["deep"]], axis=1)
    groups = {"clinical": list(c["clinical"].columns), "radiomics": list(rad.columns),
              "deep": list(c["deep"].columns)}
    return X, c["y"].to_numpy(), groups


def test_fit_predict_on_held_out_rows():
    X, y, groups = _data()
    model = PostFusionClassifier(groups, base="lr", selection=CFG, inner_folds=3, seed=0)
    model.fit(X.iloc[:100], y[:100])
    p = model.predict_proba(X.iloc[100:])
    assert p.shape == (50, 2)
    assert roc_auc_score(y[100:], p[:, 1]) > 0.7
    assert model.oof_.shape == (100, 3) and list(model.oof_.columns) == list(groups)
    assert set(model.predict(X.iloc[100:])) <= {0, 1}
    assert model.get_params()["groups"] is groups  # fit leaves the parameters alone


def test_oof_probabilities_come_from_models_that_did_not_see_the_row():
    X, y, groups = _data(seed=1)
    model = PostFusionClassifier(groups, base="knn", selection=CFG, inner_folds=3, seed=0)
    model.fit(X.iloc[:100], y[:100])
    parts = {g: X.iloc[:100][cols] for g, cols in groups.items()}
    in_sample = model.modality_probabilities(parts)
    # Refitted models have seen these rows: their probabilities differ from the OOF ones.
    assert not np.allclose(in_sample.to_numpy(), model.oof_.to_numpy())
    assert roc_auc_score(y[:100], in_sample["radiomics"]) > roc_auc_score(
        y[:100], model.oof_["radiomics"])


def test_many_base_classifiers_share_the_inner_selections():
    X, y, groups = _data(seed=2, n=90)
    parts = {g: X[cols] for g, cols in groups.items()}
    models = fit_post_fusion(parts, y, ["lr", "nb"], CFG, inner_folds=3, seed=0)
    assert set(models) == {"lr", "nb"}
    assert models["lr"].selections_ is models["nb"].selections_
    assert not np.allclose(models["lr"].oof_, models["nb"].oof_)


def test_errors():
    X, y, groups = _data(n=60)
    with pytest.raises(NotFittedError):
        PostFusionClassifier(groups).predict_proba(X)
    with pytest.raises(SchemaMismatchError, match="at least two modalities"):
        PostFusionClassifier({"clinical": groups["clinical"]}, selection=CFG).fit(X, y)
    with pytest.raises(SchemaMismatchError, match="modality 'deep': X lacks"):
        PostFusionClassifier(groups, selection=CFG).fit(X.drop(columns=groups["deep"][:2]), y)
