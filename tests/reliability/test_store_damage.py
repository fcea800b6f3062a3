"""A confined, bounded SQL surface and a store that checks itself, through the real CLI.

Each probe damages a real store on disk (or runs a real DuckDB query that is too
long, too big, or interrupted) and checks the answer: a four-part message that
names the table, version and file or the option to raise, no traceback, and the
healthy part of the store still usable.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore


def _run(*args: str):
    return CliRunner().invoke(cli, ["--quiet", *args])


def _entry(store: Path, table: str, version: str) -> Path:
    return store / "_catalog" / table / f"{version}.json"


def _edit_entry(store: Path, table: str, version: str, **changes) -> None:
    path = _entry(store, table, version)
    record = json.loads(path.read_text(encoding="utf-8"))
    record.update(changes)
    path.write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with radiomics@aaaa1111 (with error rows), clinical@cccc3333 and big@bbbb2222."""
    path = tmp_path / "store"
    opened = FeatureStore(path)
    errors = pa.table({c: ["x"] for c in ("stage", "cohort", "center", "patient_id", "sequence",
                                          "reader", "error_type", "message")})
    opened.write_version("radiomics", pa.table({"patient_id": ["p1", "p2"], "v": [1.0, 2.0]}),
                         version_id="aaaa1111", errors=errors)
    opened.write_version("clinical", pa.table({"patient_id": ["p1", "p2"], "age": [50.0, 61.0]}),
                         version_id="cccc3333")
    opened.write_version("big", pa.table({"x": pa.array(range(20_000), pa.int64())}),
                         version_id="bbbb2222")
    return path


def _data_file(store: Path, table: str, version: str) -> Path:
    info = FeatureStore(store).resolve(f"{table}@{version}")
    return Path(info.path) / info.files[0]


# --- 1. confined ---------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["data_dir", "errors_file"])
def test_a_catalog_entry_pointing_outside_the_store_is_never_read(store: Path, field: str) -> None:
    outside = store.parent / "outside"
    outside.mkdir()
    pq.write_table(pa.table({"patient_id": ["SECRET-42"], "v": [9.0]}), outside / "part-00000.parquet")
    shutil.copy(outside / "part-00000.parquet", outside / "errors.parquet")
    value = "../outside" if field == "data_dir" else "../../../outside/errors.parquet"
    _edit_entry(store, "radiomics", "aaaa1111", **{field: value})
    for sql in ("SELECT * FROM radiomics", "SELECT * FROM errors", 'SELECT * FROM "radiomics@aaaa"'):
        result = _run("sql", "--store", str(store), sql)
        assert "SECRET-42" not in result.output
        assert "Traceback" not in result.output and "internal error" not in result.output
    named = _run("sql", "--store", str(store), 'SELECT * FROM "radiomics@aaaa"')
    assert named.exit_code == 2
    assert f"expected a folder 'tables/radiomics/<name>' inside the store in field 'data_dir'" in \
        named.output or "expected a plain file name or null in field 'errors_file'" in named.output
    assert "radiomics@aaaa1111" in named.output and "features repair" in named.output
    healthy = _run("sql", "--store", str(store), "SELECT count(*) AS n FROM clinical")
    assert healthy.exit_code == 0 and "2" in healthy.output


def test_a_symlink_out_of_the_store_is_not_followed(store: Path) -> None:
    outside = store.parent / "outside"
    outside.mkdir()
    pq.write_table(pa.table({"patient_id": ["SECRET-42"], "v": [9.0]}), outside / "part-00000.parquet")
    data = _data_file(store, "radiomics", "aaaa1111").parent
    shutil.rmtree(data)
    data.symlink_to(outside, target_is_directory=True)
    result = _run("sql", "--store", str(store), 'SELECT * FROM "radiomics@aaaa"')
    assert result.exit_code == 2 and "SECRET-42" not in result.output
    assert "a symbolic link makes it point to" in result.output
    verify = _run("features", "verify", "--store", str(store))
    assert verify.exit_code == 1 and "radiomics@aaaa1111" in verify.output
    repaired = _run("features", "repair", "--store", str(store))
    assert repaired.exit_code == 0 and (outside / "part-00000.parquet").is_file()  # outside untouched
    assert not data.is_symlink() and _run("features", "verify", "--store", str(store)).exit_code == 0


