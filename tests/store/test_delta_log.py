"""The Delta log as the catalog: records, ordering, prefixes, Delta numbers, damaged commits."""

from __future__ import annotations

import os

import pytest
from deltalake import DeltaTable

from alnm_ray.exceptions import StoreDamageError, StoreError
from alnm_ray.store import FeatureStore
from alnm_ray.store.delta_log import COMMIT_KEY


def test_each_version_is_one_commit_whose_record_has_every_field(store, long_table, error_rows,
                                                                 delta_files) -> None:
    first = store.write_version("radiomics", long_table(seed=1), version_id="aaa111",
                                params={"binWidth": 25, "seed": 7},
                                lineage={"manifest": "/m.csv", "manifest_sha256": "ab"},
                                errors=error_rows(2), counts={"computed": 12, "failed": 2})
    second = store.write_version("radiomics", long_table(seed=2), version_id="aaa222",
                                 parent="aaa1")
    entries = store.versions("radiomics")
    assert [(e.version, e.delta_version, e.read_version) for e in entries] == [
        ("aaa111", 0, 0), ("aaa222", 1, 1)]
    assert entries[0].created < entries[1].created
    got = entries[0]
    assert (got.rows, got.cases, got.failures) == (12, 12, 2)
    assert got.params == {"binWidth": 25, "seed": 7}
    assert got.lineage["manifest_sha256"] == "ab" and got.counts["failed"] == 2
    assert got.parent is None and second.parent == "aaa111"
    assert got.data_dir == "tables/radiomics" and got.path == os.path.join(store.uri, "tables", "radiomics")
    assert dict(got.columns)["original_firstorder_f0"] == "double"
    assert got.errors_file is None and got.package_version and got.mode == "overwrite"
    assert first == got and second == entries[1]
    # the record is in the commit itself: what any Delta reader sees in the history
    history = {h["version"]: h for h in DeltaTable(store.table_uri("radiomics")).history()}
    assert set(history) == {0, 1} and COMMIT_KEY in history[1]
    record = delta_files.record(store, "radiomics", 1)
    assert record["version"] == "aaa222" and record["parent"] == "aaa111" and record["rows"] == 12
    assert set(record["file_sha256"]) == set(delta_files.added(store, "radiomics", 1))
    # nothing is kept beside the Delta tables: no catalog folder, no folder per version
    assert sorted(os.listdir(store.uri)) == ["_store.json", "errors", "tables"]
    assert sorted(n for n in os.listdir(first.path) if not n.endswith(".parquet")) == ["_delta_log"]


def test_prefix_resolution(store, long_table) -> None:
    for vid in ("aaa111", "aaa222", "bbb333"):
        store.write_version("deep", long_table(seed=len(vid) + ord(vid[0])), version_id=vid)
    assert store.resolve("deep@bbb").version == "bbb333"
    assert store.resolve("deep@aaa111").version == "aaa111"
    assert store.resolve("deep").version == "bbb333"
    with pytest.raises(StoreError, match=r"deep@aaa: expected a unique prefix; it matches 2"):
        store.resolve("deep@aaa")


def test_a_delta_version_number_is_time_travel(store, long_table) -> None:
    infos = [store.write_version("radiomics", long_table(seed=i), version_id=f"abcdef{i}")
             for i in range(3)]
    for n, info in enumerate(infos):
        for ref in (f"radiomics@{n}", f"radiomics@v{n}"):
            got = store.resolve(ref)
            assert (got.version, got.read_version) == (info.version, n)
        assert store.read(f"radiomics@{n}").equals(store.read("radiomics", info.version))
    assert not store.read("radiomics@0").equals(store.read("radiomics@2"))
    with pytest.raises(StoreError, match=r"radiomics@7: expected a Delta version number between 0 and 2"):
        store.resolve("radiomics@7")
    with pytest.raises(StoreError, match=r"radiomics@v9: expected a Delta version number"):
        store.resolve("radiomics@v9")
    # six digits and more are id prefixes, never Delta numbers
    with pytest.raises(StoreError, match="found none matching"):
        store.resolve("radiomics@123456")


