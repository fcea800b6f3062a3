"""`alnm-ray sql` printing DuckDB rows without Arrow: the same text as write_result, the same session.

Every check runs real DuckDB over a real Delta store on disk: the rows path
(:func:`alnm_ray.store.sql.query_rows` + :func:`alnm_ray.cli.sql.write_rows`)
against the Arrow path (:func:`alnm_ray.store.query` + :func:`write_result`).
"""

from __future__ import annotations

import io
import math
import os
import random
import struct
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.cli.sql import write_rows
from alnm_ray.csvsafe import csv_double, rows_to_csv
from alnm_ray.exceptions import StoreError
from alnm_ray.store import FeatureStore, query
from alnm_ray.store import output
from alnm_ray.store.sql import Rows, StoreSQL, _PlainStore, open_session, query_rows

ODD_FLOATS = [0.0, -0.0, 1.0, 2.5, -1.5, 0.1, 1e-6, 1e-7, 1.5e-7, 123456789.0, 1e10, 1.2345678901e10,
              1e21, 5e-324, 1.7976931348623157e308, float("nan"), float("inf"), float("-inf"), None]
ODD_TEXT = ["=HYPERLINK(\"http://x\")", "+1", "-0.5", "@SUM(A1)", "\tx", "\rx", 'say "hi"', "a,b",
            "two\nlines", "", "ünïcødé", "x" * 60, None, "-", "- 3", "plain"]


@pytest.fixture
def store_path(tmp_path) -> str:
    path = str(tmp_path / "store")
    n = len(ODD_TEXT)
    table = pa.table({
        "cohort": ["c"] * n, "center": [f"C{i % 3}" for i in range(n)],
        "patient_id": [f"p{i:03d}" for i in range(n)], "sequence": ["T2WI"] * n, "reader": ["A"] * n,
        "note": ODD_TEXT,
        "value": [ODD_FLOATS[i % len(ODD_FLOATS)] for i in range(n)],
        "count": pa.array([None if i == 3 else i * 10**9 - 7 for i in range(n)], pa.int64()),
        "small": pa.array([i % 100 for i in range(n)], pa.int16()),
        "flag": [None if i == 2 else i % 2 == 0 for i in range(n)],
    })
    FeatureStore(path).write_version("radiomics", table, version_id="feed01")
    return path


QUERIES = [
    "SELECT * FROM radiomics ORDER BY patient_id",
    "SELECT center, count(*) AS n, avg(value) AS mean, sum(count)::BIGINT AS total FROM radiomics "
    "WHERE isfinite(value) GROUP BY center ORDER BY center",
    "SELECT note AS \"=evil\", 1 AS a, 2.5::DOUBLE AS a, flag FROM radiomics ORDER BY patient_id",
    "SELECT * FROM radiomics WHERE patient_id = 'nobody'",
    "SELECT 1::TINYINT AS t, 2::UBIGINT AS u, 3::UINTEGER AS ui, -4::SMALLINT AS s, true AS b",
    "SELECT \"table\", version, rows, is_latest FROM catalog",
    "SELECT * FROM errors",
]


def _arrow_text(table: pa.Table, fmt: str, max_rows: int | None = None) -> str:
    stream = io.StringIO()
    output.write_result(table, fmt, stream=stream, max_rows=max_rows)
    return stream.getvalue()


def _rows_text(rows: Rows, fmt: str, max_rows: int | None = None) -> str:
    stream = io.StringIO()
    write_rows(rows, fmt, stream=stream, max_rows=max_rows)
    return stream.getvalue()


@pytest.mark.parametrize("sql", QUERIES)
def test_rows_print_exactly_as_the_arrow_table(store_path, sql) -> None:
    rows = query_rows(store_path, sql)
    assert isinstance(rows, Rows), sql
    table = query(store_path, sql)
    assert rows.names == tuple(table.schema.names) and rows.num_rows == table.num_rows
    for fmt in ("csv", "json", "table"):
        assert _rows_text(rows, fmt) == _arrow_text(table, fmt), (fmt, sql)
    assert _rows_text(rows, "table", max_rows=2) == _arrow_text(table, "table", max_rows=2)


