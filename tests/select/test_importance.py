"""Gradient-boosting importance: fixed top-k and k chosen from the inner-CV performance curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, FallbackWarning
from alnm_ray.select import ImportanceSelector, SelectionConfig, build_selection_pipeline


def test_planted_features_rank_first(rng):
    n = 200
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, 30)), columns=[f"T2WI__deep_{j:03d}" for j in range(30)])
    X["T2WI__deep_004"] += 2 * y
    X["T2WI__deep_017"] -= 2 * y
    f = ImportanceSelector(k=2, seed=0, max_features=None).fit(X, y)
    assert f.selected_features_ == ["T2WI__deep_004", "T2WI__deep_017"]
    assert f.importances_.shape == (30,)


def test_k_and_seed(rng):
    n = 120
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, 40)))
    X.columns = [f"f{j}" for j in range(40)]
    a = ImportanceSelector(k=5, seed=1).fit(X, y)
    b = ImportanceSelector(k=5, seed=1).fit(X, y)
    assert len(a.selected_features_) == 5
    assert a.selected_features_ == b.selected_features_
    np.testing.assert_array_equal(a.importances_, b.importances_)


def _planted(rng, n=160, p=30):
    y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(int)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"T2WI__deep_{j:03d}" for j in range(p)])
    for j in (j for j in (2, 11, 23) if j < p):
        X.iloc[:, j] += 1.2 * y
    return X, y


def test_k_from_the_curve_is_the_smallest_k_with_the_best_inner_cv_auc(rng):
    X, y = _planted(rng)
    f = ImportanceSelector(k="curve", curve_max_k=10, seed=0).fit(X, y)
    curve = f.curve_
    assert list(curve.columns) == ["k", "auc", "auc_se"]
    assert curve["k"].tolist() == list(range(1, 11))
    assert ((curve["auc"] > 0) & (curve["auc"] <= 1) & (curve["auc_se"] >= 0)).all()
    best = curve["auc"].max()
    assert f.k_ == curve.loc[curve["auc"] == best, "k"].min()
    assert len(f.selected_features_) == f.k_
    # the three planted features carry the signal: the curve rises until they are all in
    assert curve.loc[curve["k"] == 3, "auc"].item() > curve.loc[curve["k"] == 1, "auc"].item()
    assert f.k_ >= 2
    ranked = np.argsort(-f.importances_, kind="stable")[:3]
    assert {X.columns[j] for j in ranked} == {"T2WI__deep_002", "T2WI__deep_011", "T2WI__deep_023"}


def test_one_se_rule_never_picks_a_larger_k_and_seed_is_reproducible(rng):
    X, y = _planted(rng)
    best = ImportanceSelector(k="curve", curve_max_k=8, seed=4).fit(X, y)
    one_se = ImportanceSelector(k="curve", curve_max_k=8, curve_rule="1se", seed=4).fit(X, y)
    pd.testing.assert_frame_equal(best.curve_, one_se.curve_)
    top = best.curve_["auc"].max() - best.curve_.loc[best.curve_["k"] == best.k_, "auc_se"].item()
    assert one_se.k_ == best.curve_.loc[best.curve_["auc"] >= top, "k"].min() <= best.k_
    again = ImportanceSelector(k="curve", curve_max_k=8, seed=4).fit(X, y)
    pd.testing.assert_frame_equal(again.curve_, best.curve_)
    assert again.selected_features_ == best.selected_features_


def test_fixed_k_has_no_curve(rng):
    X, y = _planted(rng, n=80, p=12)
    f = ImportanceSelector(k=4, seed=0).fit(X, y)
    assert f.curve_ is None and f.k_ == 4


def test_curve_inside_cv_scores_label_free_data_at_chance(rng):
    """The curve and the ranking see only each outer training fold: noise stays at AUC ~0.5."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import Pipeline

    n, p = 120, 60
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j}" for j in range(p)])
    y = rng.permutation(np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(int))
    model = Pipeline([("importance", ImportanceSelector(k="curve", curve_max_k=10, seed=0)),
                      ("lr", LogisticRegression())])
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    in_fold = cross_val_score(model, X, y, cv=cv, scoring="roc_auc").mean()
    assert abs(in_fold - 0.5) < 0.12
    # Contrast: choosing features and k on every row first leaks the labels into the CV estimate.
    leaked = ImportanceSelector(k="curve", curve_max_k=10, seed=0).fit(X, y)
    leaky = cross_val_score(LogisticRegression(), leaked.transform(X), y, cv=cv, scoring="roc_auc")
    assert leaky.mean() > in_fold + 0.1


def test_too_few_minority_rows_for_the_curve_fall_back_to_curve_max_k(rng):
    X, y = _planted(rng, n=40, p=8)
    y = np.zeros(40, dtype=int)
    y[0] = 1
    with pytest.warns(FallbackWarning, match="no inner CV for the k curve"):
        f = ImportanceSelector(k="curve", curve_max_k=5, seed=0).fit(X, y)
    assert f.curve_ is None and f.k_ == 5


@pytest.mark.parametrize(("k", "message"), [("curv", "Did you mean 'curve'"), (0, r"expected a value in \[1"),
                                            (True, "expected a positive int or 'curve'")])
def test_bad_k_is_explained(k, message, rng):
    X, y = _planted(rng, n=40, p=6)
    with pytest.raises(ConfigError, match=message):
        ImportanceSelector(k=k).fit(X, y)
    with pytest.raises(ConfigError, match=f"importance_k: .*{message}"):
        SelectionConfig(importance_k=k)


def test_config_passes_the_curve_settings_to_the_step():
    cfg = SelectionConfig(icc_threshold=None, smote=False, steps=("importance",), importance_k="curve",
                          importance_curve_max_k=7, importance_curve_folds=3, importance_curve_rule="1se")
    step = build_selection_pipeline(cfg, seed=9).named_steps["importance"]
    assert (step.k, step.curve_max_k, step.curve_folds, step.curve_rule, step.seed) == ("curve", 7, 3, "1se", 9)
    assert SelectionConfig.from_yaml(cfg.to_yaml()) == cfg
    assert cfg.config_hash() != cfg.replace(importance_k=7).config_hash()
    with pytest.raises(ConfigError, match="importance_curve_rule: .*Did you mean '1se'"):
        cfg.replace(importance_curve_rule="1SE ")
