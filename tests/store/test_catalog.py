"""The catalog: entries, ordering, prefix resolution, corrupt entries."""

from __future__ import annotations

import json
import os

import pytest

from alnm_ray.exceptions import StoreDamageError, StoreError
from alnm_ray.store import FeatureStore


def test_entries_record_every_field(store, long_table, error_rows) -> None:
    first = store.write_version("radiomics", long_table(seed=1), version_id="aaa111",
                                params={"binWidth": 25, "seed": 7},
                                lineage={"manifest": "/m.csv", "manifest_sha256": "ab"},
                                errors=error_rows(2), counts={"computed": 12, "failed": 2})
    second = store.write_version("radiomics", long_table(seed=2), version_id="aaa222",
                                 parent="aaa1")
    entries = store.catalog.entries("radiomics")
    assert [e.version for e in entries] == ["aaa111", "aaa222"]
    assert entries[0].created < entries[1].created
    got = entries[0]
    assert (got.rows, got.cases, got.failures) == (12, 12, 2)
    assert got.params == {"binWidth": 25, "seed": 7}
    assert got.lineage["manifest_sha256"] == "ab" and got.counts["failed"] == 2
    assert got.parent is None and second.parent == "aaa111"
    assert got.path == os.path.join(store.uri, got.data_dir) and os.path.isdir(got.path)
    assert dict(got.columns)["original_firstorder_f0"] == "double"
    assert got.errors_file == "errors.parquet" and got.package_version
    assert first == got


def test_prefix_resolution(store, long_table) -> None:
    for vid in ("aaa111", "aaa222", "bbb333"):
        store.write_version("deep", long_table(), version_id=vid)
    assert store.resolve("deep@bbb").version == "bbb333"
    assert store.resolve("deep@aaa111").version == "aaa111"
    assert store.resolve("deep").version == "bbb333"
    with pytest.raises(StoreError, match=r"deep@aaa: expected a unique prefix; it matches 2"):
        store.resolve("deep@aaa")


def test_all_tables_listed_oldest_first(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    store.write_version("deep", long_table(), version_id="d1")
    assert store.tables() == ["deep", "radiomics"]
    assert [v.ref for v in store.versions()] == ["radiomics@r1", "deep@d1"]
    assert store.catalog.referenced_dirs() == {v.data_dir for v in store.versions()}


def test_corrupt_entry_names_the_file_and_the_fix(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    path = os.path.join(store.uri, "_catalog", "radiomics", "r1.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"table": "radiom')
    with pytest.raises(StoreDamageError, match=r"version radiomics@r1, file _catalog/radiomics/r1.json: "
                                               r"expected a JSON version record; the file is corrupt"
                                               r".*features repair.*_quarantine/"):
        store.versions()


def test_entry_from_a_newer_format_asks_for_an_upgrade(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    path = os.path.join(store.uri, "_catalog", "radiomics", "r1.json")
    record = json.loads(open(path, encoding="utf-8").read())
    record["catalog_format"] = 99
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    with pytest.raises(StoreError, match="written by a newer alnm-ray.*upgrade alnm-ray"):
        store.latest("radiomics")


def test_hidden_temp_entries_are_ignored(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    folder = os.path.join(store.uri, "_catalog", "radiomics")
    with open(os.path.join(folder, ".r2.1234.tmp"), "w", encoding="utf-8") as handle:
        handle.write("{")
    assert [v.version for v in FeatureStore(store.uri).versions()] == ["r1"]


def test_missing_store_has_no_tables(tmp_path) -> None:
    store = FeatureStore(tmp_path / "nowhere")
    assert not store.exists() and store.tables() == [] and store.versions() == []
    assert store.latest("radiomics") is None
