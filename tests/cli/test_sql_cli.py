"""`alnm-ray sql`: formats, --out, refusals, clean errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore


@pytest.fixture
def store_path(tmp_path) -> str:
    path = str(tmp_path / "store")
    table = pa.table({"cohort": ["c"] * 4, "center": ["X", "X", "Y", "Y"],
                      "patient_id": ["p1", "p2", "p3", "p4"], "sequence": ["T2WI"] * 4,
                      "reader": ["A"] * 4, "original_shape_Volume": [1.0, 3.0, 5.0, 9.0]})
    FeatureStore(path).write_version("radiomics", table, version_id="feed01")
    return path


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--quiet", "sql", *args], input=input)


AGG = "SELECT center, avg(original_shape_Volume) AS v FROM radiomics GROUP BY center ORDER BY center"


def test_table_csv_and_json_output(store_path) -> None:
    result = _run("--store", store_path, AGG)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["center  v", "------  -", "X       2", "Y       7",
                                          "(2 rows)"]
    csv = _run("--store", store_path, AGG, "--format", "csv")
    assert csv.output.splitlines() == ['"center","v"', '"X",2', '"Y",7']
    js = _run("--store", store_path, AGG, "--format", "json")
    assert json.loads(js.output) == [{"center": "X", "v": 2.0}, {"center": "Y", "v": 7.0}]


def test_parquet_needs_out_and_writes_it(store_path, tmp_path) -> None:
    refused = _run("--store", store_path, AGG, "--format", "parquet")
    assert refused.exit_code == 2
    assert "--format parquet: expected --out FILE" in refused.output
    out = tmp_path / "agg.parquet"
    done = _run("--store", store_path, AGG, "--format", "parquet", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert pq.read_table(out).column("v").to_pylist() == [2.0, 7.0]


def test_versioned_query_from_stdin_and_max_rows(store_path) -> None:
    result = _run("--store", store_path, "-", "--max-rows", "1",
                  input="SELECT patient_id FROM \"radiomics@feed\" ORDER BY 1")
    assert result.exit_code == 0, result.output
    assert "p1" in result.output and "p2" not in result.output
    assert "(4 rows, showing the first 1" in result.output


@pytest.mark.parametrize("sql, expected", [
    ("DELETE FROM radiomics", "got a DELETE statement"),
    ("COPY radiomics TO 'x.csv'", "got a COPY statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "file access is disabled"),
])
def test_refusals_exit_2_without_traceback(store_path, sql: str, expected: str) -> None:
    result = _run("--store", store_path, sql)
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output


def test_missing_store_is_a_clean_error(tmp_path) -> None:
    result = _run("--store", str(tmp_path / "none"), "SELECT 1")
    assert result.exit_code == 2 and "it does not exist" in result.output


def test_timeout_and_memory_limit_options(store_path) -> None:
    done = _run("--store", store_path, "--timeout", "60", "--memory-limit", "1GB", AGG)
    assert done.exit_code == 0, done.output
    for args, expected in ((("--timeout", "0"), "--timeout"), (("--memory-limit", "10%x"), "expected a size")):
        refused = _run("--store", store_path, *args, AGG)
        assert refused.exit_code == 2 and expected in refused.output


def test_a_folder_that_is_not_a_store_is_refused(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    result = _run("--store", str(tmp_path), "SELECT * FROM catalog")
    assert result.exit_code == 2 and "no _store.json. Check --store" in result.output
