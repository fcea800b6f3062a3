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


def _commit_file(store: Path, table: str, number: int) -> Path:
    return store / "tables" / table / "_delta_log" / f"{number:020d}.json"


def _edit_commit(store: Path, table: str, number: int, *, record=None, add_path=None) -> None:
    """Rewrite commit ``number`` of ``table``: its alnm-ray record and/or its (first) added file."""
    path = _commit_file(store, table, number)
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        action = json.loads(line)
        if "commitInfo" in action and record is not None:
            action["commitInfo"]["alnm_ray"] = record if isinstance(record, str) else json.dumps(record)
        if "add" in action and add_path is not None:
            action["add"]["path"] = add_path
        lines.append(json.dumps(action))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


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
    opened = FeatureStore(store)
    info = opened.with_files(opened.resolve(f"{table}@{version}"))
    return Path(info.path) / info.files[0]


# --- 1. confined ---------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_a_log_naming_a_file_outside_the_store_is_never_read(store: Path, where: str) -> None:
    outside = store.parent / "outside"
    outside.mkdir()
    pq.write_table(pa.table({"patient_id": ["SECRET-42"], "v": [9.0]}), outside / "part-00000.parquet")
    value = "../../../outside/part-00000.parquet" if where == "relative" else \
        str(outside / "part-00000.parquet")
    _edit_commit(store, "radiomics", 0, add_path=value)
    for sql in ("SELECT * FROM radiomics", "SELECT * FROM errors", 'SELECT * FROM "radiomics@aaaa"'):
        result = _run("sql", "--store", str(store), sql)
        assert "SECRET-42" not in result.output
        assert "Traceback" not in result.output and "internal error" not in result.output
    named = _run("sql", "--store", str(store), 'SELECT * FROM "radiomics@aaaa"')
    assert named.exit_code == 2
    assert "expected data file paths inside the table folder; the log names" in named.output
    assert "radiomics@" in named.output and "features verify" in named.output
    healthy = _run("sql", "--store", str(store), "SELECT count(*) AS n FROM clinical")
    assert healthy.exit_code == 0 and "2" in healthy.output


def test_a_symlink_out_of_the_store_is_not_followed(store: Path) -> None:
    outside = store.parent / "outside"
    outside.mkdir()
    pq.write_table(pa.table({"patient_id": ["SECRET-42"], "v": [9.0]}), outside / "part-00000.parquet")
    FeatureStore(store).write_version("radiomics", pa.table({"patient_id": ["p1", "p2", "p3"],
                                                             "v": [1.0, 2.0, 3.0]}), version_id="aaaa2222")
    data = _data_file(store, "radiomics", "aaaa2222")
    data.unlink()
    data.symlink_to(outside / "part-00000.parquet")
    result = _run("sql", "--store", str(store), 'SELECT * FROM "radiomics@aaaa2222"')
    assert result.exit_code == 2 and "SECRET-42" not in result.output
    assert "a symbolic link makes it point to" in result.output
    verify = _run("features", "verify", "--store", str(store))
    assert verify.exit_code == 1 and "radiomics@aaaa2222" in verify.output
    repaired = _run("features", "repair", "--store", str(store))
    assert repaired.exit_code == 0, repaired.output
    assert (outside / "part-00000.parquet").is_file()  # outside untouched
    assert not data.is_symlink() and not data.exists()  # the link moved into _quarantine/, as a link
    assert "latest now radiomics@aaaa1111" in repaired.output
    assert _run("features", "verify", "--store", str(store)).exit_code == 0
    back = _run("sql", "--store", str(store), "--format", "csv", "SELECT count(*) AS n FROM radiomics")
    assert back.exit_code == 0 and back.output.strip().endswith("2")


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
def test_a_damaged_commit_record_blocks_only_its_table(store: Path) -> None:
    FeatureStore(store).write_version("radiomics", pa.table({"patient_id": ["p9"], "v": [9.0]}),
                                      version_id="ffff0000")
    _edit_commit(store, "radiomics", 1, record={})
    catalog = _run("sql", "--store", str(store), "--format", "csv",
                   'SELECT "table", version, status FROM catalog ORDER BY 1, 2')
    assert catalog.exit_code == 0, catalog.output
    assert '"radiomics","delta-1","entry: ' in catalog.output and "expected 'radiomics'" in catalog.output
    assert "features verify" in catalog.output  # the warning naming the commands
    assert _run("sql", "--store", str(store), "SELECT * FROM clinical").exit_code == 0
    old = _run("sql", "--store", str(store), 'SELECT count(*) AS n FROM "radiomics@aaaa"')
    assert old.exit_code == 0, old.output
    latest = _run("sql", "--store", str(store), "SELECT * FROM radiomics")
    assert latest.exit_code == 2 and "View radiomics is left out: radiomics@delta-1" in latest.output
    show = _run("features", "show", "radiomics", "--store", str(store))
    assert show.exit_code == 2
    assert "file tables/radiomics/_delta_log/00000000000000000001.json" in show.output
    assert "latest version of the table is therefore unknown" in show.output
    repaired = _run("features", "repair", "--store", str(store))
    assert repaired.exit_code == 0 and "latest now radiomics@aaaa1111" in repaired.output
    assert _run("features", "verify", "--store", str(store)).exit_code == 0
    assert _run("sql", "--store", str(store), "SELECT * FROM radiomics").exit_code == 0