def test_duckdb_temp_folder_is_private_not_the_working_folder(store: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    work = tmp_path / "work"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "x.csv").write_text("secret\nSECRET-42\n", encoding="utf-8")
    monkeypatch.chdir(work)
    read = _run("sql", "--store", str(store), "SELECT * FROM read_csv('.tmp/x.csv')")
    assert read.exit_code == 2 and "file access is disabled" in read.output
    assert "SECRET-42" not in read.output
    # a query that spills to disk under a small memory limit writes nothing into the working folder
    spill = _run("sql", "--store", str(store), "--memory-limit", "64MB", "--format", "csv",
                 "SELECT count(*) AS n FROM (SELECT DISTINCT i FROM range(4000000) t(i))")
    assert spill.exit_code == 0, spill.output
    assert "4000000" in spill.output
    assert sorted(p.name for p in (work / ".tmp").iterdir()) == ["x.csv"]
    assert sorted(p.name for p in work.iterdir()) == [".tmp"]


# --- 2. bounded ----------------------------------------------------------------------------------
CROSS_JOIN = "SELECT count(*) FROM big a, big b, big c WHERE a.x + b.x + c.x = 7"


def test_a_query_past_the_timeout_is_stopped_naming_the_option(store: Path) -> None:
    result = _run("sql", "--store", str(store), "--timeout", "1", CROSS_JOIN)
    assert result.exit_code == 2
    assert "ran longer than --timeout 1 s and was stopped" in result.output
    assert "Raise --timeout" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("sql", [
    "SELECT list(i) FROM range(50000000) t(i)",  # DuckDB's own memory_limit
    "SELECT length(repeat('x', 500000000)) AS n",  # one string DuckDB does not count: the watcher
])
def test_a_query_past_the_memory_limit_is_stopped_naming_the_option(store: Path, sql: str) -> None:
    result = _run("sql", "--store", str(store), "--memory-limit", "64MB", sql)
    assert result.exit_code == 2, result.output
    assert "needed more memory than --memory-limit 64 MB allows" in result.output
    assert "Raise --memory-limit" in result.output and "Traceback" not in result.output


def test_a_bad_memory_limit_is_refused() -> None:
    result = _run("sql", "--store", "x", "--memory-limit", "lots", "SELECT 1")
    assert result.exit_code == 2 and "expected a size such as 2GB" in result.output


def test_ctrl_c_stops_a_running_query_with_exit_130(store: Path, tmp_path: Path) -> None:
    private = tmp_path / "tmp"  # the session's temp folder appears here once the query runs
    private.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from alnm_ray.cli.main import main; main()", "sql", "--store",
         str(store), CROSS_JOIN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        env={**os.environ, "TMPDIR": str(private)})
    for _ in range(600):  # wait for the session to open (slow under load), at most a minute
        if any(p.name.startswith("alnm-ray-sql-") for p in private.iterdir()) or proc.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(2.0)
    assert proc.poll() is None, proc.communicate()  # still running: the query is long
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err and "internal error" not in err and out == ""
    assert list(private.iterdir()) == []  # the private temp folder is removed


# --- 3. a damaged store ----------------------------------------------------------------------------
def test_an_empty_catalog_entry_blocks_only_its_table(store: Path) -> None:
    _entry(store, "radiomics", "ffff0000").write_text("{}", encoding="utf-8")
    catalog = _run("sql", "--store", str(store), "--format", "csv",
                   'SELECT "table", version, status FROM catalog ORDER BY 1, 2')
    assert catalog.exit_code == 0, catalog.output
    assert '"radiomics","ffff0000","entry: expected \'radiomics\'' in catalog.output
    assert "features verify" in catalog.output  # the warning naming the commands
    assert _run("sql", "--store", str(store), "SELECT * FROM clinical").exit_code == 0
    old = _run("sql", "--store", str(store), 'SELECT count(*) AS n FROM "radiomics@aaaa"')
    assert old.exit_code == 0, old.output
    latest = _run("sql", "--store", str(store), "SELECT * FROM radiomics")
    assert latest.exit_code == 2 and "View radiomics is left out: radiomics@ffff0000" in latest.output
    show = _run("features", "show", "radiomics", "--store", str(store))
    assert show.exit_code == 2
    assert "version radiomics@ffff0000, file _catalog/radiomics/ffff0000.json" in show.output
    assert "latest version of the table is therefore unknown" in show.output


