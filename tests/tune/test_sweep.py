"""Sweeps through the real Ray Tune path: outputs, store tables, report, resume, chance, signal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alnm_ray.report import build_report
from alnm_ray.store import query
from alnm_ray.tune import TuneRunConfig, run_sweep

pytestmark = pytest.mark.ray

FAST = {"preset": "guo2024", "lasso_repeats": 2, "lasso_folds": 3}


def config(store, **kw) -> TuneRunConfig:
    base = dict(store=store.uri, repeats=2, folds=3, classifiers=("lr", "nb", "knn"), selection=FAST,
                quiet=True)
    return TuneRunConfig(**{**base, **kw})


@pytest.mark.slow
def test_full_sweep_writes_run_folder_store_tables_and_a_report(ray_local, tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=60, signal=0.8)
    cfg = config(made["store"], feature_sets=("radiomics", "combined", "post:clinical+deep"),
                 fusion_inner_folds=3)
    res = run_sweep(cfg, tmp_path / "run")
    run = tmp_path / "run"
    assert res.complete and res.computed == len(res.units) and res.reused == 0
    cv = pd.read_parquet(run / "cv_results.parquet")
    assert len(cv) == 3 * 3 * 2 * 3  # sets x classifiers x repeats x folds
    assert set(cv.feature_set) == {"radiomics", "combined", "post:clinical+deep"}
    for col in ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "precision", "recall",
                "f1", "threshold", "n_selected", "selected_features", "fallback", "fit_seconds"):
        assert col in cv.columns
    oof = pd.read_parquet(run / "oof_predictions.parquet")
    train = set(res.inputs.train_ids)
    per_fold = oof.groupby(["feature_set", "classifier", "repeat"])["patient_id"]
    assert (per_fold.nunique() == len(train)).all() and set(oof.patient_id) == train
    summary = pd.read_csv(run / "summary.csv")
    assert len(summary) == 9 and {"auc_mean", "auc_sd", "f1_mean"} <= set(summary.columns)
    hold = pd.read_parquet(run / "holdout_predictions.parquet")
    assert set(hold.loc[hold.split == "test", "patient_id"]) == set(res.inputs.test_ids)
    ext = pd.read_parquet(run / "external_predictions.parquet")
    assert set(ext.held_out_center) == {"C1", "C2"} and len(ext) == 60 * 9
    assert sorted(p.name for p in (run / "selection").iterdir()) == ["combined.json", "radiomics.json"]
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert meta["tables"] == res.inputs.table_versions and meta["repeats"] == 2
    assert meta["holdout"]["test_patients"] == res.inputs.test_ids
    assert meta["store_versions"]["cv_results"] == res.run_id
    metrics = json.loads((run / "holdout_metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["evaluation"]) == {"radiomics", "combined", "post:clinical+deep"}
    got = query(made["store"], "SELECT feature_set, classifier, avg(auc) AS auc, count(*) AS n "
                               "FROM cv_results GROUP BY ALL").to_pandas()
    assert len(got) == 9 and (got["n"] == 6).all()
    assert query(made["store"], "SELECT count(*) AS n FROM oof_predictions").column("n")[0].as_py() == len(oof)
    html = build_report(run, tmp_path / "report.html", n_boot=20)
    text = html.read_text(encoding="utf-8")
    assert "Cross-validation" in text and "External validation by centre" in text
    importance = pd.read_csv(run / "holdout_permutation_importance.csv")  # plain sets' hold-out models
    assert set(importance.feature_set) == {"radiomics", "combined"} and set(importance.classifier) == {"lr", "nb", "knn"}
    assert "<h2>Permutation importance (hold-out test set)</h2>" in text


def test_interrupted_sweep_resumes_only_missing_units(ray_local, tmp_path, tiny_store) -> None:
    from alnm_ray.model import run_cv

    made = tiny_store(tmp_path / "s", n=40)
    cfg = config(made["store"], feature_sets=("deep", "clinical"), classifiers=("lr",), repeats=3,
                 chunk=1, external=False)
    first = run_sweep(cfg.replace(max_trials=3), tmp_path / "run")
    total = len(first.units)
    assert (first.computed, first.reused, first.complete) == (3, 0, False)
    assert not (tmp_path / "run" / "cv_results.parquet").exists()
    second = run_sweep(cfg, tmp_path / "run")
    assert (second.computed, second.reused, second.complete) == (total - 3, 3, True)
    third = run_sweep(cfg, tmp_path / "run")
    assert (third.computed, third.reused) == (0, total)
    # The resumed sweep holds exactly the rows of one uninterrupted pass.
    got = pd.read_parquet(tmp_path / "run" / "cv_results.parquet")
    ids = second.inputs.train_ids
    ref = run_cv({k: v.loc[ids] for k, v in second.inputs.sets.items()}, second.inputs.y.loc[ids],
                 ["lr"], cfg.selection_config(), repeats=3, folds=3, seed=0).results
    key = ["feature_set", "repeat", "fold"]
    np.testing.assert_allclose(got.sort_values(key)["auc"], ref.sort_values(key)["auc"])


@pytest.mark.slow
def test_null_signal_scores_at_chance_in_cv_and_holdout(ray_local, tmp_path, tiny_store) -> None:
    # Each cohort's CV AUC on noise legitimately spreads (~0.05 SD: chance correlations);
    # four independent null sets x three cohorts bring the SD of the mean to ~0.02.
    # cv_on="all" keeps folds large: tiny training folds bias CV AUC below 0.5 on noise
    # (a known small-sample effect, ~0.05 with 60 patients in 3 folds).
    cv_aucs, hold_aucs = [], []
    for seed in (11, 12, 13):
        made = tiny_store(tmp_path / f"s{seed}", n=120, signal=0.0, seed=seed, p_rad=20, p_deep=20,
                          null_tables=2)
        cfg = config(made["store"], feature_sets=("radiomics", "deep", "combined", "null_0", "null_1"),
                     seed=seed, repeats=1, folds=5, cv_on="all", external=False)
        run_sweep(cfg, tmp_path / f"run{seed}")
        cv_aucs.append(pd.read_parquet(tmp_path / f"run{seed}" / "cv_results.parquet"))
        hold_aucs.append(pd.DataFrame(json.loads(
            (tmp_path / f"run{seed}" / "holdout_metrics.json").read_text(encoding="utf-8"))["results"]))
    cv, hold = pd.concat(cv_aucs), pd.concat(hold_aucs)
    assert abs(cv["auc"].mean() - 0.5) < 0.05, cv["auc"].mean()
    for key in ("feature_set", "classifier"):
        means = cv.groupby(key)["auc"].mean()
        assert (means.sub(0.5).abs() < 0.07).all(), means.to_dict()
    assert len(hold) == 3 * 5 * 3
    assert abs(hold["auc"].mean() - 0.5) < 0.07, hold.groupby("feature_set")["auc"].mean().to_dict()


def test_combined_set_approaches_the_oracle_auc(ray_local, tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=150, signal=0.7, p_rad=20, p_deep=20, seed=5)
    cfg = config(made["store"], feature_sets=("radiomics", "combined"), classifiers=("lr", "nb"),
                 holdout=False, external=False)
    run_sweep(cfg, tmp_path / "run")
    auc = pd.read_parquet(tmp_path / "run" / "cv_results.parquet").groupby("feature_set")["auc"].mean()
    oracle = made["oracle"]
    assert oracle["combined"] > oracle["radiomics"] + 0.05
    assert auc["combined"] > oracle["combined"] - 0.08, (auc.to_dict(), oracle)
    assert auc["combined"] > auc["radiomics"]


@pytest.mark.slow
def test_random_search_keeps_one_candidate_per_fold(ray_local, tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=40, signal=0.8)
    cfg = config(made["store"], feature_sets=("deep",), classifiers=("knn", "lr"), search="random",
                 samples=2, external=False)
    res = run_sweep(cfg, tmp_path / "run")
    cv = pd.read_parquet(tmp_path / "run" / "cv_results.parquet")
    every = pd.read_parquet(tmp_path / "run" / "search_results.parquet")
    assert len(cv) == 2 * 2 * 3 and len(every) == 2 * len(cv)
    assert not cv.duplicated(["feature_set", "classifier", "repeat", "fold"]).any()
    best = every.loc[every.groupby(["classifier", "repeat", "fold"])["inner_auc"].idxmax()]
    assert (best.sort_values(["classifier", "repeat", "fold"])["inner_auc"].to_numpy()
            >= cv.sort_values(["classifier", "repeat", "fold"])["inner_auc"].to_numpy() - 1e-12).all()
    meta = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert set(meta["best_params"]) == {"deep/knn", "deep/lr"} and len(meta["search"]["candidates"]) == 2
    assert {u.candidate for u in res.units if u.kind == "cv"} == {0, 1}


def test_run_folder_must_be_new_or_hold_the_same_sweep(tmp_path) -> None:
    from alnm_ray.exceptions import ConfigError
    from alnm_ray.tune.sweep import SWEEP_FILE, check_run_dir

    assert check_run_dir(tmp_path / "new", "a" * 64) is False
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a tune run folder"):
        check_run_dir(tmp_path / "foreign", "a" * 64)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / SWEEP_FILE).write_text(json.dumps({"run_id": "a" * 64}), encoding="utf-8")
    (tmp_path / "run" / "alnm-ray.log").write_text("", encoding="utf-8")
    assert check_run_dir(tmp_path / "run", "a" * 64) is False
    with pytest.raises(ConfigError, match="--overwrite"):
        check_run_dir(tmp_path / "run", "b" * 64)
    assert check_run_dir(tmp_path / "run", "b" * 64, overwrite=True) is True