def test_csv_guard_on_rows(store_path) -> None:
    text = _rows_text(query_rows(store_path, "SELECT note AS \"=evil\" FROM radiomics ORDER BY patient_id"),
                      "csv")
    assert text.startswith('"\'=evil"\n')
    for cell in ("=HYPERLINK", "@SUM(A1)", "\tx", "\rx", "- 3"):
        assert f"\"'{cell}" in text, cell
    assert '"-0.5"' in text and '"+1"' in text  # a number in text is left alone


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_cli_output_is_the_arrow_output(store_path, tmp_path, fmt) -> None:
    for sql in QUERIES[:3]:
        expected = _arrow_text(query(store_path, sql), fmt, max_rows=5 if fmt == "table" else None)
        done = CliRunner().invoke(cli, ["--quiet", "sql", "--store", store_path, "--format", fmt,
                                        "--max-rows", "5", sql])
        assert done.exit_code == 0, done.output
        assert done.output == expected, (fmt, sql)
        out = tmp_path / f"result.{fmt}"
        done = CliRunner().invoke(cli, ["--quiet", "sql", "--store", store_path, "--format", fmt,
                                        "--out", str(out), sql])
        assert done.exit_code == 0, done.output
        written = io.StringIO()
        output.write_result(query(store_path, sql), fmt, out=str(tmp_path / "arrow.out"))
        with open(tmp_path / "arrow.out", encoding="utf-8", newline="") as fh:
            written.write(fh.read())
        with open(out, encoding="utf-8", newline="") as fh:
            assert fh.read() == written.getvalue()


@pytest.mark.parametrize("sql", [
    "SELECT TIMESTAMP '2024-01-02 03:04:05' AS t, 1.5::DECIMAL(9, 2) AS d, [1, 2] AS l",
    "SELECT 1.5::REAL AS r, NULL AS n",
    "SELECT created FROM catalog",
    "SELECT sum(count) AS total FROM radiomics",
])
def test_other_types_go_through_arrow(store_path, sql) -> None:
    result = query_rows(store_path, sql)
    assert isinstance(result, pa.Table)
    expected = query(store_path, sql)
    assert result.schema == expected.schema and result.to_pylist() == expected.to_pylist()
    for fmt in ("json", "table"):  # pyarrow.csv refuses lists: both paths alike
        assert _arrow_text(result, fmt) == _arrow_text(expected, fmt)


def test_explain_prints_its_plan(store_path) -> None:
    sql = "EXPLAIN SELECT center FROM radiomics WHERE value > 0"
    rows = query_rows(store_path, sql)
    assert isinstance(rows, Rows)
    assert _rows_text(rows, "csv") == _arrow_text(query(store_path, sql), "csv")
    assert "physical_plan" in _rows_text(rows, "csv")


def test_a_large_result_comes_back_whole_as_arrow(store_path) -> None:
    sql = "SELECT patient_id, value, count FROM radiomics ORDER BY patient_id"
    small = query_rows(store_path, sql, max_cells=len(ODD_TEXT) * 3)
    assert isinstance(small, Rows)
    large = query_rows(store_path, sql, max_cells=7)  # two rows' worth: the rest through Arrow
    assert isinstance(large, pa.Table)
    expected = query(store_path, sql)
    assert large.schema == expected.schema
    assert str(large.to_pylist()) == str(expected.to_pylist())  # NaN compares as text
    assert _arrow_text(large, "csv") == _arrow_text(expected, "csv") == _rows_text(small, "csv")


def test_csv_double_is_pyarrows_formatting() -> None:
    rng = random.Random(7)
    values = [v for v in ODD_FLOATS if v is not None]
    for _ in range(20_000):
        if rng.random() < 0.5:
            values.append(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
        else:
            values.append(rng.gauss(0, 1) * 10 ** rng.randint(-12, 14))
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table({"x": pa.array(values, pa.float64())}), buffer)
    expected = buffer.getvalue().decode().splitlines()[1:]
    assert [csv_double(v) for v in values] == expected
    assert rows_to_csv(["x"], ["DOUBLE"], [(v,) for v in values]).splitlines()[1:] == expected
    with pytest.raises(ValueError, match="through Arrow"):
        rows_to_csv(["t"], ["TIMESTAMP"], [])
    assert math.isnan(float(csv_double(float("nan"))))


