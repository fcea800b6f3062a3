"""Per-case extraction checkpoints (alnm_ray/extract/checkpoint.py) and the store's fail-fast write probe."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from alnm_ray.exceptions import StoreError
from alnm_ray.extract.case import CaseResult, results_to_arrow
from alnm_ray.extract.checkpoint import CACHE_DIR, CaseCheckpoint
from alnm_ray.store import FeatureStore

from .conftest import tree

KEY = {"cohort": "rel", "center": "C1", "patient_id": "PX-7301", "sequence": "T2WI", "reader": "A"}


def _record(case_hash: str, value: float = 1.5):
    result = CaseResult(key=dict(KEY), case_hash=case_hash, features={"original_firstorder_Mean": value},
                        seconds=0.25, extracted_at="2026-01-01T00:00:00Z")
    return results_to_arrow([result])


def test_saved_cases_load_back_exactly_and_leave_no_temporary_files(tmp_path: Path) -> None:
    checkpoint = CaseCheckpoint.for_store(FeatureStore(tmp_path / "store"), "radiomics")
    checkpoint.save(_record("a" * 64), "a" * 64)
    checkpoint.save(_record("b" * 64, 2.5), "b" * 64)
    folder = tmp_path / "store" / CACHE_DIR / "radiomics"
    assert sorted(os.listdir(folder)) == [f"{'a' * 64}.parquet", f"{'b' * 64}.parquet"]
    (record,) = checkpoint.load(["b" * 64, "c" * 64])  # only what is asked for and present
    assert record["case_hash"] == "b" * 64 and record["status"] == "ok"
    assert record["feature_names"] == ["original_firstorder_Mean"] and record["feature_values"] == [2.5]
    assert {k: record[k] for k in KEY} == KEY
    checkpoint.discard(["a" * 64, "c" * 64])  # an absent one is fine
    assert os.listdir(folder) == [f"{'b' * 64}.parquet"]


def test_unreadable_or_misnamed_checkpoints_are_ignored(tmp_path: Path) -> None:
    checkpoint = CaseCheckpoint.for_store(FeatureStore(tmp_path / "store"), "radiomics")
    assert checkpoint.load(["a" * 64]) == []  # no folder yet
    checkpoint.save(_record("a" * 64), "a" * 64)
    folder = tmp_path / "store" / CACHE_DIR / "radiomics"
    (folder / f"{'b' * 64}.parquet").write_bytes(b"PAR1 half a file")  # e.g. copied in by hand, cut short
    (folder / f"{'c' * 64}.parquet").write_bytes((folder / f"{'a' * 64}.parquet").read_bytes())  # wrong case
    assert [r["case_hash"] for r in checkpoint.load(["a" * 64, "b" * 64, "c" * 64])] == ["a" * 64]


def test_checkpoints_on_an_object_store_are_single_objects() -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("memory")))
    store = FeatureStore(f"/ckpt-{uuid.uuid4().hex}", filesystem=memory)
    checkpoint = CaseCheckpoint.for_store(store, "deep")
    checkpoint.save(_record("d" * 64), "d" * 64)
    assert [r["case_hash"] for r in checkpoint.load(["d" * 64])] == ["d" * 64]
    checkpoint.discard(["d" * 64])
    assert checkpoint.load(["d" * 64]) == []


def test_the_write_probe_leaves_no_trace(tmp_path: Path) -> None:
    FeatureStore(tmp_path / "new" / "nested" / "store").check_writable()
    assert os.listdir(tmp_path) == []  # nothing created for a store that does not exist yet
    existing = FeatureStore(tmp_path / "store")
    existing.write_version("clinical", pa.table({"patient_id": ["PX-7301"], "age": [51.0]}))
    before = tree(tmp_path)
    existing.check_writable()
    assert tree(tmp_path) == before


def test_the_write_probe_names_the_store_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match=r"could not write to the store: .*a path component is a file, not a "
                                         r"folder: choose a --store path inside a folder"):
        FeatureStore(tmp_path / "file" / "store").check_writable()
    if os.path.isdir("/sys/kernel"):  # /sys refuses new entries even to root
        with pytest.raises(StoreError, match="store '/sys/alnm-ray-probe-test': could not write to the store"):
            FeatureStore("/sys/alnm-ray-probe-test").check_writable()
