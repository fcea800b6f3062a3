"""run_cv: no label leakage (noise -> chance), leakage is detectable, signal is found,
one selection per fold shared by all classifiers, fallbacks recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.model import CLASSIFIER_NAMES, OOF_COLUMNS, RESULT_COLUMNS, fit_selection, run_cv
from alnm_ray.select import SelectionConfig

from .conftest import make_cohort

#: The full guo2024 pipeline (ICC -> SMOTE -> z -> univariate -> Spearman -> mRMR -> LASSO),
#: with a lighter LASSO CV (2 x 5 instead of 20 x 10) to keep the test fast.
FAST = SelectionConfig.preset("guo2024").replace(lasso_repeats=2, lasso_folds=5)
#: Cohort seeds.  A null cohort of 120 patients has chance correlations between some
#: noise feature and the labels that CV legitimately finds (per-cohort means spread
#: ~0.31-0.65); averaging over 12 cohorts (16 for the many-set test, whose stacked
#: and small sets vary more) brings the spread of the mean to ~0.02.
NULL_SEEDS = range(12)
ALL_SETS_SEEDS = range(16)
TOLERANCE = 0.05


def _radiomics(c):
    return c["radiomics"].drop(columns=["label", "center"])


@pytest.fixture(scope="module")
def null_results():
    runs = []
    for s in NULL_SEEDS:
        c = make_cohort(n=120, p_rad=200, signal=0.0, seed=1000 + s)
        out = run_cv({"radiomics": _radiomics(c)}, c["y"], CLASSIFIER_NAMES, FAST, repeats=1,
                     folds=5, seed=s, reader_table=c["reader_table"])
        runs.append(out.results.assign(cohort=s))
    return pd.concat(runs, ignore_index=True)


@pytest.mark.slow
def test_noise_gives_chance_auc_for_every_classifier(null_results):
    means = null_results.groupby("classifier").auc.mean()
    assert sorted(means.index) == sorted(CLASSIFIER_NAMES)
    off = {k: round(v, 3) for k, v in means.items() if abs(v - 0.5) >= TOLERANCE}
    assert not off, f"CV AUC on label-free data away from 0.5: {off}"


@pytest.mark.slow
def test_noise_gives_chance_for_every_feature_set_and_post_fusion():
    rows = []
    for s in ALL_SETS_SEEDS:
        c = make_cohort(n=120, p_rad=100, p_deep=40, signal=0.0, seed=2000 + s)
        sets = {"radiomics": _radiomics(c), "deep": c["deep"], "clinical": c["clinical"],
                "combined": pd.concat([_radiomics(c), c["deep"]], axis=1),
                "clinical+radiomics": pd.concat([c["clinical"], _radiomics(c)], axis=1)}
        out = run_cv(sets, c["y"], ["lr", "nb"], FAST, repeats=1, folds=5, seed=s,
                     reader_table=c["reader_table"],
                     feature_sets=["deep", "combined", "clinical", "clinical+radiomics"],
                     fusion={"post": ["clinical", "radiomics", "deep"]}, fusion_inner_folds=3)
        rows.append(out.results)
    means = pd.concat(rows).groupby(["feature_set", "classifier"]).auc.mean()
    assert len(means) == 10
    off = {k: round(v, 3) for k, v in means.items() if abs(v - 0.5) >= TOLERANCE}
    assert not off, f"CV AUC on label-free data away from 0.5: {off}"


@pytest.mark.slow
def test_selection_outside_cv_is_caught():
    """Counter-test: the same noise, selected on ALL patients before CV, looks predictive."""
    aucs = []
    no_selection = SelectionConfig(icc_threshold=None, smote=False, zscore=True, steps=())
    for s in range(3):
        c = make_cohort(n=120, p_rad=200, signal=0.0, seed=1000 + s)
        X = _radiomics(c)
        leaky = fit_selection(X, c["y"].to_numpy(), FAST, reader_table=c["reader_table"], seed=0)
        out = run_cv({"leaky": leaky.transform(X)}, c["y"], ["lr"], no_selection, repeats=1,
                     folds=5, seed=s)
        aucs.append(out.results.auc.mean())
    assert np.mean(aucs) > 0.6, aucs


@pytest.mark.slow
def test_planted_signal_is_found():
    rows = []
    for s in range(3):
        c = make_cohort(n=120, p_rad=200, signal=1.0, n_signal=5, noisy_frac=0.0, seed=3000 + s)
        rows.append(run_cv({"radiomics": _radiomics(c)}, c["y"], CLASSIFIER_NAMES, FAST,
                           repeats=1, folds=5, seed=s, reader_table=c["reader_table"]).results)
    means = pd.concat(rows).groupby("classifier").auc.mean()
    assert (means > 0.7).all(), means.round(3).to_dict()


def test_output_tables_and_shared_selection():
    c = make_cohort(n=60, p_rad=40, p_deep=20, signal=0.8, seed=5)
    sets = {"radiomics": _radiomics(c), "deep": c["deep"]}
    out = run_cv(sets, c["y"], ["lr", "knn", "nb"], FAST, repeats=2, folds=3, seed=1,
                 reader_table=c["reader_table"])
    r = out.results
    assert list(r.columns) == list(RESULT_COLUMNS)
    assert len(r) == 2 * 3 * 2 * 3  # sets x classifiers x repeats x folds
    assert r.auc.between(0, 1).all() and r.threshold.between(0, 1).all()
    # One selection per (set, repeat, fold), shared by every classifier.
    per_fold = r.groupby(["feature_set", "repeat", "fold"])
    assert (per_fold.selected_features.nunique() == 1).all()
    assert (per_fold.select_seconds.nunique() == 1).all()
    assert (per_fold.selection_seed.nunique() == 1).all()
    sel = json.loads(r.selected_features.iloc[0])
    assert len(sel) == r.n_selected.iloc[0] and all(isinstance(s, str) for s in sel)
    steps = json.loads(r.select_step_seconds.iloc[0])
    assert list(steps) == ["icc", "smote", "zscore", "univariate", "spearman", "mrmr", "lasso"]
    # OOF: every patient exactly once per (set, classifier, repeat).
    o = out.oof
    assert list(o.columns) == list(OOF_COLUMNS)
    counts = o.groupby(["feature_set", "classifier", "repeat"]).patient_id.agg(["count", "nunique"])
    assert (counts["count"] == 60).all() and (counts["nunique"] == 60).all()


def test_repeat_subset_reproduces_full_run():
    c = make_cohort(n=50, p_rad=30, signal=0.8, seed=6)
    args = ({"radiomics": _radiomics(c)}, c["y"], ["lr", "nb"], FAST)
    full = run_cv(*args, repeats=3, folds=3, seed=4, reader_table=c["reader_table"]).results
    part = run_cv(*args, repeats=3, folds=3, seed=4, repeat_indices=[2],
                  reader_table=c["reader_table"]).results
    cols = ["feature_set", "classifier", "repeat", "fold", "auc", "selected_features"]
    pd.testing.assert_frame_equal(full[full.repeat == 2][cols].reset_index(drop=True),
                                  part[cols].reset_index(drop=True))


def test_all_filtered_out_is_recorded_per_fold():
    c = make_cohort(n=60, p_rad=30, seed=7)
    strict = FAST.replace(univariate_alpha=1e-12, icc_threshold=None)
    r = run_cv({"radiomics": _radiomics(c)}, c["y"], ["lr"], strict, repeats=1, folds=3,
               seed=0).results
    for text in r.fallback:
        notes = json.loads(text)
        assert any("univariate: all" in n and "policy 'best' kept the 1 best" in n for n in notes)
    assert (r.n_selected >= 1).all()


def test_inputs_checked_before_any_fit():
    c = make_cohort(n=40, p_rad=20, seed=8)
    X = _radiomics(c)
    with pytest.raises(ConfigError, match="ICC filter .* needs the readers' rows"):
        run_cv({"radiomics": X}, c["y"], ["lr"], FAST, repeats=1, folds=2)
    with pytest.raises(SchemaMismatchError, match="1 missing"):
        run_cv({"radiomics": X.iloc[1:]}, c["y"], ["lr"], FAST, repeats=1, folds=2,
               reader_table=c["reader_table"])
    with pytest.raises(ConfigError, match="fusion 'post'"):
        run_cv({"radiomics": X}, c["y"], ["lr"], FAST, fusion={"post": ["radiomics", "deep"]},
               reader_table=c["reader_table"])
