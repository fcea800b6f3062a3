"""Streaming stored features into scoring: partitions, projection, files written by appends and merges.

No Ray here: these runs are below the in-process size, and one test checks Ray is never started.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.job import ScoreOptions, score_features
from alnm_ray.score.sources import feature_sources
from alnm_ray.score.train import TrainConfig, train_bundle
from alnm_ray.store import FeatureStore, to_wide

pytestmark = [pytest.mark.slow]
OPTS = ScoreOptions(n_boot=100, batch_size=16, write_store=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, long_factory, fast_selection):
    """A store with a training cohort plus two new ones (one row per patient x sequence), and a bundle."""
    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(11)
    store = FeatureStore(root / "store")
    train = long_factory(rng, 60)
    store.write_version("radiomics", train)
    train_bundle(store, TrainConfig("radiomics", "lr", selection=fast_selection), str(root / "bundle"))
    new = pd.concat([long_factory(rng, 45, cohort="ext1", center="c7", repeat_readers=0, split=False),
                     long_factory(rng, 30, cohort="ext2", center="c8", repeat_readers=0, split=False)],
                    ignore_index=True)
    version = store.write_version("radiomics", pd.concat([train, new], ignore_index=True)).version
    return store, root / "bundle", version, root


def _expected(store, bundle, version, cohorts):
    wide = to_wide(store.read("radiomics", version).to_pandas().query("cohort in @cohorts"))
    return pd.Series(bundle.predict_proba(wide[bundle.features]), index=wide.index.astype(str))


def test_many_tiny_partitions_give_the_predictions_of_one(trained, monkeypatch):
    store, bundle_dir, version, root = trained
    opts = ScoreOptions(n_boot=100, batch_size=16, write_store=False, cohorts=("ext1", "ext2"))
    one = score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "one.parquet"),
                         options=opts)
    monkeypatch.setenv("ALNM_RAY_SCORE_PARTITION_ROWS", "7")
    (source,) = feature_sources(store, load_bundle(bundle_dir), [f"radiomics@{version}"], stream=True,
                                cohorts=("ext1", "ext2"))
    parts = [set(t.longs["radiomics"]["patient_id"]) for t in source.partitions()]
    assert len(parts) > 5 and sum(map(len, parts)) == 75 == len(set().union(*parts))  # each patient once
    many = score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "many.parquet"),
                          options=opts)
    assert many.rows_in == one.rows_in == 75 and len(many.errors) == 0
    # the same rows; probabilities equal up to BLAS summation order (batches hold other patients)
    pd.testing.assert_frame_equal(many.predictions.drop(columns=["scored_at", "probability"]),
                                  one.predictions.drop(columns=["scored_at", "probability"]))
    np.testing.assert_allclose(many.predictions["probability"], one.predictions["probability"], rtol=0, atol=1e-12)
    written = pd.read_parquet(root / "many.parquet").sort_values(["cohort", "patient_id"]).reset_index(drop=True)
    np.testing.assert_allclose(written["probability"], one.predictions["probability"], rtol=0, atol=1e-12)
    expected = _expected(store, load_bundle(bundle_dir), version, ["ext1", "ext2"])
    np.testing.assert_allclose(one.predictions["probability"], expected.loc[one.predictions["patient_id"]],
                               rtol=0, atol=1e-12)
    # the drift report is the same (every patient is in the sample below DRIFT_SAMPLE_ROWS)
    cols = ["cohort", "feature", "psi", "ks_pvalue", "flagged"]
    key = ["cohort", "feature"]
    pd.testing.assert_frame_equal(many.drift[cols].sort_values(key).reset_index(drop=True),
                                  one.drift[cols].sort_values(key).reset_index(drop=True))


def test_patients_with_rows_in_several_files_from_appends_and_merges_are_widened_whole(
        tmp_path, trained, long_factory, monkeypatch):
    _, bundle_dir, _, _ = trained
    bundle = load_bundle(bundle_dir)
    store = FeatureStore(tmp_path / "store")
    full = long_factory(np.random.default_rng(4), 24, cohort="ext5", center="c5", repeat_readers=0, split=False)
    t2 = full[full["sequence"] == "T2WI"].reset_index(drop=True)
    first = store.write_version("radiomics", t2)
    # the ADC rows are appended, then some T2WI rows are re-extracted (a merge by key)
    grown = pd.concat([t2, full[full["sequence"] == "ADC"]], ignore_index=True)
    second = store.write_version("radiomics", grown, version_id="a" * 64, parent=first.version,
                                 changed=np.r_[np.zeros(len(t2), bool), np.ones(len(grown) - len(t2), bool)])
    redone = grown.copy()
    again = (redone["sequence"] == "T2WI") & redone["patient_id"].isin(["ext5-0001", "ext5-0007", "ext5-0019"])
    redone.loc[again, "original_firstorder_F0"] += 0.5
    third = store.write_version("radiomics", redone, version_id="b" * 64, parent=second.version,
                                changed=again.to_numpy())
    assert (second.mode, third.mode) == ("append", "merge")
    import pyarrow.parquet as pq

    info = store.with_files(third)
    holders = [set(pq.read_table(f"{info.path}/{f}", columns=["patient_id"]).column(0).to_pylist())
               for f in info.files]
    assert len(holders) >= 2 and "ext5-0001" in set.intersection(*holders)  # a patient's rows in several files
    monkeypatch.setenv("ALNM_RAY_SCORE_PARTITION_ROWS", "5")
    result = score_features(str(bundle_dir), store, [f"radiomics@{third.version}"], out=str(tmp_path / "p.parquet"),
                            options=OPTS)
    assert result.rows_in == 24 and len(result.errors) == 0
    expected = _expected(store, bundle, third.version, ["ext5"])
    got = result.predictions.set_index("patient_id")["probability"]
    np.testing.assert_allclose(got.loc[expected.index], expected, rtol=0, atol=1e-12)
    # the first version has no ADC rows: every patient is an error row, none is dropped
    early = score_features(str(bundle_dir), store, [f"radiomics@{first.version}"],
                           out=str(tmp_path / "e.parquet"), options=OPTS)
    assert early.rows_in == 24 == len(early.errors) and early.predictions.empty


class _SpyDataset:
    """The store's real dataset; records the columns of every scan."""

    def __init__(self, dataset, seen):
        self._dataset, self._seen = dataset, seen

    @property
    def schema(self):
        return self._dataset.schema

    def scanner(self, columns=None, **kwargs):
        self._seen.append(None if columns is None else list(columns))
        return self._dataset.scanner(columns=columns, **kwargs)

    def __getattr__(self, name):  # any other read is recorded as reading every column
        self._seen.append(f"{name}: every column")
        return getattr(self._dataset, name)