def test_a_truncated_data_file_leaves_the_rest_queryable(store: Path) -> None:
    path = _data_file(store, "radiomics", "aaaa1111")
    path.write_bytes(path.read_bytes()[:100])
    result = _run("sql", "--store", str(store), "SELECT count(*) AS n FROM catalog")
    assert result.exit_code == 0 and "ArrowInvalid" not in result.output
    assert _run("sql", "--store", str(store), "SELECT * FROM clinical").exit_code == 0
    named = _run("sql", "--store", str(store), 'SELECT * FROM "radiomics@aaaa"')
    assert named.exit_code == 2
    assert f"version radiomics@aaaa1111, file tables/radiomics/{path.parent.name}/part-00000.parquet: " \
           "expected" in named.output and "bytes (as recorded); found 100" in named.output
    listed = _run("features", "list", "radiomics", "--store", str(store))
    assert listed.exit_code == 0 and "size: tables/radiomics/" in listed.output


def test_a_deleted_version_folder_is_marked_and_named(store: Path) -> None:
    folder = _data_file(store, "clinical", "cccc3333").parent
    shutil.rmtree(folder)
    listed = _run("features", "list", "--store", str(store))
    assert listed.exit_code == 0
    assert "missing: tables/clinical/" in listed.output
    assert "ok" in listed.output and "features verify" in listed.output
    result = _run("sql", "--store", str(store), 'SELECT * FROM "clinical@cccc"')
    assert result.exit_code == 2
    assert "check the store path exists" not in result.output
    assert f"version clinical@cccc3333, file tables/clinical/{folder.name}/part-00000.parquet: " \
           "expected the file" in result.output


def test_verify_checks_sha256_and_repair_quarantines_idempotently(store: Path) -> None:
    assert _run("features", "verify", "--store", str(store)).output.startswith("ok: 3 version(s)")
    path = _data_file(store, "big", "bbbb2222")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte altered
    path.write_bytes(bytes(data))
    verify = _run("features", "verify", "--store", str(store))
    assert verify.exit_code == 1
    assert f"big@bbbb2222  tables/big/{path.parent.name}/part-00000.parquet: expected SHA-256" in verify.output
    assert "1 problem(s) in 1 of 3 version(s): big@bbbb2222" in verify.output
    repaired = _run("features", "repair", "--store", str(store))
    assert repaired.exit_code == 0 and "quarantined big@bbbb2222 -> _quarantine/big/" in repaired.output
    quarantine = next((store / "_quarantine" / "big").iterdir())
    assert (quarantine / "data" / "part-00000.parquet").read_bytes() == bytes(data)  # kept, not deleted
    assert "expected SHA-256" in (quarantine / "REASON.txt").read_text(encoding="utf-8")
    assert (quarantine / "entry.json").is_file() and not path.parent.exists()
    again = _run("features", "repair", "--store", str(store))
    assert again.exit_code == 0 and "nothing to repair" in again.output
    assert _run("features", "verify", "--store", str(store)).exit_code == 0


# --- 4. not a store --------------------------------------------------------------------------------
def test_a_folder_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "etc"
    other.mkdir()
    (other / "passwd").write_text("root:x:0:0\n", encoding="utf-8")
    for args in (["sql", "--store", str(other), "SELECT * FROM catalog"],
                 ["features", "list", "--store", str(other)],
                 ["features", "verify", "--store", str(other)]):
        result = _run(*args)
        assert result.exit_code == 2, result.output
        assert "expected an alnm-ray store folder (one holding _store.json" in result.output
        assert "found a folder of 1 other entries and no _store.json. Check --store" in result.output
    empty = tmp_path / "new"
    empty.mkdir()
    assert _run("sql", "--store", str(empty), "SELECT count(*) FROM catalog").exit_code == 0
    FeatureStore(tmp_path / "made")._prepare()  # what alnm-ray writes before the first version
    made = _run("sql", "--store", str(tmp_path / "made"), "SELECT count(*) AS n FROM catalog")
    assert made.exit_code == 0 and os.path.isfile(tmp_path / "made" / "_store.json")