def test_all_tables_listed_oldest_first(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    store.write_version("deep", long_table(), version_id="d1")
    assert store.tables() == ["deep", "radiomics"]
    assert [v.ref for v in store.versions()] == ["radiomics@r1", "deep@d1"]


def test_a_commit_that_is_not_json_names_the_commit_and_the_fix(store, long_table, delta_files) -> None:
    store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2")
    delta_files.edit_record(store, "radiomics", 1, raw='{"table": "radiom')
    fresh = FeatureStore(store.uri)
    with pytest.raises(StoreDamageError, match=r"version radiomics@delta-1, file tables/radiomics/_delta_log/"
                                               r"00000000000000000001.json: commit 1 of tables/radiomics "
                                               r"\(radiomics\): expected a JSON object in field '\(record\)'"
                                               r".*features verify.*features repair"):
        fresh.versions()
    entries, broken = fresh.scan("radiomics")
    assert [e.version for e in entries] == ["r1"] and [(p.version, p.kind) for p in broken] == [
        ("delta-1", "entry")]


def test_commits_of_other_tools_are_versions_named_by_their_number(store, long_table) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    info = store.write_version("clinical", pa.table({"patient_id": ["a", "b"], "age": [1.0, 2.0]}),
                               key=("patient_id",), version_id="c1")
    write_deltalake(store.table_uri("clinical"), pa.table({"patient_id": ["c"], "age": [3.0]}),
                    mode="append")
    versions = store.versions("clinical")
    assert [(v.version, v.delta_version) for v in versions] == [("c1", 0), ("delta-1", 1)]
    assert versions[1].params == {"operation": "WRITE"}
    assert sorted(store.read("clinical")["patient_id"].to_pylist()) == ["a", "b", "c"]
    assert store.read("clinical", "c1").num_rows == info.rows == 2


def test_table_folders_without_a_log_are_not_tables(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    os.makedirs(os.path.join(store.uri, "tables", "half_written", "_delta_log"))
    os.makedirs(os.path.join(store.uri, "tables", "Not-A-Table", "_delta_log"))
    assert [v.version for v in FeatureStore(store.uri).versions()] == ["r1"]
    assert FeatureStore(store.uri).tables() == ["radiomics"]


def test_missing_store_has_no_tables(tmp_path) -> None:
    store = FeatureStore(tmp_path / "nowhere")
    assert not store.exists() and store.tables() == [] and store.versions() == []
    assert store.latest("radiomics") is None


def test_history_numbers_every_commit_right_while_another_writer_commits(store, long_table) -> None:
    # deltalake numbers the commits it reads from the version it loaded; a commit landing in
    # between shifted every number (the oldest became negative) and versions named other data
    import json
    import threading

    from deltalake import CommitProperties, write_deltalake

    uri = store.log.table_uri("tables/t")
    write_deltalake(uri, long_table(seed=0), commit_properties=CommitProperties(
        custom_metadata={COMMIT_KEY: json.dumps({"n": 0})}))
    done = threading.Event()

    def commit() -> None:
        for n in range(1, 25):
            write_deltalake(uri, long_table(seed=n), mode="append", commit_properties=CommitProperties(
                custom_metadata={COMMIT_KEY: json.dumps({"n": n})}))
        done.set()

    writer = threading.Thread(target=commit)
    writer.start()
    reads = 0
    while not done.is_set() or reads == 0:
        commits = store.log.history("tables/t")
        assert [c.version for c in commits] == list(range(len(commits)))
        assert [c.record for c in commits] == [{"n": n} for n in range(len(commits))]
        reads += 1
    writer.join()
    assert len(store.log.history("tables/t")) == 25
