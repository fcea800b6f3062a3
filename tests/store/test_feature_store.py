"""FeatureStore: round trips, idempotency, atomic versions, concurrency, I/O errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from alnm_ray.constants import CASE_KEY
from alnm_ray.exceptions import ConfigError, SchemaMismatchError, StoreError
from alnm_ray.store import FeatureStore
from alnm_ray.store._fs import os_error_message
from alnm_ray.store._writer import sort_order

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in sort_order(CASE_KEY)])


def _data_files(store: FeatureStore, table: str) -> list[str]:
    """The Parquet files in ``table``'s folder, referenced by its Delta log or not."""
    path = os.path.join(store.uri, "tables", table)
    return sorted(n for n in os.listdir(path) if n.endswith(".parquet")) if os.path.isdir(path) else []


def _commits(store: FeatureStore, table: str) -> list[str]:
    path = os.path.join(store.uri, "tables", table, "_delta_log")
    return sorted(n for n in os.listdir(path) if n.endswith(".json")) if os.path.isdir(path) else []


def test_round_trip_keeps_values_and_sorts_by_case_key(store, long_table) -> None:
    data = long_table(n_patients=5)
    shuffled = data.take(pa.array([9, 3, 0, 7, 1, 8, 2, 6, 4, 5]))
    info = store.write_version("radiomics", shuffled, params={"binWidth": 25})
    back = store.read("radiomics")
    assert back.equals(_sorted(data))
    assert info.rows == 10 and info.cases == 10 and info.failures == 0
    assert info.key == CASE_KEY and info.files == ()  # files come from the log, on demand
    located = store.with_files(info)
    assert len(located.files) == 2 and located.files == tuple(_data_files(store, "radiomics"))
    assert located.file_sizes == {n: os.path.getsize(os.path.join(info.path, n)) for n in located.files}
    assert set(located.file_sha256) == set(located.files)
    # each file is sorted and the files follow each other in key order
    parts = [pq.read_table(os.path.join(info.path, n)) for n in located.files]
    assert [p.num_rows for p in parts] == [8, 2] and pa.concat_tables(parts).equals(_sorted(data))
    assert store.read("radiomics", columns=["patient_id", "original_firstorder_f0"]).num_columns == 2


def test_pandas_input_and_latest(store, long_table) -> None:
    first = store.write_version("deep", long_table(seed=1).to_pandas())
    second = store.write_version("deep", long_table(seed=2).to_pandas())
    assert store.latest("deep") == second and store.versions("deep") == [first, second]
    assert store.read("deep", first.version[:10]).equals(_sorted(long_table(seed=1)))
    assert store.resolve("deep") == second and store.tables() == ["deep"]


def test_rewriting_a_version_id_is_idempotent(store, long_table) -> None:
    first = store.write_version("radiomics", long_table(), version_id="abc123")
    files, commits = _data_files(store, "radiomics"), _commits(store, "radiomics")
    again = store.write_version("radiomics", long_table(seed=5), version_id="abc123")
    assert again == first and len(store.versions()) == 1
    assert _data_files(store, "radiomics") == files and _commits(store, "radiomics") == commits == [
        f"{0:020d}.json"]
    # also when an other version came in between: the id names the old content, nothing is written
    store.write_version("radiomics", long_table(seed=6), version_id="def456")
    files, commits = _data_files(store, "radiomics"), _commits(store, "radiomics")
    assert store.write_version("radiomics", long_table(seed=7), version_id="abc123") == first
    assert _data_files(store, "radiomics") == files and _commits(store, "radiomics") == commits
    assert store.latest("radiomics").version == "def456"
    # without a version id the data hash names the version, so equal data is one version
    one = store.write_version("clinical", pa.table({"patient_id": ["a", "b"], "age": [1.0, 2.0]}))
    two = store.write_version("clinical", pa.table({"patient_id": ["a", "b"], "age": [1.0, 2.0]}))
    assert one == two and len(store.versions("clinical")) == 1 and len(_commits(store, "clinical")) == 1
    assert len(_data_files(store, "clinical")) == 1  # the second copy was removed again


