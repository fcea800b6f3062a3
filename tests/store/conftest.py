"""Fixtures for the feature-store tests: tiny synthetic long feature tables."""

from __future__ import annotations

import json
import os

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


class DeltaLogFiles:
    """Reading and doctoring the commit files of a store's Delta logs, as a damaged disk or a
    hostile writer would (``tables/<table>/_delta_log/<20 digits>.json``, one action per line)."""

    @staticmethod
    def path(store: FeatureStore, table: str, number: int) -> str:
        return os.path.join(store.uri, "tables", table, "_delta_log", f"{number:020d}.json")

    def actions(self, store: FeatureStore, table: str, number: int) -> list[dict]:
        with open(self.path(store, table, number), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def write(self, store: FeatureStore, table: str, number: int, actions: list[dict]) -> None:
        with open(self.path(store, table, number), "w", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(a) + "\n" for a in actions))

    def record(self, store: FeatureStore, table: str, number: int) -> dict:
        """The alnm-ray record of commit ``number`` (the JSON string under commitInfo.alnm_ray)."""
        info = next(a["commitInfo"] for a in self.actions(store, table, number) if "commitInfo" in a)
        return json.loads(info["alnm_ray"])

    def edit_record(self, store: FeatureStore, table: str, number: int, /, drop: tuple[str, ...] = (),
                    raw: str | None = None, **changes) -> None:
        """Change fields of commit ``number``'s record (or replace it by ``raw`` text)."""
        actions = self.actions(store, table, number)
        for action in actions:
            if "commitInfo" in action:
                record = json.loads(action["commitInfo"]["alnm_ray"])
                record.update(changes)
                for name in drop:
                    record.pop(name, None)
                action["commitInfo"]["alnm_ray"] = raw if raw is not None else json.dumps(record)
        self.write(store, table, number, actions)

    def added(self, store: FeatureStore, table: str, number: int) -> list[str]:
        """Paths of the files commit ``number`` adds."""
        return [a["add"]["path"] for a in self.actions(store, table, number) if "add" in a]

    def rename_add(self, store: FeatureStore, table: str, number: int, new_path: str) -> None:
        """Make the first file commit ``number`` adds read ``new_path``."""
        actions = self.actions(store, table, number)
        next(a for a in actions if "add" in a)["add"]["path"] = new_path
        self.write(store, table, number, actions)


@pytest.fixture
def delta_files() -> DeltaLogFiles:
    """Helpers that read and doctor commit files of the Delta logs."""
    return DeltaLogFiles()
