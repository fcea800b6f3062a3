"""Catalog entries checked field by field, paths confined, files checked against the record."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alnm_ray.exceptions import StoreDamageError, StoreError
from alnm_ray.store import FeatureStore
from alnm_ray.store._fs import inside
from alnm_ray.store.health import check_version, verify


def _entry_path(store: FeatureStore, table: str, version: str) -> str:
    return os.path.join(store.uri, "_catalog", table, f"{version}.json")


def _edit(store: FeatureStore, table: str, version: str, /, **changes) -> None:
    path = _entry_path(store, table, version)
    record = json.loads(open(path, encoding="utf-8").read())
    record.update(changes)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle)


def test_new_versions_record_size_and_sha256_of_every_file(store, long_table, error_rows) -> None:
    info = store.write_version("radiomics", long_table(), version_id="r1", errors=error_rows(2))
    assert sorted(info.file_sizes) == sorted([*info.files, "errors.parquet"]) == sorted(info.file_sha256)
    for name, size in info.file_sizes.items():
        assert os.path.getsize(os.path.join(info.path, name)) == size
    assert check_version(store.location, info, deep=True) == []
    assert verify(store).ok and verify(store).versions == 1


@pytest.mark.parametrize("field, value, expected", [
    ("data_dir", "../outside", "expected a folder 'tables/radiomics/<name>' inside the store"),
    ("data_dir", "/etc", "expected a folder 'tables/radiomics/<name>' inside the store"),
    ("data_dir", "tables/clinical/x-1", "expected a folder 'tables/radiomics/<name>'"),
    ("files", ["../../x.parquet"], "expected a non-empty list of plain file names"),
    ("errors_file", "/etc/passwd", "expected a plain file name or null"),
    ("rows", -1, "expected a non-negative integer in field 'rows'"),
    ("table", "deep", "expected 'radiomics' (the catalog folder it lies in)"),
    ("version", "other", "expected 'r1' (its file name)"),
    ("created", None, "expected an ISO-8601 time"),
    ("file_sha256", {"part-00000.parquet": "nothex"}, "expected {file name: 64 hex digits}"),
])
def test_every_entry_field_is_checked(store, long_table, field, value, expected) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    _edit(store, "radiomics", "r1", **{field: value})
    with pytest.raises(StoreDamageError, match=r"version radiomics@r1, file _catalog/radiomics/r1.json: "
                                               + expected.replace("{", r"\{").replace("}", r"\}")
                                               .replace("(", r"\(").replace(")", r"\)")):
        store.read("radiomics")
    entries, broken = store.catalog.scan()
    assert entries == [] and [(p.table, p.version, p.kind) for p in broken] == [("radiomics", "r1", "entry")]


def test_a_damaged_entry_blocks_the_latest_but_not_named_versions(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    with open(_entry_path(store, "radiomics", "r2"), "w", encoding="utf-8") as handle:
        handle.write("{}")
    assert store.read("radiomics@r1").num_rows == 12
    with pytest.raises(StoreDamageError, match="latest version of the table is therefore unknown"):
        store.read("radiomics")
    with pytest.raises(StoreDamageError, match="version radiomics@r2"):
        store.resolve("radiomics@r2")
    assert store.catalog.referenced_dirs() == {store.resolve("radiomics@r1").data_dir}


def test_inside_refuses_dotdot_absolute_and_symlinks_out(store, long_table, tmp_path) -> None:
    info = store.write_version("radiomics", long_table(), version_id="r1")
    assert inside(store.location, f"{info.data_dir}/part-00000.parquet", "f").endswith("part-00000.parquet")
    for rel in ("../x", "/etc/passwd", "tables/../../x", "tables//x", ""):
        with pytest.raises(StoreDamageError, match="expected a path inside store"):
            inside(store.location, rel, "f")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, os.path.join(store.uri, "tables", "link"))
    with pytest.raises(StoreDamageError, match="a symbolic link makes it point to"):
        inside(store.location, "tables/link/x.parquet", "f")


def test_missing_truncated_altered_and_reshaped_files_are_each_named(store, long_table) -> None:
    infos = {n: store.write_version(n, long_table(seed=i), version_id=f"{n[0]}1")
             for i, n in enumerate(("missing", "truncated", "altered", "reshaped", "healthy"))}
    os.remove(os.path.join(infos["missing"].path, "part-00000.parquet"))
    path = os.path.join(infos["truncated"].path, "part-00000.parquet")
    open(path, "r+b").truncate(50)
    path = os.path.join(infos["altered"].path, "part-00001.parquet")
    data = bytearray(open(path, "rb").read())
    data[40] ^= 0xFF
    open(path, "wb").write(bytes(data))
    # a valid Parquet file with other columns, recorded sizes and checksums rewritten to match
    reshaped = infos["reshaped"]
    path = os.path.join(reshaped.path, "part-00000.parquet")
    pq.write_table(pa.table({"other": [1]}), path)
    from alnm_ray.store._fs import file_digest

    size, digest = file_digest(store.location.fs, path)
    _edit(store, "reshaped", "r1", file_sizes={**reshaped.file_sizes, "part-00000.parquet": size},
          file_sha256={**reshaped.file_sha256, "part-00000.parquet": digest})
    report = verify(store)
    kinds = {(p.table, p.kind) for p in report.problems}
    assert kinds == {("missing", "missing"), ("truncated", "size"), ("altered", "checksum"),
                     ("reshaped", "schema")}
    assert report.damaged == ["altered@a1", "missing@m1", "reshaped@r1", "truncated@t1"]
    assert [p.file.split("/")[-1] for p in report.problems if p.table == "altered"] == ["part-00001.parquet"]
    with pytest.raises(StoreDamageError, match=r"version truncated@t1, file tables/truncated/t1-\w+/"
                                               r"part-00000.parquet: expected \d+ bytes"):
        store.read("truncated")
    assert store.read("healthy").num_rows == 12


def test_versions_without_recorded_checksums_are_decoded_instead(store, long_table) -> None:
    info = store.write_version("radiomics", long_table(), version_id="r1")
    _edit(store, "radiomics", "r1", file_sizes={}, file_sha256={})
    assert verify(store).ok
    path = os.path.join(info.path, "part-00000.parquet")
    open(path, "r+b").truncate(os.path.getsize(path) - 10)
    assert [p.kind for p in verify(store).problems] == ["unreadable"]
    with pytest.raises(StoreDamageError, match="version radiomics@r1"):
        store.read("radiomics")


def test_a_folder_that_is_not_a_store_is_refused(tmp_path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match=r"expected an alnm-ray store folder \(one holding _store.json"):
        FeatureStore(tmp_path / "etc").check_is_store()
    with pytest.raises(StoreError, match="found a file"):
        FeatureStore(tmp_path / "etc" / "hosts").check_is_store()
    (tmp_path / "empty").mkdir()
    FeatureStore(tmp_path / "empty").check_is_store()