def test_data_hash_does_not_depend_on_batching(tmp_path, long_table) -> None:
    data = _sorted(long_table(n_patients=7))
    one = FeatureStore(tmp_path / "a", row_group_rows=4).write_version("radiomics", data)
    batches = data.to_batches(max_chunksize=3)
    two = FeatureStore(tmp_path / "b", row_group_rows=4).write_version("radiomics", iter(batches))
    assert one.version == two.version and one.rows == two.rows == 14


def test_missing_column_and_unknown_table_messages(store, long_table) -> None:
    store.write_version("radiomics", long_table())
    with pytest.raises(SchemaMismatchError, match=r"expected column\(s\) \['original_firstorder_f9'\]"):
        store.read("radiomics", columns=["original_firstorder_f9"])
    with pytest.raises(StoreError, match=r"table 'radiomic'.*Did you mean 'radiomics'"):
        store.read("radiomic")
    with pytest.raises(StoreError, match="found none matching"):
        store.read("radiomics", "ffff")


def test_duplicate_and_null_keys_are_refused(store, long_table) -> None:
    data = long_table(n_patients=3)
    with pytest.raises(SchemaMismatchError, match=r"found 1 duplicated key\(s\).*patient_id=p000"):
        store.write_version("radiomics", pa.concat_tables([data, data.slice(0, 1)]))
    with pytest.raises(SchemaMismatchError, match="key column 'patient_id'.*found 1 null"):
        store.write_version("clinical", pa.table({"patient_id": ["a", None], "x": [1.0, 2.0]}),
                            key=("patient_id",))
    with pytest.raises(SchemaMismatchError, match=r"expected key column\(s\) \['pid'\]"):
        store.write_version("clinical", pa.table({"patient_id": ["a"]}), key=("pid",))
    assert store.versions() == []


def test_errors_table_and_counts(store, long_table, error_rows) -> None:
    info = store.write_version("radiomics", long_table(), errors=error_rows(3),
                               counts={"computed": 12, "failed": 3})
    assert info.failures == 3 and info.counts == {"computed": 12, "failed": 3}
    errors = store.read_errors()
    assert errors.schema.names[:4] == ["table", "version", "stage", "cohort"]
    assert errors.num_rows == 3 and set(errors["version"].to_pylist()) == {info.version}
    assert store.read_errors("radiomics", info.version[:8]).num_rows == 3
    with pytest.raises(SchemaMismatchError, match=r"missing \['error_type', 'message'\]"):
        store.write_version("deep", long_table(), errors=error_rows(1).drop(["error_type", "message"]))


def test_empty_error_view_has_its_columns(store, long_table) -> None:
    store.write_version("radiomics", long_table())
    empty = store.read_errors()
    assert empty.num_rows == 0 and "error_type" in empty.schema.names


def test_parent_is_resolved_and_checked(store, long_table) -> None:
    first = store.write_version("radiomics", long_table(seed=1))
    child = store.write_version("radiomics", long_table(seed=2), parent=first.version[:8])
    assert child.parent == first.version
    # a short number is a Delta version number: the version current at that commit
    grandchild = store.write_version("radiomics", long_table(seed=3), parent="1")
    assert grandchild.parent == child.version and store.latest("radiomics") == grandchild
    with pytest.raises(StoreError, match="radiomics@ffff: expected the id"):
        store.write_version("radiomics", long_table(seed=4), parent="ffff")
    with pytest.raises(StoreError, match=r"radiomics@9: expected a Delta version number between 0 and 2"):
        store.write_version("radiomics", long_table(seed=4), parent="9")
    assert len(store.versions("radiomics")) == 3


def test_params_must_be_json_like(store, long_table) -> None:
    with pytest.raises(ConfigError, match="params: content_hash: expected JSON-like"):
        store.write_version("radiomics", long_table(), params={"fn": print})


def test_zero_rows_keep_the_schema(store) -> None:
    empty = pa.table({"patient_id": pa.array([], pa.string()), "x": pa.array([], pa.float64())})
    info = store.write_version("clinical", empty)
    assert info.rows == 0 and store.read("clinical").schema.names == ["patient_id", "x"]


