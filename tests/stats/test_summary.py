"""evaluate_models: structure, schema, consistency with the single statistics."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from alnm_ray.stats import (
    InvalidPredictionsError,
    bootstrap_auc_ci,
    delong_ci,
    delong_test,
    evaluate_models,
    load_compare_schema,
    validate_compare_report,
)


@pytest.fixture
def report(preds):
    y, models = preds
    return evaluate_models(y, models, n_boot=300, seed=3)


def test_validates_against_schema(report):
    schema = load_compare_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    validate_compare_report(report)
    json.dumps(report, allow_nan=False)  # strict JSON: no NaN/inf anywhere


def test_schema_rejects_broken_documents(report):
    broken = json.loads(json.dumps(report))
    del broken["models"]["m0"]["auc_ci_delong"]
    with pytest.raises(InvalidPredictionsError, match="models/m0"):
        validate_compare_report(broken)
    broken = json.loads(json.dumps(report))
    broken["comparisons"][0]["delong_p"] = 1.5
    with pytest.raises(InvalidPredictionsError, match="comparisons/0/delong_p"):
        validate_compare_report(broken)


def test_top_level_layout(report, preds):
    y, models = preds
    assert set(report) == {"meta", "models", "comparisons"}
    assert list(report["models"]) == ["m0", "m1", "m2"]
    m0 = report["models"]["m0"]
    for key in ("auc", "auc_ci_delong", "auc_ci_bootstrap", "brier", "hosmer_lemeshow",
                "youden_threshold", "sensitivity", "specificity", "ppv", "npv", "precision",
                "recall", "f1", "accuracy", "net_benefit", "calibration_slope"):
        assert key in m0
    assert list(m0["net_benefit"]) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    assert set(m0["hosmer_lemeshow"]) >= {"statistic", "df", "p"}
    pairs = [(c["a"], c["b"]) for c in report["comparisons"]]
    assert pairs == [("m0", "m1"), ("m0", "m2"), ("m1", "m2")]
    assert report["meta"]["n"] == y.size and report["meta"]["seed"] == 3


def test_values_agree_with_single_functions(report, preds):
    y, models = preds
    m0 = report["models"]["m0"]
    d = delong_ci(y, models["m0"])
    assert m0["auc"] == d.auc and m0["auc_ci_delong"] == [d.low, d.high]
    b = bootstrap_auc_ci(y, models["m0"], n_boot=300, seed=3)
    assert m0["auc_ci_bootstrap"] == pytest.approx([b.low, b.high])
    c = report["comparisons"][1]
    t = delong_test(y, models["m0"], models["m2"])
    assert (c["delong_z"], c["delong_p"], c["auc_diff_ci"]) == (t.z, t.p, [t.low, t.high])
    assert m0["threshold"] == m0["youden_threshold"] and m0["threshold_source"] == "youden"
    for key in ("sensitivity", "specificity", "f1", "brier"):
        lo, hi = m0["ci_bootstrap"][key]
        assert lo <= m0[key] <= hi


def test_given_threshold_and_nan_becomes_null(preds):
    y, models = preds
    rep = evaluate_models(y, {"m0": models["m0"]}, threshold=0.999, n_boot=20)
    m0 = rep["models"]["m0"]
    assert m0["threshold"] == 0.999 and m0["threshold_source"] == "given"
    assert m0["ppv"] is None and m0["ci_bootstrap"]["ppv"] == [None, None]
    assert rep["comparisons"] == []
    validate_compare_report(rep)
    per_model = evaluate_models(y, models, threshold={"m0": 0.3, "m1": 0.4, "m2": 0.5}, n_boot=20)
    assert [per_model["models"][k]["threshold"] for k in models] == [0.3, 0.4, 0.5]
    with pytest.raises(InvalidPredictionsError, match="got none for \\['m2'\\]"):
        evaluate_models(y, models, threshold={"m0": 0.3, "m1": 0.4}, n_boot=20)


def test_seed_reproducible(preds):
    y, models = preds
    a = evaluate_models(y, models, n_boot=50, seed=1)
    b = evaluate_models(y, models, n_boot=50, seed=1)
    assert a == b


def test_bad_input_messages(preds):
    y, models = preds
    bad = dict(models, m1=np.where(np.arange(y.size) == 4, np.nan, models["m1"]))
    with pytest.raises(InvalidPredictionsError, match=r"m1: expected a finite prediction .* row position\(s\) 4"):
        evaluate_models(y, bad, n_boot=10)
    with pytest.raises(InvalidPredictionsError, match="cutoffs"):
        evaluate_models(y, models, nri_cutoffs=[1.2], n_boot=10)
    with pytest.raises(InvalidPredictionsError, match="thresholds"):
        evaluate_models(y, models, nb_thresholds=[0.5, 1.0], n_boot=10)
