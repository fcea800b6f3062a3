"""The README's "Readable outside alnm-ray" examples run as written against a store alnm-ray wrote.

The pandas, polars and DuckDB snippets are taken from README.md itself and executed in a
folder holding ``store/`` (two cohorts, the second an incremental append, error rows in both
versions, then a compaction); what they return must be exactly the rows, columns and error
rows alnm-ray reads.  The Spark snippet is documented only (no Spark here): it is checked to
be there, not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from alnm_ray.constants import ERROR_COLUMNS
from alnm_ray.store import FeatureStore
from alnm_ray.store.maintenance import compact

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Readable outside alnm-ray"
KEY = ["cohort", "center", "patient_id", "sequence", "reader"]


def readme_snippets() -> list[str]:
    """The ```python blocks of the README's section on reading the store with other tools."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md: expected a section {SECTION!r}"
    start = text.index(SECTION)
    end = min(i for i in (text.find("\n## ", start), text.find("\n### ", start + 1), len(text)) if i > 0)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def cohort(name: str, patients: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = patients * 2
    patient = np.repeat(np.arange(patients), 2)
    return pa.table({
        "cohort": [name] * n, "center": [f"C{p % 2}" for p in patient],
        "patient_id": [f"{name}-{p:03d}" for p in patient], "sequence": ["ADC", "T2WI"] * patients,
        "reader": ["A"] * n, "label": rng.integers(0, 2, patients)[patient],
        "original_firstorder_Mean": rng.normal(size=n), "original_glcm_Contrast": rng.normal(size=n),
    })


def error_rows(n: int, name: str) -> pa.Table:
    values = {c: [f"{c}{i}" for i in range(n)] for c in ERROR_COLUMNS}
    values.update(stage=["extract"] * n, cohort=[name] * n, error_type=["ExtractionError"] * n)
    return pa.table(values)


@pytest.fixture
def written(tmp_path, monkeypatch):
    """``store/`` in the working folder: cohort A (Delta version 0), A + B appended, compacted."""
    store = FeatureStore(tmp_path / "store", rows_per_file=4)
    first = store.write_version("radiomics", cohort("A", 4, 1), version_id="v1", errors=error_rows(1, "A"))
    full = pa.concat_tables([cohort("A", 4, 1), cohort("B", 3, 2)])
    changed = np.array([c == "B" for c in full["cohort"].to_pylist()])
    second = store.write_version("radiomics", full, version_id="v2", changed=changed,
                                 errors=error_rows(2, "B"))
    assert (first.delta_version, first.mode, second.mode) == (0, "overwrite", "append")
    compact(store)  # a commit without an alnm-ray record: the newest record is still v2's
    monkeypatch.chdir(tmp_path)
    return store, first, second


def run(snippet: str) -> dict:
    namespace: dict = {}
    exec(compile(snippet, str(README), "exec"), namespace)  # noqa: S102 - the README's own example
    return namespace


def by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


def test_the_section_has_pandas_polars_duckdb_and_spark_examples() -> None:
    snippets = readme_snippets()
    assert len(snippets) == 4
    assert "to_pandas()" in snippets[0] and "pl.read_delta" in snippets[1]
    assert "duckdb.sql" in snippets[2] and "to_pyarrow_dataset()" in snippets[2]
    spark = snippets[3]
    assert 'spark.read.format("delta")' in spark and '"versionAsOf", 0' in spark
    text = README.read_text(encoding="utf-8")
    assert "INSTALL delta" not in text and "delta_scan" not in text  # never DuckDB's delta extension


def test_the_pandas_example_reads_each_version_and_the_error_rows(written) -> None:
    store, first, second = written
    ns = run(readme_snippets()[0])
    expected = store.read("radiomics").to_pandas()
    assert list(ns["radiomics"].columns) == list(expected.columns)
    pd.testing.assert_frame_equal(by_key(ns["radiomics"]), by_key(expected))
    pd.testing.assert_frame_equal(by_key(ns["first"]), by_key(store.read("radiomics", "v1").to_pandas()))
    assert ns["record"]["version"] == second.version == store.latest("radiomics").version
    errors = ns["latest_errors"]
    assert len(errors) == second.failures == 2
    expected_errors = store.read_errors("radiomics").to_pandas()
    mine = errors[list(expected_errors.columns)].sort_values("message").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, expected_errors.sort_values("message").reset_index(drop=True))
    assert len(ns["errors"]) == first.failures + second.failures  # every version's, in one table


def test_the_polars_example_reads_each_version(written) -> None:
    store, first, _ = written
    ns = run(readme_snippets()[1])
    expected = pl.from_arrow(store.read("radiomics"))
    assert ns["frame"].columns == expected.columns
    assert ns["frame"].sort(KEY).equals(expected.sort(KEY))
    assert ns["frame_v0"].sort(KEY).equals(pl.from_arrow(store.read("radiomics", first.version)).sort(KEY))
    assert ns["per_sequence"].rows() == [("ADC", 7), ("T2WI", 7)]


def test_the_duckdb_example_aggregates_the_latest_version(written) -> None:
    store, _, _ = written
    ns = run(readme_snippets()[2])
    counts = store.read("radiomics").to_pandas().groupby("center").size()
    got = ns["per_centre"]
    assert got["center"].tolist() == counts.index.tolist()
    assert got["n"].tolist() == counts.tolist() == [8, 6]