def test_crash_mid_write_leaves_nothing_visible(store, long_table) -> None:
    data = long_table(n_patients=8)

    def batches():
        yield from data.slice(0, 8).to_batches()  # fills the first file
        yield from data.slice(8, 4).to_batches()
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError, match="worker died"):
        store.write_version("radiomics", batches(), version_id="deadbeef")
    assert store.versions() == [] and store.tables() == []
    assert _data_files(store, "radiomics") == [] and _commits(store, "radiomics") == []
    assert store.write_version("radiomics", data, version_id="deadbeef").rows == 16
    # the same on a table that has versions: the latest stays, no file is left behind
    before = _data_files(store, "radiomics")
    with pytest.raises(RuntimeError, match="worker died"):
        store.write_version("radiomics", batches(), version_id="cafe0002")
    assert [v.version for v in store.versions()] == ["deadbeef"] and len(_commits(store, "radiomics")) == 1
    assert _data_files(store, "radiomics") == before
    assert store.read("radiomics").equals(_sorted(data))


@pytest.mark.parametrize("table", ["clinical", "radiomics"])  # a new table, a table with versions
def test_killed_writer_leaves_unreferenced_files_that_cleanup_removes(store, long_table, table) -> None:
    store.write_version("radiomics", long_table(seed=9))
    store.write_version("radiomics", long_table(seed=8))
    kept = _data_files(store, "radiomics")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {ROOT!r})
        from alnm_ray.store import FeatureStore
        import pyarrow as pa
        data = pa.table({{"patient_id": [f"p{{i}}" for i in range(20)], "x": [float(i) for i in range(20)]}})
        def batches():
            yield data.slice(0, 10)
            yield data.slice(10, 5)
            os._exit(9)  # a crash: no exception handler runs
        FeatureStore({store.uri!r}, row_group_rows=4, rows_per_file=8).write_version({table!r}, batches())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8")
    assert proc.returncode == 9, proc.stderr
    leftovers = sorted(set(_data_files(store, table)) - set(kept))
    assert leftovers  # the full first file of 8 rows, the second one half written; no commit names them
    assert store.tables() == ["radiomics"] and len(store.versions("radiomics")) == 2
    if table == "clinical":
        with pytest.raises(StoreError, match="table 'clinical'"):
            store.read("clinical")
    assert store.cleanup() == []  # too young: it might belong to a running writer
    removed = store.cleanup(older_than_s=0)
    assert sorted(os.path.basename(p) for p in removed) == leftovers
    assert _data_files(store, "radiomics") == kept and _data_files(store, "clinical") == []
    for info in store.versions("radiomics"):  # committed data untouched, old versions included
        assert store.read("radiomics", info.version).num_rows == 12
    assert store.cleanup(older_than_s=0) == []


