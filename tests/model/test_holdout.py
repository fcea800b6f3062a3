"""The paper's 7:3 hold-out and leave-one-centre-out external validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alnm_ray.model import run_holdout, run_leave_one_center_out
from alnm_ray.select import SelectionConfig

from .conftest import make_cohort

FAST = SelectionConfig.preset("guo2024").replace(lasso_repeats=2, lasso_folds=5)


def _sets(c):
    rad = c["radiomics"].drop(columns=["label", "center"])
    return {"radiomics": rad, **({"deep": c["deep"]} if "deep" in c else {})}


def test_holdout_protocol_and_models():
    c = make_cohort(n=270, p_rad=60, p_deep=30, signal=1.0, seed=11)
    out = run_holdout(_sets(c), c["y"], ["lr", "mlp"], FAST, seed=0,
                      reader_table=c["reader_table"])
    r = out.results
    assert len(r) == 4 and set(r.n_train) == {189} and set(r.n_test) == {81}
    assert (r.auc > 0.7).all()
    assert (r.split == "holdout").all()
    preds = out.predictions
    assert set(preds.columns) >= {"feature_set", "classifier", "patient_id", "y_true", "prob", "pred"}
    test_ids = preds[(preds.feature_set == "radiomics") & (preds.classifier == "lr")].patient_id
    assert len(set(test_ids)) == 81
    model = out.models[("radiomics", "lr")]
    X_test = _sets(c)["radiomics"].loc[list(test_ids)]
    p = model.predict_proba(X_test)
    got = preds[(preds.feature_set == "radiomics") & (preds.classifier == "lr")].prob.to_numpy()
    np.testing.assert_allclose(p, got)
    np.testing.assert_allclose(model.as_pipeline().predict_proba(X_test)[:, 1], got)
    assert model.selected == json.loads(r[(r.feature_set == "radiomics")].selected_features.iloc[0])


def test_predefined_split_is_used():
    c = make_cohort(n=80, p_rad=30, signal=1.0, seed=12)
    ids = list(c["y"].index)
    out = run_holdout({"radiomics": _sets(c)["radiomics"]}, c["y"], ["nb"], FAST,
                      train_ids=ids[:60], test_ids=ids[60:], reader_table=c["reader_table"])
    assert set(out.predictions.patient_id) == set(ids[60:])


@pytest.mark.slow
def test_holdout_on_noise_is_at_chance():
    aucs = []
    for s in range(12):
        c = make_cohort(n=270, p_rad=100, signal=0.0, seed=4000 + s)
        out = run_holdout({"radiomics": _sets(c)["radiomics"]}, c["y"], ["lr", "nb"], FAST,
                          seed=s, reader_table=c["reader_table"])
        aucs.append(out.results.groupby("classifier").auc.mean())
    means = pd.concat(aucs, axis=1).mean(axis=1)
    assert (means - 0.5).abs().max() < 0.05, means.round(3).to_dict()


def test_leave_one_center_out():
    c = make_cohort(n=90, p_rad=30, p_deep=20, signal=1.0, seed=13, n_centers=3)
    out = run_leave_one_center_out(_sets(c), c["y"], c["centers"], ["lr"], FAST,
                                   reader_table=c["reader_table"], fusion={"post": ["radiomics", "deep"]},
                                   fusion_inner_folds=3)
    r = out.results
    assert sorted(r.center.unique()) == ["C1", "C2", "C3"]
    assert len(r) == 3 * 3  # centres x (2 sets + post-fusion)
    for center, grp in out.predictions.groupby("center"):
        held = set(c["centers"][c["centers"] == center].index)
        assert set(grp.patient_id) == held
    assert (r.groupby("feature_set").n_test.sum() == 90).all()
    assert ("post", "lr", "C2") in out.models
