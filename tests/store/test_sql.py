"""Read-only DuckDB SQL over the store: views, versions, refusals."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alnm_ray.exceptions import StoreError
from alnm_ray.store import StoreSQL, check_read_only, query


@pytest.fixture
def filled(store, long_table, error_rows):
    first = store.write_version("radiomics", long_table(n_patients=6, seed=1), version_id="aa11")
    second = store.write_version("radiomics", long_table(n_patients=4, seed=2), version_id="bb22",
                                 errors=error_rows(2), parent="aa11")
    store.write_version("clinical", pa.table({"patient_id": ["p000", "p001"], "age": [50.0, 61.0]}))
    return store, first, second


def test_latest_views_and_per_center_aggregate(filled, long_table) -> None:
    store, _, second = filled
    result = query(store, "SELECT center, count(*) AS n, avg(original_firstorder_f0) AS m "
                          "FROM radiomics GROUP BY center ORDER BY center")
    frame = long_table(n_patients=4, seed=2).to_pandas()
    expected = frame.groupby("center")["original_firstorder_f0"].agg(["count", "mean"])
    assert result.column("n").to_pylist() == expected["count"].tolist()
    assert result.column("m").to_pylist() == pytest.approx(expected["mean"].tolist())
    lookup = query(store, "SELECT sequence FROM radiomics WHERE patient_id = 'p003' ORDER BY 1")
    assert lookup.column("sequence").to_pylist() == ["ADC", "T2WI"]


def test_versioned_access_by_quoted_name_and_table_at(filled) -> None:
    store, first, _ = filled
    old = query(store, 'SELECT count(*) AS n FROM "radiomics@aa"').column("n")[0].as_py()
    also = query(store, "SELECT count(*) AS n FROM table_at('radiomics', 'aa11')").column("n")[0]
    latest = query(store, "SELECT count(*) AS n FROM radiomics").column("n")[0].as_py()
    assert old == first.rows == also.as_py() == 12 and latest == 8
    with pytest.raises(StoreError, match="radiomics@zz: expected the id"):
        query(store, 'SELECT * FROM "radiomics@zz"')


def test_errors_catalog_and_wide_views(filled) -> None:
    store, first, second = filled
    errors = query(store, "SELECT \"table\", version, stage FROM errors")
    assert errors.num_rows == 2 and set(errors.column("version").to_pylist()) == {"bb22"}
    catalog = query(store, "SELECT \"table\", version, rows, parent, is_latest FROM catalog "
                           "ORDER BY created")
    assert catalog.to_pylist()[:2] == [
        {"table": "radiomics", "version": "aa11", "rows": 12, "parent": None, "is_latest": False},
        {"table": "radiomics", "version": "bb22", "rows": 8, "parent": "aa11", "is_latest": True}]
    wide = query(store, "SELECT * FROM radiomics_wide ORDER BY patient_id")
    assert wide.num_rows == 4 and "T2WI__original_firstorder_f0" in wide.schema.names
    params = query(store, "SELECT json_extract_string(lineage, '$.x') AS x FROM catalog LIMIT 1")
    assert params.num_rows == 1


@pytest.mark.parametrize("sql, kind", [
    ("INSERT INTO clinical VALUES ('p9', 1.0)", "INSERT"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("COPY radiomics TO '/tmp/out.csv'", "COPY"),
    ("ATTACH '/tmp/x.duckdb' AS x", "ATTACH"),
    ("INSTALL httpfs", "LOAD"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("DROP VIEW radiomics", "DROP"),
    ("PRAGMA database_list", "PRAGMA"),
])
def test_writes_and_side_effects_are_refused(filled, sql: str, kind: str) -> None:
    store, _, _ = filled
    with pytest.raises(StoreError, match=f"read-only; expected a SELECT query; got a {kind} statement"):
        query(store, sql)


def test_reading_files_is_refused_inside_select(filled, tmp_path) -> None:
    store, _, _ = filled
    outside = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"secret": [1]}), outside)
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", f"SELECT * FROM read_parquet('{outside}')",
                "SELECT * FROM read_text('/etc/hostname')", "SELECT * FROM glob('/etc/*')"):
        with pytest.raises(StoreError, match="file access is disabled; the query may only read the "
                                             "store's views"):
            query(store, sql)


def test_other_query_errors_are_clear(filled) -> None:
    store, _, _ = filled
    with pytest.raises(StoreError, match=r"(?s)nope does not exist.*views: catalog, clinical, "
                                         r"errors, radiomics"):
        query(store, "SELECT * FROM nope")
    with pytest.raises(StoreError, match="SQL syntax error"):
        query(store, "SELEC 1")
    with pytest.raises(StoreError, match="expected exactly one statement; got 2"):
        query(store, "SELECT 1; SELECT 2")
    with pytest.raises(StoreError, match="got an empty string"):
        check_read_only("  ")
    with pytest.raises(StoreError, match="it does not exist"):
        query(store.uri + "-missing", "SELECT 1")


def test_session_is_a_snapshot_and_reusable(filled, long_table) -> None:
    store, _, _ = filled
    with StoreSQL(store, threads=1) as session:
        assert {"radiomics", "clinical", "errors", "catalog"} <= set(session.views)
        store.write_version("radiomics", long_table(n_patients=2, seed=3))
        assert session.query("SELECT count(*) AS n FROM radiomics").column("n")[0].as_py() == 8
        assert session.query("SELECT 1 AS one").column("one")[0].as_py() == 1
    assert query(store, "SELECT count(*) AS n FROM radiomics").column("n")[0].as_py() == 4
