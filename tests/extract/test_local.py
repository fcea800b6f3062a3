"""The local path (a process pool, no Ray) against the Ray path, and batched checkpoints."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pytest

from alnm_ray.extract.case import CaseResult, process_case, results_to_arrow
from alnm_ray.extract.checkpoint import CACHE_DIR, CaseCheckpoint
from alnm_ray.extract.job import _run_dataset, run_extraction
from alnm_ray.extract.local import run_local
from alnm_ray.store import FeatureStore
from alnm_ray.table_job import ENV_LOCAL_MAX_CASES, check_manifest

from .conftest import make_cohort
from .test_job import failing_manifest

KEY = {"cohort": "c", "center": "C1", "patient_id": "p1", "sequence": "T2WI", "reader": "A"}


def _items(df: pd.DataFrame) -> list[dict]:
    df = check_manifest(df)
    return [{**{c: row[c] for c in KEY}, "image": str(row["image"]), "mask": str(row["mask"]),
             "mask_label": str(row["mask_label"]), "case_hash": f"h{i}"} for i, row in df.iterrows()]


def _by_hash(records: list[dict]) -> dict[str, dict]:
    return {r["case_hash"]: {k: v for k, v in r.items() if k not in ("seconds", "extracted_at")} for r in records}


def _ray_is_running() -> bool:
    import sys

    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


# First in the module: the module-scoped `ray_local` of the tests below must not be running yet.
@pytest.mark.slow
def test_a_small_job_skips_ray_and_writes_the_version_ray_would(tmp_path, light_params, light_plan, monkeypatch):
    if _ray_is_running():
        pytest.skip("Ray already runs in this process: the local path is not taken")
    df = make_cohort(tmp_path / "cohort", ["p1", "p2", "p3"])
    store_local = FeatureStore(tmp_path / "local")
    fast = run_extraction(df, store_local, params=light_params, plan=light_plan, quiet=True, num_cpus=2)
    assert fast.path == "local" and fast.ray_start_seconds == 0 and not _ray_is_running()
    assert not (tmp_path / "local" / CACHE_DIR / "radiomics").exists()  # committed: checkpoints gone
    monkeypatch.setenv(ENV_LOCAL_MAX_CASES, "0")
    store_ray = FeatureStore(tmp_path / "ray")
    slow = run_extraction(df, store_ray, params=light_params, plan=light_plan, quiet=True, num_cpus=2)
    assert slow.path == "ray" and not _ray_is_running()  # started for the job, stopped after it
    assert fast.version.version == slow.version.version
    a = store_local.read("radiomics").to_pandas().drop(columns="extracted_at")
    b = store_ray.read("radiomics").to_pandas().drop(columns="extracted_at")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.ray
@pytest.mark.slow
def test_local_pool_ray_and_in_process_records_are_identical(ray_local, tmp_path, light_params, light_plan):
    items = _items(failing_manifest(tmp_path))  # 2 good cases, 4 failing in four different stages
    in_process = [process_case(i, light_plan, light_params).to_record() for i in items
                  if os.path.exists(i["image"])]
    pooled = run_local(items, light_plan, light_params, workers=2)
    on_ray = _run_dataset(items, light_plan, light_params, debug=False, num_cpus=2)
    assert len(pooled) == len(on_ray) == len(items)
    assert _by_hash(pooled) == _by_hash(on_ray)  # features equal bit for bit, errors word for word
    assert all(_by_hash(pooled)[r["case_hash"]] == _by_hash([r])[r["case_hash"]] for r in in_process)
    assert sorted(r["status"] for r in pooled) == ["error"] * 4 + ["ok"] * 2


def test_debug_reraises_the_original_error_from_a_worker(tmp_path, light_params, light_plan):
    items = _items(failing_manifest(tmp_path))
    missing = [i for i in items if i["patient_id"] == "p91"]
    with pytest.raises(FileNotFoundError):
        run_local(missing, light_plan, light_params, workers=1, debug=True)


def _record(case_hash: str, value: float) -> pa.Table:
    return results_to_arrow([CaseResult(key=dict(KEY), case_hash=case_hash, features={"f": value}, seconds=0.1,
                                        extracted_at="2026-01-01T00:00:00Z")])


def test_batched_checkpoints_load_by_case_and_go_once_all_their_cases_are_committed(tmp_path):
    checkpoint = CaseCheckpoint.for_store(FeatureStore(tmp_path / "store"), "radiomics")
    folder = tmp_path / "store" / CACHE_DIR / "radiomics"
    checkpoint.save_batch(pa.concat_tables([_record("a", 1.0), _record("b", 2.0)]))
    checkpoint.save_batch(_record("c", 3.0))  # one case: named after it
    checkpoint.save_batch(_record("c", 3.0).slice(0, 0))  # nothing to write
    names = sorted(os.listdir(folder))
    assert len(names) == 2 and names[0].startswith("batch-") and names[1] == "c.parquet"
    assert {r["case_hash"]: r["feature_values"] for r in checkpoint.load(["b", "c", "x"])} == {"b": [2.0],
                                                                                              "c": [3.0]}
    checkpoint.discard(["a", "c"])  # b is not committed yet: its batch stays
    assert sorted(os.listdir(folder)) == names[:1]
    assert [r["case_hash"] for r in checkpoint.load(["a", "b"])] == ["a", "b"]
    checkpoint.discard(["a", "b"])
    assert not folder.exists()
