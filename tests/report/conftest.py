"""A real (small) run folder in the tune layout, from real model fits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
from sklearn.naive_bayes import GaussianNB


def _fit_predict(model, X, y, train, test):
    model.fit(X[train], y[train])
    return model.predict_proba(X[test])[:, 1]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    rng = np.random.default_rng(5)
    n = 120
    y = (rng.random(n) < 0.43).astype(int)
    X = {"radiomics": rng.normal(size=(n, 6)) + y[:, None] * 0.6, "deep": rng.normal(size=(n, 4)) + y[:, None] * 0.3}
    X["combined"] = np.hstack([X["radiomics"], X["deep"]])
    pids = np.array([f"P{i:03d}" for i in range(n)])
    centers = np.where(np.arange(n) % 3 == 0, "C2", "C1")
    run = tmp_path_factory.mktemp("run")
    clfs = {"lr": lambda: LogisticRegression(), "nb": lambda: GaussianNB()}
    cv_rows, hold_rows, ext_rows = [], [], []
    splitter = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    for fs, data in X.items():
        for k, (tr, te) in enumerate(splitter.split(data, y)):
            for name, make in clfs.items():
                p = _fit_predict(make(), data, y, tr, te)
                from sklearn.metrics import roc_auc_score
                cv_rows.append({"feature_set": fs, "classifier": name, "repeat": k // 3, "fold": k % 3,
                                "auc": roc_auc_score(y[te], p), "accuracy": float(((p >= .5) == y[te]).mean()),
                                "sensitivity": float((p[y[te] == 1] >= .5).mean()),
                                "specificity": float((p[y[te] == 0] < .5).mean()),
                                "n_selected": data.shape[1], "selected_features": "[]", "fallback": None})
        tr, te = train_test_split(np.arange(n), test_size=0.3, stratify=y, random_state=1)
        for name, make in clfs.items():
            model = make().fit(data[tr], y[tr])
            for split, idx in (("train", tr), ("test", te)):
                for i, p in zip(idx, model.predict_proba(data[idx])[:, 1]):
                    hold_rows.append({"patient_id": pids[i], "center": centers[i], "label": y[i], "split": split,
                                      "feature_set": fs, "classifier": name, "probability": p, "threshold": 0.45})
            for c in ("C1", "C2"):
                tr_c, te_c = np.where(centers != c)[0], np.where(centers == c)[0]
                for i, p in zip(te_c, _fit_predict(make(), data, y, tr_c, te_c)):
                    ext_rows.append({"held_out_center": c, "patient_id": pids[i], "label": y[i],
                                     "feature_set": fs, "classifier": name, "probability": p})
    pd.DataFrame(cv_rows).to_parquet(run / "cv_results.parquet")
    pd.DataFrame(hold_rows).to_parquet(run / "holdout_predictions.parquet")
    pd.DataFrame(ext_rows).to_parquet(run / "external_predictions.parquet")
    pd.DataFrame({"patient_id": pids, "center": centers, "label": y,
                  "split": np.where(np.isin(np.arange(n), tr), "train", "test"),
                  "age": rng.normal(50, 10, n).round(), "ki67": np.where(rng.random(n) < .7, "high", "low")}
                 ).to_csv(run / "cohort.csv", index=False)
    (run / "selection").mkdir()
    alphas = np.logspace(-3, 0, 12)
    (run / "selection" / "radiomics.json").write_text(json.dumps({
        "steps": [{"step": "input", "n": 100}, {"step": "icc", "n": 60}, {"step": "univariate", "n": 20},
                  {"step": "lasso", "n": 6}],
        "lasso": {"alphas": alphas.tolist(), "mse_mean": (0.25 - 0.02 * np.sin(np.arange(12) / 3)).tolist(),
                  "mse_std": [0.01] * 12, "alpha_min": float(alphas[5]),
                  "coefs": {f"T2WI__original_f{i}": float(c) for i, c in enumerate(rng.normal(size=6))}}}), encoding="utf-8")
    (run / "run.json").write_text(json.dumps({
        "store": "store", "preset": "guo2024", "feature_sets": list(X), "classifiers": list(clfs),
        "repeats": 2, "folds": 3, "seed": 0, "wall_seconds": 1.0, "tables": {"radiomics": "abc"}}), encoding="utf-8")
    return run
