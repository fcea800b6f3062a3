"""Catalog entries checked field by field, paths confined, files checked against the record."""

from __future__ import annotations

import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alnm_ray.exceptions import StoreDamageError, StoreError
from alnm_ray.store import FeatureStore
from alnm_ray.store._fs import inside
from alnm_ray.store.health import check_version, verify


def test_versions_record_the_sha256_of_every_file_and_the_log_their_sizes(store, long_table,
                                                                       error_rows) -> None:
    info = store.write_version("radiomics", long_table(), version_id="r1", errors=error_rows(2))
    located = store.with_files(info)
    assert len(located.files) == 2 and sorted(located.file_sizes) == sorted(located.files) \
        == sorted(located.file_sha256)
    for name, size in located.file_sizes.items():
        assert os.path.getsize(os.path.join(info.path, name)) == size
    assert check_version(store, info, deep=True) == []
    assert verify(store).ok and verify(store).versions == 1


@pytest.mark.parametrize("field, value, expected", [
    ("rows", -1, "expected a non-negative integer in field 'rows'"),
    ("cases", "12", "expected a non-negative integer in field 'cases'"),
    ("failures", True, "expected a non-negative integer in field 'failures'"),
    ("table", "deep", "expected 'radiomics' (the table folder it lies in) in field 'table'"),
    ("version", "../x", "expected a version id (letters, digits, '_', '-') in field 'version'"),
    ("created", None, "expected an ISO-8601 time in field 'created'"),
    ("key", "patient_id", "expected a list of column names in field 'key'"),
    ("columns", [["a"]], "expected a list of [name, type] pairs in field 'columns'"),
    ("params", [1], "expected a JSON object in field 'params'"),
    ("lineage", "m.csv", "expected a JSON object in field 'lineage'"),
    ("file_sha256", {"part-00000.parquet": "nothex"}, "expected {file name: 64 hex digits}"),
    ("file_sha256", {"../../etc/passwd": "0" * 64}, "expected {file name: 64 hex digits}"),
    ("parent", 7, "expected a version id or null in field 'parent'"),
    ("role", "features", "expected one of feature, output, dictionary in field 'role'"),
    ("mode", "upsert", "expected one of overwrite, append, merge, restore in field 'mode'"),
])
def test_every_record_field_is_checked(store, long_table, delta_files, field, value, expected) -> None:
    store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2")
    delta_files.edit_record(store, "radiomics", 1, **{field: value})
    store = FeatureStore(store.uri)
    pattern = (r"version radiomics@delta-1, file tables/radiomics/_delta_log/00000000000000000001.json: "
               r"commit 1 of tables/radiomics \(radiomics\): " + re.escape(expected))
    with pytest.raises(StoreDamageError, match=pattern):
        store.read("radiomics")
    entries, broken = store.scan()
    assert [e.version for e in entries] == ["r1"]
    assert [(p.table, p.version, p.kind) for p in broken] == [("radiomics", "delta-1", "entry")]
    assert [p.kind for p in verify(store).problems] == ["entry"]


@pytest.mark.parametrize("field", ["table", "version", "created", "rows", "cases", "failures"])
def test_a_record_missing_a_required_field_is_damaged(store, long_table, delta_files, field) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    delta_files.edit_record(store, "radiomics", 0, drop=(field,))
    with pytest.raises(StoreDamageError, match=rf"in field '{field}' of its alnm-ray record; found \(missing\)"):
        FeatureStore(store.uri).read("radiomics")


def test_a_damaged_commit_blocks_the_latest_but_not_named_versions(store, long_table, delta_files) -> None:
    store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2")
    delta_files.edit_record(store, "radiomics", 1, raw="{}")
    store = FeatureStore(store.uri)
    assert store.read("radiomics@r1").equals(store.read("radiomics@0")) and store.read("radiomics@r1").num_rows == 12
    with pytest.raises(StoreDamageError, match="version radiomics@delta-1"):
        store.read("radiomics")
    with pytest.raises(StoreError, match="found none matching"):
        store.resolve("radiomics@r2")