def test_concurrent_threads_writing_distinct_and_equal_versions(store, long_table) -> None:
    results: dict[str, object] = {}

    def write(name: str, seed: int, version_id: str | None) -> None:
        results[name] = store.write_version("radiomics", long_table(seed=seed), version_id=version_id)

    threads = [threading.Thread(target=write, args=(f"d{i}", i, None)) for i in range(3)]
    threads += [threading.Thread(target=write, args=(f"s{i}", 100, "samesame")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = store.versions("radiomics")
    # Delta orders the commits; each distinct content is a version, the shared id is at least one
    distinct = {v.version for v in versions}
    assert len(distinct) == 4 and "samesame" in distinct  # three distinct + one shared version id
    assert sorted(v.delta_version for v in versions) == list(range(len(versions)))
    assert {results[f"s{i}"].version for i in range(4)} == {"samesame"}  # type: ignore[attr-defined]
    for info in versions:
        got = store.read("radiomics", str(info.delta_version))
        assert got.num_rows == info.rows == 12
        seed = 100 if info.version == "samesame" else int(results_by_version(results)[info.version][1:])
        assert got.equals(_sorted(long_table(seed=seed)))
    referenced = {n for v in versions for n in store.with_files(v).files}
    assert store.cleanup(older_than_s=0) == [] or referenced <= set(_data_files(store, "radiomics"))


def results_by_version(results: dict) -> dict:
    """Thread name (``d0``…) of each version id the threads wrote."""
    return {info.version: name for name, info in results.items()}


def test_two_processes_writing_at_once_leave_consistent_versions(store) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {ROOT!r})
        import pyarrow as pa
        from alnm_ray.store import FeatureStore
        store = FeatureStore({store.uri!r}, row_group_rows=4, rows_per_file=8)
        tag = sys.argv[1]
        for i in range(5):
            n = 10 + i
            store.write_version("radiomics", pa.table({{"patient_id": [f"{{tag}}{{j}}" for j in range(n)],
                                                       "x": [float(j) for j in range(n)]}}),
                                key=("patient_id",), params={{"writer": tag, "i": i}})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, tag], stderr=subprocess.PIPE,
                              text=True, encoding="utf-8") for tag in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    versions = store.versions("radiomics")
    assert len(versions) == 10
    assert sorted((v.params["writer"], v.params["i"]) for v in versions) == \
        [(w, i) for w in "ab" for i in range(5)]
    assert sorted(v.delta_version for v in versions) == list(range(10))  # one commit each, no gap
    for info in versions:
        for ref in (info.version, str(info.delta_version)):
            table = store.read("radiomics", ref)
            assert table.num_rows == info.rows == 10 + info.params["i"]
            assert pc.all(pc.starts_with(table["patient_id"], info.params["writer"])).as_py()
    # every file on disk is one some commit references: retries left nothing behind
    assert store.cleanup(older_than_s=0) == []


def test_a_filesystem_deltalake_cannot_reach_is_refused_and_nothing_lands_on_disk(long_table) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("memory")))
    root = f"/alnm-test-{uuid.uuid4().hex}"
    store = FeatureStore(root, filesystem=memory, row_group_rows=4, rows_per_file=8)
    assert not store.location.is_local
    with pytest.raises(StoreError, match=r"expected a URI deltalake can open .*Pass the store as a URI"):
        store.write_version("radiomics", long_table(), version_id="cafe01")
    assert not os.path.exists(root)  # no Delta log written to the local disk under that path
    assert [i.path for i in memory.get_file_info(pafs.FileSelector(f"{root}/tables", recursive=True))
            if i.type == pafs.FileType.File] == []  # nor data files left in the memory store
    assert store.tables() == [] and store.versions() == []


def test_a_file_uri_is_a_local_store(tmp_path, long_table) -> None:
    store = FeatureStore(f"file://{tmp_path}/s", row_group_rows=4, rows_per_file=8)
    info = store.write_version("radiomics", long_table(), version_id="cafe01")
    assert store.location.is_local and os.path.isdir(tmp_path / "s" / "tables" / "radiomics" / "_delta_log")
    assert FeatureStore(tmp_path / "s").read("radiomics").num_rows == info.rows == 12