def test_only_the_columns_the_bundle_needs_are_read(tmp_path, trained, long_factory, monkeypatch):
    _, bundle_dir, _, _ = trained
    bundle = load_bundle(bundle_dir)
    store = FeatureStore(tmp_path / "store")
    long = long_factory(np.random.default_rng(8), 20, cohort="ext6", repeat_readers=0, split=False)
    long["report_text"] = ["x" * 20_000] * len(long)  # 0.8 MB the model never uses
    long["case_hash"] = [f"h{i}" for i in range(len(long))]
    version = store.write_version("radiomics", long).version
    seen: list = []
    real = store.dataset
    monkeypatch.setattr(store, "dataset", lambda info: _SpyDataset(real(info), seen))
    monkeypatch.setenv("ALNM_RAY_SCORE_PARTITION_ROWS", "9")
    result = score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(tmp_path / "p.parquet"),
                            options=OPTS)
    assert result.rows_in == 20 and len(result.errors) == 0
    assert seen and all(isinstance(cols, list) for cols in seen), seen
    read = set().union(*map(set, seen))
    assert "report_text" not in read and "case_hash" not in read and "split" not in read
    assert {f.split("__", 1)[1] for f in bundle.features} <= read
    expected = _expected(store, bundle, version, ["ext6"])
    got = result.predictions.set_index("patient_id")["probability"]
    np.testing.assert_allclose(got.loc[expected.index], expected, rtol=0, atol=1e-12)


def test_a_small_run_does_not_start_ray(trained):
    store, bundle_dir, version, root = trained
    result = score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "s.parquet"),
                            options=ScoreOptions(n_boot=100, write_store=False, cohorts=("ext2",)))
    assert result.rows_in == 30
    import sys

    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


