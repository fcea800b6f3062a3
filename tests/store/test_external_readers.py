"""Any Delta reader reads the store: deltalake (pandas), polars and DuckDB return exactly the rows and
columns of each version, and the error rows of STORE/errors are those of read_errors."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from alnm_ray.store._writer import sort_order
from alnm_ray.store.feature_store import ERROR_ORIGIN


@pytest.fixture
def written(store, long_table, error_rows):
    """Four versions of radiomics (overwrite, append, merge, overwrite) and one of clinical, with errors."""
    full = long_table(n_patients=5, seed=1)
    new = np.array([p == "p004" for p in full["patient_id"].to_pylist()])
    infos = [store.write_version("radiomics", full.filter(pa.array(~new)), version_id="r1",
                                 errors=error_rows(2))]
    infos.append(store.write_version("radiomics", full, version_id="r2", changed=new, errors=error_rows(1)))
    fewer = full.filter(pa.array([p != "p001" for p in full["patient_id"].to_pylist()]))
    infos.append(store.write_version("radiomics", fewer, version_id="r3",
                                     changed=np.zeros(fewer.num_rows, bool)))
    infos.append(store.write_version("radiomics", long_table(seed=4), version_id="r4", errors=error_rows(3)))
    infos.append(store.write_version("clinical", pa.table({"patient_id": ["a", "b"], "age": [50.0, 61.0]}),
                                     key=("patient_id",), version_id="c1", errors=error_rows(1, "load")))
    assert [i.mode for i in infos] == ["overwrite", "append", "merge", "overwrite", "overwrite"]
    return infos


def _sort(table: pa.Table, key) -> pa.Table:
    """In the order store.read returns (patient_id first, then the rest of the key)."""
    return table.sort_by([(k, "ascending") for k in sort_order(key)]) if key else table


def test_deltalake_and_pandas_read_each_version(store, written) -> None:
    for info in written:
        expected = store.read(info.table, info.version)
        got = DeltaTable(store.table_uri(info.table), version=info.read_version).to_pyarrow_table()
        assert got.schema.names == expected.schema.names and got.num_rows == info.rows
        assert _sort(got, info.key).equals(expected)
        frame = DeltaTable(store.table_uri(info.table), version=info.read_version).to_pandas()
        assert frame.sort_values(list(info.key)).reset_index(drop=True).equals(
            expected.to_pandas().sort_values(list(info.key)).reset_index(drop=True))


def test_polars_reads_each_version(store, written) -> None:
    for info in written:
        expected = pl.from_arrow(store.read(info.table, info.version))
        got = pl.read_delta(store.table_uri(info.table), version=info.read_version)
        assert got.columns == expected.columns
        assert got.sort(list(info.key)).equals(expected.sort(list(info.key)))
    latest = pl.read_delta(store.table_uri("radiomics"))
    assert latest.sort(["patient_id", "sequence"]).equals(
        pl.from_arrow(store.read("radiomics")).sort(["patient_id", "sequence"]))
    assert pl.scan_delta(store.table_uri("radiomics"), version=0).select(pl.len()).collect().item() == 8


def test_duckdb_reads_each_version(store, written) -> None:
    con = duckdb.connect()
    for info in written:
        dataset = DeltaTable(store.table_uri(info.table), version=info.read_version).to_pyarrow_dataset()
        con.register("v", dataset)
        order = ", ".join(f'"{k}"' for k in sort_order(info.key))
        got = con.sql(f"SELECT * FROM v ORDER BY {order}").to_arrow_table()
        expected = store.read(info.table, info.version)
        assert got.schema.names == expected.schema.names and got.equals(expected)
        assert con.sql("SELECT count(*) FROM v").fetchall() == [(info.rows,)]
        con.unregister("v")


def test_error_rows_of_the_errors_table_are_those_of_read_errors(store, written) -> None:
    rows = DeltaTable(store.errors_uri()).to_pyarrow_table()
    frame = pl.read_delta(store.errors_uri())
    assert frame.height == rows.num_rows == 2 + 1 + 3 + 1
    for info in written:
        expected = store.read_errors(info.table, info.version)
        assert expected.num_rows == info.failures
        columns = expected.schema.names
        mine = rows.filter(pc.and_(pc.equal(rows["table"], info.table),
                                   pc.equal(rows["version"], info.version))).select(columns)
        assert mine.sort_by("patient_id").equals(expected.sort_by("patient_id"))
        theirs = frame.filter((pl.col("table") == info.table) & (pl.col("version") == info.version))
        assert theirs.select(columns).sort("patient_id").equals(pl.from_arrow(expected).sort("patient_id"))
    assert list(ERROR_ORIGIN) == rows.schema.names[:2]
