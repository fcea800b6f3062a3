"""Fitting on one training set: the frozen ClassifierFit, scored folds, prediction rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from alnm_ray.model import (
    OOF_COLUMNS,
    ClassifierFit,
    evaluate_classifiers,
    fit_predict,
    fit_selection,
    prediction_frame,
    youden_threshold,
)
from alnm_ray.select import SelectionConfig

from .conftest import make_cohort

CFG = SelectionConfig(icc_threshold=None, smote=False, steps=("univariate",))


def _frame(seed: int, n: int = 60, p: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n // 2), np.zeros(n - n // 2)].astype(int)
    X = pd.DataFrame(rng.normal(size=(n, p)) + y[:, None], columns=[f"f{j}" for j in range(p)],
                     index=[f"P{i:03d}" for i in range(n)])
    return X, y


def test_fit_predict_returns_a_frozen_fit_with_one_probability_per_row() -> None:
    X, y = _frame(0)
    fit = fit_predict("lr", {}, 0, X.iloc[:40], y[:40], X.iloc[:40], [X.iloc[40:50], X.iloc[50:]])
    assert isinstance(fit, ClassifierFit)
    assert fit.p_train.shape == (40,) and [p.shape for p in fit.p_eval] == [(10,), (10,)]
    assert ((fit.p_train >= 0) & (fit.p_train <= 1)).all()
    np.testing.assert_allclose(fit.p_eval[1], fit.model.predict_proba(X.iloc[50:].to_numpy())[:, 1])
    assert isinstance(fit.warning_texts, tuple) and fit.seconds >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.seconds = 0.0  # type: ignore[misc]


def test_fit_predict_is_seeded_and_records_warnings() -> None:
    X, y = _frame(1)
    a = fit_predict("mlp", {}, 3, X, y, X, [X])
    b = fit_predict("mlp", {}, 3, X, y, X, [X])
    c = fit_predict("mlp", {}, 4, X, y, X, [X])
    np.testing.assert_array_equal(a.p_eval[0], b.p_eval[0])
    assert not np.array_equal(a.p_eval[0], c.p_eval[0])
    # An MLP stopped after one iteration does not converge and says so.
    slow = fit_predict("mlp", {"max_iter": 1}, 0, X, y, X, [])
    assert slow.p_eval == () and any("ConvergenceWarning" in t for t in slow.warning_texts)


def test_evaluate_classifiers_keeps_each_fit_and_its_youden_threshold() -> None:
    c = make_cohort(n=80, p_rad=20, signal=1.0, seed=5)
    X = c["radiomics"].drop(columns=["label", "center"])
    y = c["y"].to_numpy()
    tr, te = np.arange(60), np.arange(60, 80)
    sel = fit_selection(X.iloc[tr], y[tr], CFG, seed=0)
    rows, probs, fits = evaluate_classifiers(sel, X.iloc[tr], y[tr], X.iloc[te], y[te],
                                             {"lr": {}, "nb": {}}, 0, keep_models=True)
    assert [r["classifier"] for r in rows] == ["lr", "nb"] and set(fits) == {"lr", "nb"}
    for row in rows:
        fit = fits[row["classifier"]]
        np.testing.assert_allclose(probs[row["classifier"]], fit.p_eval[0])
        assert row["threshold"] == youden_threshold(y[tr], fit.p_train)
    assert evaluate_classifiers(sel, X.iloc[tr], y[tr], X.iloc[te], y[te], {"lr": {}}, 0)[2] == {}


def test_prediction_frame_has_the_oof_columns_and_calls_at_the_threshold() -> None:
    df = prediction_frame("radiomics", "svm", 2, 4, pd.Index([7, 8, 9]), np.array([1.0, 0.0, 1.0]),
                          np.array([0.5, 0.49, 0.9]), 0.5)
    assert tuple(df.columns) == OOF_COLUMNS
    assert df["patient_id"].tolist() == ["7", "8", "9"]  # ids are text whatever the index holds
    assert df["pred"].tolist() == [1, 0, 1] and df["y_true"].dtype.kind == "i"
    assert set(df["repeat"]) == {2} and set(df["fold"]) == {4}