def test_bad_size_settings_name_the_variable_and_the_fix(trained, monkeypatch):
    store, bundle_dir, version, root = trained
    monkeypatch.setenv("ALNM_RAY_SCORE_LOCAL_MAX_ROWS", "many")
    with pytest.raises(ConfigError) as err:
        score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "b.parquet"), options=OPTS)
    assert str(err.value) == ("ALNM_RAY_SCORE_LOCAL_MAX_ROWS: expected a non-negative integer (stored rows scored "
                              "without Ray; 0: always Ray); got 'many'. Fix or unset it.")
    monkeypatch.delenv("ALNM_RAY_SCORE_LOCAL_MAX_ROWS")
    monkeypatch.setenv("ALNM_RAY_SCORE_PARTITION_ROWS", "0")
    with pytest.raises(ConfigError, match="ALNM_RAY_SCORE_PARTITION_ROWS: expected an integer >= 1"):
        score_features(str(bundle_dir), store, [f"radiomics@{version}"], out=str(root / "b.parquet"), options=OPTS)


def test_patient_partition_is_stable_across_tables_and_types():
    from alnm_ray.score.stream import patient_partition

    a = patient_partition(pa.array(["p1", "p2", "p3"]), 7)
    b = patient_partition(pa.array(["p3", "p1"], pa.large_string()), 7)
    assert a[[2, 0]].tolist() == b.tolist() and ((0 <= a) & (a < 7)).all()


def test_predictions_leave_the_driver_and_are_read_back_from_the_out_file(trained, monkeypatch):
    """The run keeps no prediction frame: the result counts them and reads them from --out; the store
    version holds the same rows, sorted; tiny partitions give the same store rows and validation."""
    from alnm_ray.store import query

    store, bundle_dir, version, root = trained
    opts = ScoreOptions(n_boot=100, batch_size=16, cohorts=("ext1", "ext2"))
    runs = {}
    for name, rows in (("whole", None), ("tiny", "7")):
        if rows:
            monkeypatch.setenv("ALNM_RAY_SCORE_PARTITION_ROWS", rows)
        runs[name] = score_features(str(bundle_dir), store, [f"radiomics@{version}"],
                                    out=str(root / f"back-{name}.parquet"), options=opts)
        assert "predictions" not in vars(runs[name])  # not held: read on first use
        assert runs[name].n_predictions == 75 == len(runs[name].predictions)
        on_disk = pd.read_parquet(root / f"back-{name}.parquet").sort_values(["cohort", "patient_id"])
        pd.testing.assert_frame_equal(runs[name].predictions, on_disk.reset_index(drop=True))
        stored = query(store, f"SELECT * FROM table_at('predictions', '{runs[name].version[:12]}') "
                              "ORDER BY cohort, patient_id").to_pandas()
        assert stored["patient_id"].tolist() == runs[name].predictions["patient_id"].tolist()
        np.testing.assert_array_equal(stored["probability"], runs[name].predictions["probability"])
    whole, tiny = runs["whole"], runs["tiny"]
    assert whole.validation["ext1"]["models"][whole.bundle_id]["auc"] == pytest.approx(
        tiny.validation["ext1"]["models"][tiny.bundle_id]["auc"], abs=1e-12)


def test_the_content_hash_of_the_predictions_does_not_depend_on_chunk_order(tmp_path, trained):
    from alnm_ray.score._execution import PredictionSink
    from alnm_ray.score.job import PREDICTION_COLUMNS

    _, bundle_dir, _, _ = trained
    bundle = load_bundle(bundle_dir)
    chunk = pd.DataFrame({"cohort": ["a"] * 4, "center": ["c"] * 4, "patient_id": ["p1", "p2", "p3", "p4"],
                          "probability": [0.1, 0.7, 0.4, 0.9], "predicted_label": [0, 1, 0, 1],
                          "error_type": [""] * 4, "message": [""] * 4,
                          "label": pd.array([0, 1, None, 1], dtype="Int64")})
    hashes = []
    for i, order in enumerate(([0, 1, 2, 3], [3, 1, 0, 2])):
        sink = PredictionSink(tmp_path / f"h{i}.parquet", bundle, PREDICTION_COLUMNS, "2026-01-01T00:00:00+00:00")
        sink.add(chunk.iloc[order[:2]])
        sink.add(chunk.iloc[order[2:]])
        assert sink.close() == 4 and sink.labelled
        hashes.append(sink.content_hash())
        assert sink.labelled_rows()["patient_id"].tolist() == ["p1", "p2", "p4"]
        assert sink.store_rows().column("patient_id").to_pylist() == ["p1", "p2", "p3", "p4"]
    assert hashes[0] == hashes[1]
    other = PredictionSink(tmp_path / "h2.parquet", bundle, PREDICTION_COLUMNS, "2026-01-01T00:00:00+00:00")
    other.add(chunk.assign(probability=[0.1, 0.7, 0.4, 0.8]))
    other.close()
    assert other.content_hash() != hashes[0]
