"""Fixtures for the feature-store tests: tiny synthetic long feature tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from alnm_ray.constants import ERROR_COLUMNS
from alnm_ray.store import FeatureStore


def _long_table(n_patients: int = 6, sequences: tuple[str, ...] = ("T2WI", "ADC"),
                n_features: int = 3, *, seed: int = 0, cohort: str = "c1",
                readers: tuple[str, ...] = ("A",)) -> pa.Table:
    """One row per (patient, sequence, reader); centres X/Y; label alternating by patient."""
    rng = np.random.default_rng(seed)
    rows = [(p, s, r) for p in range(n_patients) for s in sequences for r in readers]
    n = len(rows)
    columns = {
        "cohort": [cohort] * n,
        "center": ["X" if p % 2 == 0 else "Y" for p, _, _ in rows],
        "patient_id": [f"p{p:03d}" for p, _, _ in rows],
        "sequence": [s for _, s, _ in rows],
        "reader": [r for _, _, r in rows],
        "label": [p % 2 for p, _, _ in rows],
        "case_hash": [f"h{p}-{s}-{r}" for p, s, r in rows],
    }
    for j in range(n_features):
        columns[f"original_firstorder_f{j}"] = rng.normal(size=n)
    return pa.table(columns)


@pytest.fixture
def long_table():
    """Factory of synthetic long (one row per case) feature tables."""
    return _long_table


@pytest.fixture
def error_rows():
    """Factory of ``n`` error rows."""

    def make(n: int = 2, stage: str = "extract") -> pa.Table:
        values = {c: [f"{c}{i}" for i in range(n)] for c in ERROR_COLUMNS}
        values["stage"] = [stage] * n
        values["error_type"] = ["ExtractionError"] * n
        return pa.table(values)

    return make


@pytest.fixture
def store(tmp_path) -> FeatureStore:
    """An empty local store with tiny row groups/files, so versions span several files."""
    return FeatureStore(tmp_path / "store", row_group_rows=4, rows_per_file=8)
