"""Result formats: text table, CSV, JSON, Parquet."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.store import format_table, write_result

TABLE = pa.table({"center": ["A", "B", None], "auc": [0.75, float("nan"), 1 / 3]})


def test_text_table_aligns_and_caps_rows() -> None:
    text = format_table(TABLE, max_rows=2)
    lines = text.splitlines()
    assert lines[0] == "center   auc" and lines[2] == "A       0.75"  # widths of the shown rows
    assert lines[-1] == "(3 rows, showing the first 2; use --format csv or --out for all)"
    assert "NULL" in format_table(TABLE) and "0.333333" in format_table(TABLE)


def test_csv_json_and_parquet(tmp_path) -> None:
    stream = io.StringIO()
    write_result(TABLE, "csv", stream=stream)
    assert stream.getvalue().splitlines()[:2] == ['"center","auc"', '"A",0.75']
    stream = io.StringIO()
    write_result(TABLE, "json", stream=stream)
    assert json.loads(stream.getvalue())[1] == {"center": "B", "auc": None}
    out = tmp_path / "r.parquet"
    write_result(TABLE, "parquet", out=str(out))
    assert pq.read_table(out).to_pandas().equals(TABLE.to_pandas())
    with pytest.raises(ConfigError, match="--format parquet: expected --out FILE"):
        write_result(TABLE, "parquet")
    with pytest.raises(ConfigError, match="format: expected one of table, csv, json, parquet"):
        write_result(TABLE, "xlsx")


def test_csv_output_neutralises_formulas_but_not_numbers(tmp_path) -> None:
    import pandas as pd

    table = pa.table({"patient_id": ['=HYPERLINK("http://evil","x")', "@SUM(A1)", "P1"],
                      "note": ["-0.5", "+cmd", None], "auc": [-0.5, 0.5, 1.0]})
    write_result(table, "csv", out=str(tmp_path / "r.csv"))
    back = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert back["patient_id"].tolist() == ["'=HYPERLINK(\"http://evil\",\"x\")", "'@SUM(A1)", "P1"]
    assert back["note"].tolist() == ["-0.5", "'+cmd", ""]  # text that is a number stays as it is
    assert back["auc"].tolist() == ["-0.5", "0.5", "1"]
