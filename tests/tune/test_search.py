"""Nested random search: seeded candidates, inner-CV ranking, per-fold choice."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alnm_ray.model.classifiers import make_classifier
from alnm_ray.tune.search import best_candidate, best_params_from_cv, choose_cv_rows, inner_auc, sample_candidates


def test_candidates_are_seeded_valid_and_json_plain() -> None:
    a = sample_candidates(["lr", "knn", "mlp", "svm"], 4, seed=3)
    assert a == sample_candidates(["lr", "knn", "mlp", "svm"], 4, seed=3)
    assert a != sample_candidates(["lr", "knn", "mlp", "svm"], 4, seed=4)
    for cand in a:
        assert 1e-3 <= cand["lr"]["C"] <= 1e2
        assert isinstance(cand["knn"]["n_neighbors"], int) and 3 <= cand["knn"]["n_neighbors"] < 31
        for name, params in cand.items():
            make_classifier(name, seed=0, **params)  # every drawn value is accepted


def test_inner_auc_separates_signal_from_noise() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    X = pd.DataFrame(rng.normal(size=(80, 3)))
    assert 0.3 < inner_auc("lr", {}, X, y, 3, seed=0) < 0.7
    X[0] += 3 * y
    assert inner_auc("lr", {}, X, y, 3, seed=0) > 0.95
    assert np.isnan(inner_auc("lr", {}, X.iloc[:41], y[:41], 3, seed=0))  # one positive row only


def test_choice_keeps_the_best_inner_candidate_per_fold() -> None:
    rows = pd.DataFrame({"feature_set": "r", "classifier": "lr", "repeat": 0, "fold": [0, 0, 1, 1],
                         "candidate": [0, 1, 0, 1], "inner_auc": [0.6, 0.7, np.nan, 0.55],
                         "auc": [0.1, 0.2, 0.3, 0.4]})
    oof = pd.DataFrame({"feature_set": "r", "classifier": "lr", "repeat": 0, "fold": [0, 0, 1, 1],
                        "candidate": [0, 1, 0, 1], "patient_id": ["a", "a", "b", "b"]})
    best, kept = choose_cv_rows(rows, oof)
    assert best["candidate"].tolist() == [1, 1] and best["auc"].tolist() == [0.2, 0.4]
    assert kept["candidate"].tolist() == [1, 1]
    assert best_candidate([np.nan, np.nan]) == 0 and best_candidate([0.5, 0.7, 0.7]) == 1
    params = best_params_from_cv(rows, [{"lr": {"C": 1}}, {"lr": {"C": 2}}])
    assert params == {"r/lr": {"C": 2}}


def test_knn_neighbours_are_capped_to_the_training_rows() -> None:
    from alnm_ray.tune.search import feasible

    assert feasible("knn", {"n_neighbors": 26, "weights": "distance"}, 20) == {"n_neighbors": 20, "weights": "distance"}
    assert feasible("lr", {"C": 3.0}, 5) == {"C": 3.0}
    rng = np.random.default_rng(1)
    X, y = pd.DataFrame(rng.normal(size=(18, 2))), np.r_[np.zeros(9), np.ones(9)].astype(int)
    assert np.isfinite(inner_auc("knn", {"n_neighbors": 30}, X, y, 3, seed=0))
