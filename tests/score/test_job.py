"""Scoring stored features end to end on a real local Ray (one cluster for the module)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import SchemaMismatchError
from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.job import PREDICTION_COLUMNS, ScoreOptions, score_features
from alnm_ray.score.train import TrainConfig, train_bundle
from alnm_ray.store import FeatureStore, query, to_wide

pytestmark = [pytest.mark.ray, pytest.mark.slow]
OPTS = ScoreOptions(n_boot=200, batch_size=16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, long_factory, fast_selection, ray_local):
    """A store with a training cohort and two external ones, and a bundle trained on it."""
    root = tmp_path_factory.mktemp("job")
    rng = np.random.default_rng(5)
    store = FeatureStore(root / "store")
    train = long_factory(rng, 60)
    store.write_version("radiomics", train)
    train_bundle(store, TrainConfig("radiomics", "lr", selection=fast_selection), str(root / "bundle"))
    ext = pd.concat([train, long_factory(rng, 80, cohort="ext1", center="c7", repeat_readers=0, split=False),
                     long_factory(rng, 80, cohort="ext2", center="c8", shift=2.0, repeat_readers=0,
                                  split=False, labels=False)], ignore_index=True)
    version = store.write_version("radiomics", ext).version
    return store, root / "bundle", version, root


def test_stored_features_are_scored_into_a_predictions_version_readable_by_sql(trained):
    store, bundle_dir, version, root = trained
    result = score_features(str(bundle_dir), store, [f"radiomics@{version[:10]}"], out=str(root / "p1.parquet"),
                            options=ScoreOptions(n_boot=200, batch_size=16, cohorts=("ext1",)))
    bundle = load_bundle(bundle_dir)
    assert result.rows_in == 80 and len(result.predictions) == 80 and len(result.errors) == 0
    written = pd.read_parquet(root / "p1.parquet")
    assert list(written.columns) == list(PREDICTION_COLUMNS)
    # the same probabilities as the bundle computes in-process (several Ray batches, order restored)
    wide = to_wide(store.read("radiomics", version).to_pandas().query("cohort == 'ext1'"))
    expected = bundle.predict_proba(wide.loc[written["patient_id"]])
    np.testing.assert_allclose(written["probability"], expected, rtol=0, atol=1e-12)
    assert (written["predicted_label"] == (expected >= bundle.threshold).astype(int)).all()
    assert (written["bundle_id"] == bundle.bundle_id).all() and written["label"].notna().all()
    table = query(store, "SELECT cohort, count(*) AS n, max(bundle_id) AS b FROM predictions GROUP BY cohort")
    assert table.to_pylist() == [{"cohort": "ext1", "n": 80, "b": bundle.bundle_id}]
    info = store.latest("predictions")
    assert info.version == result.version and info.lineage["bundle_id"] == bundle.bundle_id
    at = query(store, f"SELECT count(*) AS n FROM table_at('predictions', '{result.version[:12]}')")
    assert at.to_pylist() == [{"n": 80}]


def test_external_validation_summary_is_printed_and_saved_for_labelled_cohorts(trained):
    store, bundle_dir, version, root = trained
    before = store.latest("predictions")
    result = score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "v.parquet"),
                            options=ScoreOptions(n_boot=200, cohorts=("ext1", "ext2")))
    assert set(result.validation) == {"ext1"}  # ext2 has no labels
    model = result.validation["ext1"]["models"][load_bundle(bundle_dir).bundle_id]
    assert model["n"] == 80 and 0.5 < model["auc"] <= 1.0 and model["threshold_source"] == "given"
    low, high = model["auc_ci_delong"]
    assert low < model["auc"] < high
    saved = json.loads((root / "v.validation.json").read_text(encoding="utf-8"))
    assert saved["cohorts"]["ext1"]["models"][result.bundle_id]["auc"] == pytest.approx(model["auc"])
    table = pd.read_csv(root / "v.validation.csv")
    assert table["cohort"].tolist() == ["ext1"] and {"sensitivity", "specificity", "auc_ci_low"} <= set(table)
    assert "| ext1 |" in (root / "v.validation.md").read_text(encoding="utf-8")
    # the shifted, unlabelled cohort is flagged for drift; the unshifted one is not
    drift = result.drift
    shifted = drift[(drift["cohort"] == "ext2") & drift["feature"].str.endswith("F0")]
    assert shifted["flagged"].all() and not drift[drift["cohort"] == "ext1"]["flagged"].any()
    assert (root / "v.drift.csv").is_file() and (root / "v.drift.md").is_file()
    # re-scoring ext1 replaced this bundle's earlier ext1 rows instead of adding to them
    after = store.latest("predictions")
    assert before is None or after.parent == before.version
    counts = query(store, "SELECT cohort, count(*) AS n, count(DISTINCT patient_id) AS d FROM predictions "
                          "GROUP BY cohort ORDER BY cohort").to_pylist()
    assert counts == [{"cohort": "ext1", "n": 80, "d": 80}, {"cohort": "ext2", "n": 80, "d": 80}]


def test_rows_in_equal_predictions_plus_errors_with_failing_cases(trained, long_factory):
    store, bundle_dir, _, root = trained
    bundle = load_bundle(bundle_dir)
    rng = np.random.default_rng(9)
    long = long_factory(rng, 30, cohort="ext3", center="c9", repeat_readers=0, split=False)
    used = bundle.selected_features[0]
    seq, feat = used.split("__")
    long.loc[(long["patient_id"] == "ext3-0002") & (long["sequence"] == seq), feat] = np.nan
    long = long[~((long["patient_id"] == "ext3-0005") & (long["sequence"] == seq))]  # its extraction failed
    failure = pd.DataFrame([{"stage": "extract", "cohort": "ext3", "center": "c9", "patient_id": "ext3-0005",
                             "sequence": seq, "reader": "A", "error_type": "ExtractionError",
                             "message": "ext3-0005/T2WI/A: the mask is empty"}])
    version = store.write_version("radiomics", long, errors=failure).version
    result = score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "e.parquet"),
                            options=OPTS)
    assert result.rows_in == 30 == len(result.predictions) + len(result.errors)
    errors = result.errors.set_index("patient_id")
    assert sorted(errors.index) == ["ext3-0002", "ext3-0005"]
    assert errors.loc["ext3-0002", "error_type"] == "NonFiniteFeatures" and used in errors.loc["ext3-0002", "message"]
    assert errors.loc["ext3-0002", "stage"] == "score"
    missing = errors.loc["ext3-0005"]
    assert (missing["stage"], missing["error_type"]) == ("extract", "ExtractionError")
    assert missing["message"].startswith(f"ext3-0005: no radiomics {seq} features for reader A")
    assert "the mask is empty" in missing["message"]
    stored = query(store, "SELECT patient_id, error_type FROM errors WHERE \"table\" = 'predictions' "
                          "ORDER BY patient_id").to_pylist()
    assert [r["patient_id"] for r in stored] == ["ext3-0002", "ext3-0005"]
    assert pd.read_csv(root / "e.errors.csv")["patient_id"].tolist() == sorted(errors.index)


def test_feature_schema_mismatch_names_the_features(trained, long_factory):
    store, bundle_dir, _, root = trained
    rng = np.random.default_rng(3)
    long = long_factory(rng, 12, cohort="ext4", repeat_readers=0, split=False)
    long = long.rename(columns={"original_firstorder_F3": "original_firstorder_Renamed"})
    version = store.write_version("radiomics", long).version
    with pytest.raises(SchemaMismatchError) as err:
        score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "s.parquet"),
                       options=OPTS)
    text = str(err.value)
    assert text.startswith(f"cohort 'ext4' (radiomics@{version[:12]}")
    assert "2 missing: T2WI__original_firstorder_F3, ADC__original_firstorder_F3" in text
    assert "2 extra: T2WI__original_firstorder_Renamed, ADC__original_firstorder_Renamed" in text


def test_in_process_and_ray_paths_give_the_same_results(trained, monkeypatch):
    store, bundle_dir, version, root = trained
    opts = ScoreOptions(n_boot=200, batch_size=16, cohorts=("ext1", "ext2"), write_store=False)
    results = {}
    for path, limit in (("local", "1000000"), ("ray", "0")):  # the size below which no Ray is used
        monkeypatch.setenv("ALNM_RAY_SCORE_LOCAL_MAX_ROWS", limit)
        monkeypatch.setenv("ALNM_RAY_SCORE_PARTITION_ROWS", "50")  # several partitions either way
        results[path] = score_features(str(bundle_dir), store, [f"radiomics@{version}"],
                                       out=str(root / f"{path}.parquet"), options=opts)
    local, ray = results["local"], results["ray"]
    assert local.rows_in == ray.rows_in == 160 and len(local.predictions) == len(ray.predictions) == 160
    columns = ["cohort", "center", "patient_id", "label", "predicted_label", "threshold", "bundle_id"]
    pd.testing.assert_frame_equal(local.predictions[columns], ray.predictions[columns])
    np.testing.assert_allclose(local.predictions["probability"], ray.predictions["probability"], rtol=0, atol=1e-12)
    assert local.validation["ext1"]["models"][local.bundle_id]["auc"] == pytest.approx(
        ray.validation["ext1"]["models"][ray.bundle_id]["auc"], abs=1e-12)
    on_disk = {p: pd.read_parquet(root / f"{p}.parquet").sort_values(["cohort", "patient_id"]) for p in results}
    np.testing.assert_allclose(on_disk["local"]["probability"], on_disk["ray"]["probability"], rtol=0, atol=1e-12)


def test_the_ray_pool_scores_chunks_as_they_come_with_a_bounded_number_in_flight(trained, tmp_path):
    """Chunks go to the actors while the next are assembled; never more than two per actor in flight."""
    from alnm_ray.score._execution import IN_FLIGHT_PER_ACTOR, PredictionSink, RayPool
    from alnm_ray.score.bundle import read_bundle_files
    from alnm_ray.score.predict import score_chunk

    store, bundle_dir, version, root = trained
    bundle = load_bundle(bundle_dir)
    wide = to_wide(store.read("radiomics", version).to_pandas().query("cohort == 'ext1'"))
    rows = wide[bundle.features].reset_index()
    rows.insert(0, "center", wide["center"].astype(str).to_numpy())
    rows.insert(0, "cohort", "ext1")
    rows["_label"] = wide["label"].to_numpy(dtype=float)
    sink = PredictionSink(tmp_path / "pool.parquet", bundle, PREDICTION_COLUMNS, "2026-01-01T00:00:00+00:00")
    pool = RayPool(read_bundle_files(bundle_dir), len(rows), batch_size=4, max_actors=1, explain=0, seed=0)
    assert len(pool.actors) == 1
    for i in range(0, len(rows), 10):  # partitions of 10 rows: 3 chunks each
        pool.add(rows.iloc[i:i + 10], sink)
        assert len(pool.pending) <= IN_FLIGHT_PER_ACTOR
    pool.finish(sink)
    assert sink.close() == 80 and pool.rows == 80 and not pool.actors
    got = pd.read_parquet(tmp_path / "pool.parquet").set_index("patient_id").sort_index()
    expected = score_chunk(bundle, rows).set_index("patient_id").sort_index()
    np.testing.assert_allclose(got["probability"], expected["probability"], rtol=0, atol=1e-15)
    assert got["label"].tolist() == expected["label"].tolist()