def test_store_under_a_file_gives_a_clear_error(tmp_path, long_table) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    for path in (blocker / "store", blocker):
        with pytest.raises(StoreError, match="could not write a version of 'radiomics'") as info:
            FeatureStore(path).write_version("radiomics", long_table())
        assert "not a folder" in str(info.value) or "is a file" in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_store_gives_a_clear_error(tmp_path, long_table) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="permission denied: make the folder writable"):
            FeatureStore(folder).write_version("radiomics", long_table())
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs a Linux /sys")
def test_store_in_a_system_folder_gives_a_clear_error(long_table) -> None:
    # /sys refuses new folders even to root, unlike a chmod-ed folder
    with pytest.raises(StoreError) as info:
        FeatureStore("/sys/alnm-ray-store").write_version("radiomics", long_table())
    message = str(info.value)
    assert message.startswith("store '/sys/alnm-ray-store': could not write a version of 'radiomics'")
    assert any(h in message for h in ("operation not permitted: make the folder writable",
                                      "permission denied: make the folder writable",
                                      "the filesystem is read-only"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_message_names_the_fix() -> None:
    with pytest.raises(OSError) as info:
        with open("/dev/full", "wb") as handle:
            handle.write(b"x" * 4096)
            handle.flush()
    message = os_error_message(info.value, "write version radiomics@ab12", "/data/store")
    assert message.startswith("store '/data/store': could not write version radiomics@ab12")
    assert "the disk is full: free space or point --store at a volume with room" in message


def test_the_record_is_in_the_commit_of_the_version(store, long_table, delta_files) -> None:
    info = store.write_version("radiomics", long_table(), version_id="0a1b2c", params={"p": 1},
                               lineage={"manifest": "m.csv", "manifest_sha256": "ff"})
    record = delta_files.record(store, "radiomics", 0)
    assert record["version"] == "0a1b2c" and record["table"] == "radiomics" and record["mode"] == "overwrite"
    assert sorted(record["file_sha256"]) == sorted(delta_files.added(store, "radiomics", 0)) \
        == list(store.with_files(info).files)
    assert record["lineage"] == {"manifest": "m.csv", "manifest_sha256": "ff"} and record["params"] == {"p": 1}
    assert record["rows"] == 12 and record["key"] == list(CASE_KEY)
    marker = json.loads(open(os.path.join(store.uri, "_store.json"), encoding="utf-8").read())
    assert marker["alnm_ray_store"] == 2 and marker["format"] == "delta"


def test_dataframe_index_is_kept_only_when_named(store, long_table) -> None:
    frame = long_table(n_patients=4).to_pandas()
    filtered = frame[frame["sequence"] == "ADC"]  # a non-default index
    info = store.write_version("radiomics", filtered)
    assert "__index_level_0__" not in info.column_names and info.rows == 4
    wide = pd.DataFrame({"age": [50.0, 61.0]}, index=pd.Index(["a", "b"], name="patient_id"))
    assert store.write_version("clinical", wide).column_names == ["age", "patient_id"]


def test_each_version_records_its_role_and_the_store_lists_tables_by_role(store, long_table,
                                                                         delta_files) -> None:
    store.write_version("radiomics", long_table())
    store.write_version("cv_results", pd.DataFrame({"auc": [0.7]}))  # a result table by its name
    store.write_version("scores", pd.DataFrame({"auc": [0.6]}), role="output")
    store.write_version("feature_dictionary", pd.DataFrame({"column": ["f"]}), role="dictionary")
    assert store.latest("radiomics").role == "feature" and store.latest("cv_results").role == "output"
    assert store.feature_tables() == ["radiomics"]
    assert store.tables(role="output") == ["cv_results", "scores"]
    assert store.tables(role="dictionary") == ["feature_dictionary"]
    assert store.tables() == ["cv_results", "feature_dictionary", "radiomics", "scores"]
    assert delta_files.record(store, "scores", 0)["role"] == "output"
    # the role of the latest version decides: a table re-written as features is a feature table again
    store.write_version("scores", pd.DataFrame({"patient_id": ["p1"], "x": [1.0]}), role="feature")
    assert store.feature_tables() == ["radiomics", "scores"]
    with pytest.raises(ConfigError, match="role: expected one of dictionary, feature, output; got 'features'"):
        store.write_version("x", pd.DataFrame({"a": [1]}), role="features")
    with pytest.raises(ConfigError, match="Did you mean 'output'"):
        store.tables(role="outputs")


def test_records_without_a_role_get_the_usual_role(store, long_table, delta_files) -> None:
    for table in ("radiomics", "predictions", "feature_dictionary"):
        store.write_version(table, long_table() if table == "radiomics" else pd.DataFrame({"a": [1]}),
                            role="output")
        delta_files.edit_record(store, table, 0, drop=("role",))
    store = FeatureStore(store.uri)
    assert [store.latest(t).role for t in ("radiomics", "predictions", "feature_dictionary")] == [
        "feature", "output", "dictionary"]
    assert store.feature_tables() == ["radiomics"]
