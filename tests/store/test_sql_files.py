"""Views over Parquet files: only the latest snapshot's files are readable, the log is read once."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import duckdb
import pyarrow as pa
import pytest

from alnm_ray.exceptions import StoreError
from alnm_ray.store import StoreSQL, query
from alnm_ray.store.delta_files import JsonDeltaLog
from alnm_ray.store.delta_log import DeltaLog


@pytest.fixture
def versions(store, long_table, error_rows):
    first = store.write_version("radiomics", long_table(n_patients=6, seed=1), version_id="aa11")
    second = store.write_version("radiomics", long_table(n_patients=4, seed=2), version_id="bb22",
                                 errors=error_rows(2), parent="aa11")
    store.write_version("clinical", pa.table({"patient_id": ["p000", "p001"], "age": [50.0, 61.0]}))
    return store, first, second


def _files(store, info) -> list[str]:
    return [store.location.path(f"{info.data_dir}/{n}") for n in store.with_files(info).files]


def test_views_read_exactly_the_latest_files(versions) -> None:
    store, first, second = versions
    latest, old = set(_files(store, second)), set(_files(store, first)) - set(_files(store, second))
    assert old, "the first version's files are replaced by the second's"
    errors_files = glob.glob(os.path.join(store.uri, "errors", "*.parquet"))
    assert errors_files
    with StoreSQL(store) as session:
        allowed = session._con.execute("SELECT current_setting('allowed_paths')").fetchall()[0][0]
        assert set(allowed) == latest | set(_files(store, store.latest("clinical")))
        for path in sorted(old) + errors_files + ["/etc/passwd"]:
            with pytest.raises(StoreError, match="file access is disabled"):
                session.query(f"SELECT count(*) FROM read_parquet('{path}')")
        folder = os.path.join(store.uri, "tables", "radiomics")
        with pytest.raises(StoreError, match="file access is disabled"):
            session.query(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')")
        with pytest.raises(StoreError, match="file access is disabled"):
            session.query("SELECT * FROM read_csv('/etc/passwd')")
        # a version named after the session opened is an Arrow dataset: no file joins the list
        assert session.query('SELECT count(*) AS n FROM "radiomics@aa11"').column("n")[0].as_py() == 12
        assert session._con.execute("SELECT current_setting('allowed_paths')").fetchall()[0][0] == allowed
        assert session.query("SELECT count(*) AS n FROM errors").column("n")[0].as_py() == 2


@pytest.mark.parametrize("sql", [
    "SET allowed_paths = ['/etc/passwd']",
    "RESET allowed_paths",
    "SET enable_external_access = true",
    "SELECT set_config('allowed_paths', '/etc/passwd')",
])
def test_allowed_paths_cannot_be_changed_by_a_query(versions, sql) -> None:
    store, _, _ = versions
    with StoreSQL(store) as session:
        with pytest.raises(StoreError):
            session.query(sql)
        with pytest.raises(duckdb.Error, match="locked"):  # the lock also holds on the connection
            session._con.execute("SET allowed_paths = ['/etc/passwd']")
        with pytest.raises(StoreError, match="file access is disabled"):
            session.query("SELECT * FROM read_csv('/etc/passwd')")


@pytest.mark.parametrize("sql", ["COPY (SELECT 1) TO '/tmp/x.csv'", "ATTACH '/tmp/x.db'",
                                 "INSTALL httpfs", "LOAD httpfs"])
def test_writes_and_extensions_still_refused(versions, sql) -> None:
    store, _, _ = versions
    with StoreSQL(store) as session:
        with pytest.raises(StoreError, match="read-only"):
            session.query(sql)
        with pytest.raises(duckdb.Error):  # even past the statement check, DuckDB refuses
            session._con.execute(sql)


def test_version_named_in_the_query_reads_its_own_files(versions) -> None:
    store, first, _ = versions
    result = query(store, 'SELECT count(*) AS n FROM "radiomics@aa11"')
    assert result.column("n")[0].as_py() == first.rows == 12


def test_json_log_agrees_with_deltalake(versions) -> None:
    from alnm_ray.store import compact

    store, _, _ = versions
    compact(store, ["radiomics"])  # an OPTIMIZE commit: removes and adds
    json_log, delta_log = JsonDeltaLog(store.location), DeltaLog(store.location)
    for table in ("radiomics", "clinical"):
        rel = f"tables/{table}"
        assert json_log.history(rel) == delta_log.history(rel)
        for commit in delta_log.history(rel):
            assert sorted(json_log.files(rel, commit.version)) == sorted(delta_log.files(rel, commit.version))
    assert json_log.scan() == delta_log.scan()


def test_log_is_read_once_per_session(versions, monkeypatch) -> None:
    store, _, _ = versions
    reads: list[str] = []
    parse = JsonDeltaLog._parse

    def counting(self, rel, names):
        reads.append(rel)
        return parse(self, rel, names)

    monkeypatch.setattr(JsonDeltaLog, "_parse", counting)
    with StoreSQL(store) as session:
        session.query("SELECT count(*) FROM radiomics")
    assert sorted(reads) == sorted(set(reads)), reads


def test_sql_command_imports_no_heavy_module(versions) -> None:
    store, _, _ = versions
    code = ("import sys\nfrom alnm_ray.cli.main import cli\n"
            "try:\n    cli(['sql', '--store', sys.argv[1], '--format', 'csv', "
            "'SELECT count(*) AS n FROM radiomics'], standalone_mode=False)\n"
            "finally:\n    heavy = ('pandas', 'SimpleITK', 'jsonschema', 'torch', 'ray', 'sklearn', "
            "'deltalake', 'pyarrow.dataset')\n"
            "    print('HEAVY', sorted(m for m in heavy if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code, store.uri], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout
    assert "\n8\n" in done.stdout