def test_healthy_local_store_opens_on_the_plain_path(store_path) -> None:
    with open_session(store_path, "SELECT 1 FROM Catalog, \"errors\"") as session:
        assert isinstance(session.store, _PlainStore)
        assert sorted(session.views) == ["catalog", "errors", "radiomics"]
        files = session._con.execute("SELECT current_setting('allowed_paths')").fetchall()[0][0]
        assert files and all(f.startswith(os.path.join(store_path, "tables", "radiomics")) for f in files)
        with pytest.raises(StoreError, match="file access is disabled"):
            session.query_rows("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(StoreError, match="got a COPY statement"):
            session.query_rows("COPY radiomics TO 'x.csv'")
        with pytest.raises(Exception, match="locked"):
            session._con.execute("SET enable_external_access = true")
    # the same views as over a FeatureStore
    full = StoreSQL(FeatureStore(store_path))
    try:
        assert full._allowed == files
    finally:
        full.close()
    with open_session(store_path, 'SELECT count(*) FROM "radiomics@feed"') as session:
        assert not isinstance(session.store, _PlainStore)  # a named version: the full reader


def test_a_one_query_session_makes_errors_and_catalog_only_when_named(store_path) -> None:
    with open_session(store_path, "SELECT count(*) FROM radiomics") as session:
        assert session.views == ["radiomics"]
    with pytest.raises(StoreError, match="catalog, errors, radiomics"):
        query_rows(store_path, "SELECT * FROM nowhere")
    assert query_rows(store_path, "SELECT count(*) AS n FROM CATALOG").rows == [(1,)]
    with StoreSQL(store_path) as session:  # a reusable session makes every view
        assert sorted(session.views) == ["catalog", "errors", "radiomics"]


def _a_data_file(store_path: str) -> str:
    folder = os.path.join(store_path, "tables", "radiomics")
    return next(os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".parquet"))


def test_damage_falls_back_to_the_full_reader(store_path, caplog) -> None:
    path = _a_data_file(store_path)
    with open(path, "ab") as handle:
        handle.write(b"x")  # its size no longer matches the log
    with open_session(store_path, "SELECT 1") as session:
        assert not isinstance(session.store, _PlainStore)
        assert "radiomics" not in session.views and session.problems[0].kind == "size"
    done = CliRunner().invoke(cli, ["sql", "--store", store_path, "SELECT count(*) FROM radiomics"])
    assert done.exit_code == 2 and "left out" in done.output


def test_a_file_linked_out_of_the_store_is_not_read(store_path, tmp_path) -> None:
    path = _a_data_file(store_path)
    outside = tmp_path / "outside.parquet"
    os.replace(path, outside)
    os.symlink(outside, path)
    with open_session(store_path, "SELECT 1") as session:
        assert not isinstance(session.store, _PlainStore)
        assert "radiomics" not in session.views and session.problems[0].kind == "escapes"


def test_not_a_store_is_worded_by_the_full_reader(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match="no _store.json"):
        query_rows(str(tmp_path), "SELECT * FROM catalog")
    with pytest.raises(StoreError, match="it does not exist"):
        query_rows(str(tmp_path / "none"), "SELECT 1")


def test_error_rows_on_the_plain_path(tmp_path) -> None:
    path = str(tmp_path / "store")
    store = FeatureStore(path)
    table = pa.table({"cohort": ["c"], "center": ["X"], "patient_id": ["p1"], "sequence": ["T2WI"],
                      "reader": ["A"], "v": [1.0]})
    errors = pa.table({"stage": ["extract"], "cohort": ["c"], "center": ["X"], "patient_id": ["=p2"],
                       "sequence": ["T2WI"], "reader": ["A"], "error_type": ["ExtractionError"],
                       "message": ["+bad"]})
    store.write_version("radiomics", table, version_id="e1", errors=errors)
    sql = "SELECT * FROM errors"
    with open_session(path, sql) as session:
        assert isinstance(session.store, _PlainStore)
        rows = session.query_rows(sql)
    assert isinstance(rows, Rows) and rows.num_rows == 1
    for fmt in ("csv", "json", "table"):
        assert _rows_text(rows, fmt) == _arrow_text(query(store, sql), fmt)
    assert "\"'=p2\"" in _rows_text(rows, "csv")


def test_sql_command_imports_neither_pyarrow_nor_numpy(store_path) -> None:
    code = ("import sys\nfrom alnm_ray.cli.main import cli\n"
            "try:\n    cli(['sql', '--store', sys.argv[1], '--format', sys.argv[2], "
            "'SELECT center, count(*) AS n, avg(value) AS m FROM radiomics GROUP BY 1 ORDER BY 1'], "
            "standalone_mode=False)\n"
            "finally:\n    heavy = ('pyarrow', 'numpy', 'pandas', 'deltalake', 'jsonschema')\n"
            "    print('HEAVY', sorted(m for m in heavy if m in sys.modules))\n")
    for fmt in ("csv", "json", "table"):
        done = subprocess.run([sys.executable, "-c", code, store_path, fmt], capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
        assert "HEAVY []" in done.stdout, (fmt, done.stdout)
