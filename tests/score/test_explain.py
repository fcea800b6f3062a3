"""SHAP explanations of trained bundles: the right explainer, additivity, the signed background."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import BundleIntegrityError, ConfigError
from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.explain import (add_top_contributions, explain_rows, explainer_kind,
                                    permutation_importance_table, read_background)
from alnm_ray.score.train import TrainConfig, train_bundle
from alnm_ray.store import FeatureStore, to_wide


@pytest.fixture(scope="module")
def trained(tmp_path_factory, long_factory, fast_selection):
    root = tmp_path_factory.mktemp("explain")
    store = FeatureStore(root / "store")
    store.write_version("radiomics", long_factory(np.random.default_rng(5), 60),
                        params={"pyradiomics_params": {"setting": {}}})
    bundles = {}
    for clf in ("lr", "xgboost", "knn"):
        train_bundle(store, TrainConfig("radiomics", clf, selection=fast_selection, seed=1), str(root / clf),
                     explain_background=30)
        bundles[clf] = root / clf
    wide = to_wide(store.read("radiomics").to_pandas())
    return store, bundles, wide


@pytest.mark.parametrize("clf, kind, scale", [("lr", "linear", "log-odds"), ("xgboost", "tree", "log-odds"),
                                              ("knn", "permutation", "probability")])
def test_each_classifier_gets_its_explainer_and_contributions_add_up(trained, clf, kind, scale):
    _, bundles, wide = trained
    bundle = load_bundle(bundles[clf])
    rows = wide.head(12)
    expl = explain_rows(bundle, rows, max_evals=60)
    assert expl.explainer == kind == explainer_kind(clf) and expl.scale == scale
    assert list(expl.values.columns) == bundle.metadata["classifier_inputs"]
    assert expl.background_rows == 30 and list(expl.values.index) == list(rows.index)
    p = bundle.predict_proba(rows)
    np.testing.assert_allclose(expl.probability, p, rtol=1e-9)
    target = np.log(p / (1 - p)) if scale == "log-odds" else p
    np.testing.assert_allclose(expl.base_value + expl.values.sum(axis=1).to_numpy(), target, atol=1e-4)


def test_the_signal_features_carry_the_largest_contributions(trained):
    _, bundles, wide = trained
    expl = explain_rows(load_bundle(bundles["lr"]), wide)
    # the synthetic label shifts feature F0 (and F1) of both sequences
    assert expl.mean_abs().index[0].endswith("_F0")


def test_background_is_sampled_training_rows_signed_with_the_bundle(trained):
    _, bundles, _ = trained
    path = bundles["lr"]
    bundle = load_bundle(path)
    bg = read_background(bundle)
    assert bg.shape == (30, len(bundle.metadata["classifier_inputs"]))
    assert "patient_id" not in bg.columns
    assert bundle.metadata["files"]["explain_background"] == "explain_background.parquet"
    assert "explain_background.parquet" in (path / "CHECKSUMS.sha256").read_text(encoding="utf-8")


def test_an_altered_background_is_refused_before_anything_is_parsed(trained, tmp_path):
    import shutil

    _, bundles, _ = trained
    copy = tmp_path / "b"
    shutil.copytree(bundles["lr"], copy)
    frame = pd.read_parquet(copy / "explain_background.parquet")
    frame.iloc[0, 0] += 1.0
    frame.to_parquet(copy / "explain_background.parquet", index=False)
    with pytest.raises(BundleIntegrityError, match="explain_background.parquet"):
        load_bundle(copy)


def test_no_background_stores_no_training_rows_and_explain_says_how_to_get_one(trained, tmp_path, fast_selection):
    store, _, wide = trained
    train_bundle(store, TrainConfig("radiomics", "lr", selection=fast_selection), str(tmp_path / "b"),
                 explain_background=0)
    bundle = load_bundle(tmp_path / "b")
    assert not (tmp_path / "b" / "explain_background.parquet").exists()
    assert "explain_background" not in bundle.metadata["files"]
    with pytest.raises(ConfigError, match=r"--explain-background 0.*Re-train it with `alnm-ray train --explain-background"):
        explain_rows(bundle, wide.head(3))


def test_top_k_contributions_per_patient(trained):
    _, bundles, wide = trained
    bundle = load_bundle(bundles["lr"])
    rows = wide.head(8).copy()
    preds = pd.DataFrame({"cohort": rows["cohort"].astype(str).to_numpy(), "patient_id": rows.index.astype(str),
                          "probability": bundle.predict_proba(rows)})
    scored = rows.reset_index().rename(columns={"index": "patient_id"})
    out = add_top_contributions(bundle, scored, preds, 2)
    assert list(out.columns[-5:]) == ["shap_scale", "shap_feature_1", "shap_value_1", "shap_feature_2",
                                      "shap_value_2"]
    assert (out["shap_value_1"].abs() >= out["shap_value_2"].abs()).all()
    expl = explain_rows(bundle, rows)
    first = expl.values.iloc[0]
    assert out["shap_feature_1"].iloc[0] == first.abs().idxmax()
    assert add_top_contributions(bundle, scored, preds, 0) is preds


def test_permutation_importance_on_held_out_rows(trained):
    _, bundles, wide = trained
    bundle = load_bundle(bundles["lr"])
    test = wide[wide["split"] == "test"]
    table = permutation_importance_table(bundle, test, test["label"].to_numpy(), n_repeats=5)
    assert set(table["feature"]) == set(bundle.selected_features)
    assert table["auc_drop_mean"].iloc[0] > 0
    assert permutation_importance_table(bundle, test, np.zeros(len(test))) is None