def test_a_truncated_data_file_leaves_the_rest_queryable(store: Path) -> None:
    path = _data_file(store, "radiomics", "aaaa1111")
    path.write_bytes(path.read_bytes()[:100])
    result = _run("sql", "--store", str(store), "SELECT count(*) AS n FROM catalog")
    assert result.exit_code == 0 and "ArrowInvalid" not in result.output
    assert _run("sql", "--store", str(store), "SELECT * FROM clinical").exit_code == 0
    named = _run("sql", "--store", str(store), 'SELECT * FROM "radiomics@aaaa"')
    assert named.exit_code == 2
    assert f"version radiomics@aaaa1111, file tables/radiomics/{path.name}: expected" in named.output
    assert "bytes (as recorded); found 100" in named.output
    listed = _run("features", "list", "radiomics", "--store", str(store))
    assert listed.exit_code == 0 and "size: tables/radiomics/" in listed.output


def test_a_deleted_data_file_is_marked_and_named(store: Path) -> None:
    path = _data_file(store, "clinical", "cccc3333")
    path.unlink()
    listed = _run("features", "list", "--store", str(store))
    assert listed.exit_code == 0
    assert "missing: tables/clinical/" in listed.output
    assert "ok" in listed.output and "features verify" in listed.output
    result = _run("sql", "--store", str(store), 'SELECT * FROM "clinical@cccc"')
    assert result.exit_code == 2
    assert "check the store path exists" not in result.output
    assert f"version clinical@cccc3333, file tables/clinical/{path.name}: expected the file" in result.output


def test_verify_checks_sha256_and_repair_quarantines_idempotently(store: Path) -> None:
    opened = FeatureStore(store)
    opened.write_version("big", pa.table({"x": pa.array(range(10), pa.int64())}), version_id="bbbb3333")
    assert _run("features", "verify", "--store", str(store)).output.startswith("ok: 4 version(s)")
    path = _data_file(store, "big", "bbbb3333")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte altered
    path.write_bytes(bytes(data))
    verify = _run("features", "verify", "--store", str(store))
    assert verify.exit_code == 1
    assert f"big@bbbb3333  tables/big/{path.name}: expected SHA-256" in verify.output
    assert "1 problem(s) in 1 of 4 version(s): big@bbbb3333" in verify.output
    repaired = _run("features", "repair", "--store", str(store))
    assert repaired.exit_code == 0 and "repaired big (latest now big@bbbb2222) -> _quarantine/big/" \
        in repaired.output
    quarantine = next(p for p in (store / "_quarantine" / "big").iterdir() if p.is_dir())
    assert (quarantine / "files" / path.name).read_bytes() == bytes(data)  # kept, not deleted
    assert "expected SHA-256" in (quarantine / "REASON.txt").read_text(encoding="utf-8")
    assert not path.exists()
    assert FeatureStore(store).read("big").num_rows == 20_000  # the healthy version is the latest again
    again = _run("features", "repair", "--store", str(store))
    assert again.exit_code == 0 and "nothing to repair" in again.output
    checked = _run("features", "verify", "--store", str(store))
    assert checked.exit_code == 0, checked.output


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
