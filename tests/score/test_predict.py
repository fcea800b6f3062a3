"""Scoring batches in-process: non-finite features, per-row isolation of failures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alnm_ray.score.bundle import load_bundle, read_bundle_files
from alnm_ray.score.predict import OUTPUT_COLUMNS, BundleScorer, plan_pool, score_batch


def _batch(X: pd.DataFrame) -> pd.DataFrame:
    batch = X.reset_index()
    batch.insert(0, "center", "c1")
    batch.insert(0, "cohort", "ext")
    return batch


def test_scorer_loads_the_bundle_from_bytes_and_matches_the_model(bundle_dir, train_data, fitted):
    X, _ = train_data
    scorer = BundleScorer(read_bundle_files(bundle_dir))
    out = scorer(_batch(X))
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    np.testing.assert_allclose(out["probability"], fitted.predict_proba(X)[:, 1], rtol=0, atol=0)
    expected = (fitted.predict_proba(X)[:, 1] >= 0.5).astype(int)
    assert (out["predicted_label"].to_numpy() == expected).all() and (out["error_type"] == "").all()
    assert out["patient_id"].tolist() == list(X.index)


def test_nan_in_a_used_feature_is_an_error_row_and_in_an_unused_one_is_ignored(bundle_dir, train_data):
    X, _ = train_data
    bundle = load_bundle(bundle_dir)
    used = bundle.selected_features[0]
    unused = next(f for f in bundle.features if f not in bundle.selected_features)
    batch = _batch(X.head(6))
    reference = score_batch(bundle, batch)
    batch.loc[1, used] = np.nan
    batch.loc[2, unused] = np.inf
    out = score_batch(bundle, batch)
    assert out.loc[1, "error_type"] == "NonFiniteFeatures" and np.isnan(out.loc[1, "probability"])
    assert out.loc[1, "predicted_label"] == -1 and used in out.loc[1, "message"]
    assert out.loc[1, "message"].startswith(f"{X.index[1]}: expected finite values")
    assert out.loc[2, "error_type"] == "" and out.loc[2, "probability"] == reference.loc[2, "probability"]
    assert (out.drop(index=1)["error_type"] == "").all()


def test_a_row_the_model_rejects_fails_alone(bundle_dir, train_data):
    X, _ = train_data
    bundle = load_bundle(bundle_dir)
    batch = _batch(X.head(5)).astype({bundle.features[0]: object})
    batch.at[3, bundle.features[0]] = "not a number"  # passes the finite check as text, fails in the model
    out = score_batch(bundle, batch)
    assert out.loc[3, "error_type"] != "" and "prediction failed" in out.loc[3, "message"]
    assert (out.drop(index=3)["error_type"] == "").all()
    assert out.drop(index=3)["probability"].notna().all()


def test_pool_leaves_a_cpu_for_reading_and_never_exceeds_the_batches():
    assert plan_pool(10, cpus=2).max_size == 1  # one actor, one CPU left for the other stages
    assert plan_pool(10, cpus=16).max_size == 10
    assert plan_pool(3, cpus=16).max_size == 3
    assert plan_pool(10, cpus=16, max_actors=4).max_size == 4
    assert plan_pool(10, cpus=16, num_cpus=4).max_size == 3