@pytest.mark.parametrize("path", ["../../../../../../../../etc/passwd", "/etc/passwd", "OUTSIDE",
                                  "../radiomics_copy/x.parquet", "_delta_log/00000000000000000000.json"])
def test_a_log_naming_a_file_outside_the_table_is_refused_before_anything_is_opened(
        store, long_table, delta_files, tmp_path, path) -> None:
    info = store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2")
    # a real Parquet file outside the table: reading it would succeed if the path were followed
    outside = tmp_path / "outside.parquet"
    pq.write_table(long_table(seed=3), outside)
    if path == "OUTSIDE":
        path = str(outside)
    delta_files.rename_add(store, "radiomics", 1, path)
    store = FeatureStore(store.uri)
    with pytest.raises(StoreDamageError, match=r"version radiomics@r2.*expected data file paths inside "
                                               r"the table folder; the log names"):
        store.read("radiomics")
    with pytest.raises(StoreDamageError, match="expected data file paths inside the table folder"):
        store.with_files(store.latest("radiomics"))
    assert [(p.version, p.kind) for p in verify(store).problems] == [("r2", "escapes")]
    assert store.read("radiomics@r1").num_rows == info.rows == 12  # the version before is untouched


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


def test_missing_truncated_altered_unreadable_and_reshaped_files_are_each_named(store, long_table) -> None:
    names = ("missing", "truncated", "altered", "unreadable", "reshaped", "healthy")
    infos = {n: store.with_files(store.write_version(n, long_table(seed=i), version_id=f"{n[0]}1"))
             for i, n in enumerate(names)}

    def path(table: str, i: int) -> str:
        return os.path.join(infos[table].path, infos[table].files[i])

    os.remove(path("missing", 0))
    open(path("truncated", 0), "r+b").truncate(50)
    data = bytearray(open(path("altered", 1), "rb").read())
    data[40] ^= 0xFF  # same size, other bytes
    open(path("altered", 1), "wb").write(bytes(data))
    os.remove(path("unreadable", 0))
    os.mkdir(path("unreadable", 0))  # a folder where the file was
    # a valid Parquet file with other columns, padded to the logged size
    target = path("reshaped", 0)
    pq.write_table(pa.table({"other": [1]}), target)
    with open(target, "ab") as handle:
        handle.write(b"\0" * (infos["reshaped"].file_sizes[infos["reshaped"].files[0]] - os.path.getsize(target)))
    report = verify(store)
    kinds = {(p.table, p.kind) for p in report.problems}
    assert kinds == {("missing", "missing"), ("truncated", "size"), ("altered", "checksum"),
                     ("unreadable", "missing"), ("reshaped", "checksum")}
    assert report.damaged == ["altered@a1", "missing@m1", "reshaped@r1", "truncated@t1", "unreadable@u1"]
    assert [p.file for p in report.problems if p.table == "altered"] == [
        f"tables/altered/{infos['altered'].files[1]}"]
    assert next(p for p in report.problems if p.table == "unreadable").detail.endswith("found a folder")
    with pytest.raises(StoreDamageError, match=rf"version truncated@t1, file tables/truncated/"
                                               rf"{infos['truncated'].files[0]}: expected \d+ bytes"):
        store.read("truncated")
    with pytest.raises(StoreDamageError, match=r"version missing@m1, .*expected the file \(\d+ bytes\); "
                                               r"found nothing"):
        store.read("missing")
    assert store.read("healthy").num_rows == 12 and verify(store).versions == 6


def test_files_without_a_recorded_checksum_are_decoded_instead(store, long_table, delta_files) -> None:
    info = store.write_version("radiomics", long_table(), version_id="r1")
    delta_files.edit_record(store, "radiomics", 0, file_sha256={})
    store = FeatureStore(store.uri)
    located = store.with_files(info)
    assert located.file_sha256 == {} and verify(store).ok
    path = os.path.join(info.path, located.files[0])
    size = os.path.getsize(path)
    data = bytearray(open(path, "rb").read())
    data[4:44] = b"\xff" * 40  # same size, a page header destroyed: only decoding tells
    open(path, "wb").write(bytes(data))
    assert [(p.kind, p.file) for p in verify(store).problems] == [("unreadable", f"tables/radiomics/{located.files[0]}")]
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
