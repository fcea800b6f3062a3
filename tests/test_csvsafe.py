"""CSV outputs never carry a live spreadsheet formula (OWASP CSV injection)."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from alnm_ray.csvsafe import neutralize_cell, neutralize_frame, safe_arrow_table

HOSTILE = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_formula_cells_get_a_quote_and_numbers_stay_numbers() -> None:
    for value in HOSTILE:
        assert neutralize_cell(value) == "'" + value
    for value in ("-0.5", "+3", "-1e-3", " -7", "P-1", "a=b", "", None, -0.5, 3):
        assert neutralize_cell(value) == value


def test_a_frame_is_neutralised_in_text_cells_and_names_only() -> None:
    df = pd.DataFrame({"patient_id": HOSTILE, "score": [-0.5] * len(HOSTILE), "=bad": ["-0.25"] * len(HOSTILE)})
    out = neutralize_frame(df)
    assert out["patient_id"].tolist() == ["'" + v for v in HOSTILE]
    assert out["score"].tolist() == [-0.5] * len(HOSTILE) and out["score"].dtype == float
    assert list(out.columns) == ["patient_id", "score", "'=bad"] and out["'=bad"].iloc[0] == "-0.25"
    text = out.to_csv(index=False)
    assert "\n=" not in text and ",=" not in text and ",-0.5," in text
    assert df["patient_id"].tolist() == HOSTILE  # the input is not changed


def test_an_arrow_table_is_neutralised_for_pyarrow_csv() -> None:
    table = pa.table({"id": HOSTILE, "x": [-1.0] * len(HOSTILE),
                      "cat": pa.array(["=A"] * len(HOSTILE)).dictionary_encode()})
    buffer = io.BytesIO()
    pacsv.write_csv(safe_arrow_table(table), buffer)
    back = pd.read_csv(io.BytesIO(buffer.getvalue()))
    assert back["id"].tolist() == ["'" + v for v in HOSTILE]
    assert back["x"].tolist() == [-1.0] * len(HOSTILE) and back["cat"].tolist() == ["'=A"] * len(HOSTILE)
