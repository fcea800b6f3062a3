"""The shared incremental table flow: its pieces, and a synthetic stage on a real local Ray and store.

The synthetic stage's "feature" is the image file's size, so a run is cheap
and every value is known; a patient whose image starts with ``bad`` fails in
the stage, and the stage can be told to drop cases (as a dead worker would).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from alnm_ray.constants import CASE_KEY, ERROR_COLUMNS
from alnm_ray.exceptions import ConfigError, ManifestError
from alnm_ray.extract.checkpoint import CaseCheckpoint
from alnm_ray.extract.summary import ExtractionReport
from alnm_ray.preprocess.config import load_plan
from alnm_ray.store import FeatureStore
from alnm_ray.table_job import (
    ENV_LOCAL_MAX_CASES, LOCAL_MAX_CASES, TableJob, assemble_rows, check_manifest, hash_cases, local_max_cases,
    lost_cases, run_table_job, runs_locally, stored_rows,
)

TABLE = "sizes"
PLAN = load_plan("none")
VERSIONS = {"numpy": "test"}
EXTRACTED_AT = "2024-01-01T00:00:00+00:00"


def _manifest(root: Path, patients: list[str], *, cohort: str = "c1") -> pd.DataFrame:
    """One T2WI case per patient; the image holds the patient id (``bad…`` ones fail in the stage)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for pid in patients:
        img, msk = root / f"{cohort}_{pid}.img", root / f"{cohort}_{pid}.msk"
        img.write_bytes(pid.encode() * 3)
        msk.write_bytes(b"mask")
        rows.append({"cohort": cohort, "center": "X", "patient_id": pid, "sequence": "T2WI", "reader": "A",
                     "image": str(img), "mask": str(msk), "label": len(pid) % 2, "split": "train"})
    return pd.DataFrame(rows)


def _size_record(item: dict) -> dict:
    """Ray Data ``map`` function of the synthetic stage: one record per case.

    Shipped to the workers by value (below): they cannot import this test module.
    """
    with open(item["image"], "rb") as fh:
        failed = fh.read(3) == b"bad"
    return {**{c: item[c] for c in CASE_KEY}, "case_hash": item["case_hash"],
            "status": "error" if failed else "ok", "stage": "size" if failed else "",
            "error_type": "ValueError" if failed else "", "message": "not a size" if failed else "",
            "size": float(os.path.getsize(item["image"])), "seconds": 0.01, "extracted_at": EXTRACTED_AT}


def _ship_by_value() -> None:
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _size_rows(records: list[dict], manifest: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{**{c: r[c] for c in CASE_KEY}, "case_hash": r["case_hash"],
                          "extracted_at": r["extracted_at"], "size": r["size"]} for r in records],
                        columns=[*CASE_KEY, "case_hash", "extracted_at", "size"])


def _job(calls: list[dict], *, drop: tuple[str, ...] = (), checkpoints: bool = False) -> TableJob:
    """The synthetic stage; every compute call appends what it saw to ``calls``."""

    def compute(items: list[dict], checkpoint: CaseCheckpoint | None) -> list[dict]:
        import ray
        from ray.data import DataContext

        ctx = DataContext.get_current()
        _ship_by_value()
        calls.append({"patients": sorted(i["patient_id"] for i in items), "checkpoint": checkpoint,
                      "max_errored_blocks": ctx.max_errored_blocks, "progress_bars": ctx.enable_progress_bars})
        records = ray.data.from_items(items).map(_size_record).take_all()
        return [r for r in records if r["patient_id"] not in drop]

    return TableJob(stage="size", table=TABLE, plan=PLAN, config_name="sizes", config_hash="v1",
                    versions=VERSIONS, compute=compute, feature_rows=_size_rows,
                    version_params=lambda out: {"feature_rows": len(out)}, checkpoints=checkpoints)


def _key(**kw) -> dict:
    return {"cohort": "c1", "center": "X", "patient_id": "p1", "sequence": "T2WI", "reader": "A", **kw}


# --- pieces --------------------------------------------------------------------------------------------


def test_check_manifest_names_missing_columns_duplicates_and_bad_labels() -> None:
    good = pd.DataFrame([_key(image="/i", mask="/m")])
    assert check_manifest(good)["mask_label"].tolist() == [1]
    with pytest.raises(ManifestError, match="columns: expected mask; found only"):
        check_manifest(good.drop(columns="mask"))
    with pytest.raises(ManifestError, match=r"rows 1, 2: expected one row per case .* c1/p1/T2WI/A\. Remove"):
        check_manifest(pd.concat([good, good], ignore_index=True))
    with pytest.raises(ManifestError, match=r"row 1, column 'mask_label': expected an integer label >= 1 .*; "
                                            r"found 1\.5"):
        check_manifest(good.assign(mask_label=1.5))


def test_hash_cases_follow_content_and_config_and_name_unreadable_files(tmp_path: Path) -> None:
    df = check_manifest(_manifest(tmp_path, ["p1", "p22"]))
    hashes, errors = hash_cases(df, PLAN, "v1", VERSIONS, workers=2)
    assert errors == {} and len(set(hashes)) == 2
    assert hash_cases(df, PLAN, "v1", VERSIONS)[0] == hashes
    assert set(hash_cases(df, PLAN, "v2", VERSIONS)[0]).isdisjoint(hashes)
    Path(df.at[1, "image"]).write_bytes(b"changed")
    changed, _ = hash_cases(df, PLAN, "v1", VERSIONS)
    assert changed[0] == hashes[0] and changed[1] != hashes[1]
    gone = df.assign(mask=[df.at[0, "mask"], str(tmp_path / "missing.msk")])
    unreadable, errors = hash_cases(gone, PLAN, "v1", VERSIONS)
    assert list(errors) == [1] and unreadable[1] not in hashes
    assert errors[1]["stage"] == "read" and errors[1]["error_type"] == "FileNotFoundError"
    assert errors[1]["message"].startswith(f"c1/p22/T2WI/A: mask {tmp_path / 'missing.msk'}: ")


def test_assemble_rows_takes_manifest_metadata_and_fixes_columns() -> None:
    manifest = pd.DataFrame([_key(case_hash="h1", label=np.nan, split="test", mask_label=2)])
    stored = pd.DataFrame([_key(case_hash="h1", label=1, split="train", mask_label=2, extracted_at="t", b=1.0)])
    other = pd.DataFrame([_key(cohort="c2", case_hash="h9", label=0, split="train", mask_label=1,
                               extracted_at="t", a="2.5")])
    out = assemble_rows([other, stored, pd.DataFrame()], manifest)
    assert list(out.columns) == [*CASE_KEY, "label", "split", "mask_label", "case_hash", "extracted_at", "a", "b"]
    assert out["cohort"].tolist() == ["c1", "c2"]  # sorted by the case key
    # the manifest's label wins for its case, even when empty; the other cohort keeps its own
    assert out["label"].isna().tolist() == [True, False] and out.loc[1, "label"] == 0
    assert out["split"].tolist() == ["test", "train"]
    assert [str(out[c].dtype) for c in ("label", "split", "a", "b")] == ["Int64", "string", "float64", "float64"]
    assert np.isnan(out.loc[0, "a"]) and out.loc[1, "a"] == 2.5
    empty = assemble_rows([], manifest, meta_columns=(*CASE_KEY, "label", "case_hash", "weights"),
                          feature_columns=("f0", "f1"))
    assert empty.empty and list(empty.columns) == [*CASE_KEY, "label", "case_hash", "weights", "f0", "f1"]


def test_lost_cases_are_the_items_without_a_record() -> None:
    items = [_key(patient_id=p, case_hash=f"h{p}") for p in ("p1", "p2")]
    lost = lost_cases(items, [{"case_hash": "hp1", "status": "ok"}], stage="embed")
    assert [(r["patient_id"], r["stage"], r["error_type"], r["status"]) for r in lost] == [
        ("p2", "embed", "WorkerLost", "error")]
    assert lost[0]["message"].startswith("c1/p2/T2WI/A: the Ray worker running this case ended without a result")


def test_table_job_rejects_a_config_name_the_flow_uses() -> None:
    job = _job([])
    with pytest.raises(ConfigError, match=r"config_name: expected a key other than .*; got 'versions'\. Name"):
        TableJob(**{**job.__dict__, "config_name": "versions"})
    with pytest.raises(ConfigError, match="stage: expected a stage name"):
        TableJob(**{**job.__dict__, "stage": ""})


# --- the flow on Ray ----------------------------------------------------------------------------------


def _local_job(calls: list[dict]) -> TableJob:
    """The synthetic stage with a local path that runs in this process."""

    def compute_local(items: list[dict], checkpoint: CaseCheckpoint | None) -> list[dict]:
        calls.append({"patients": sorted(i["patient_id"] for i in items), "local": True})
        return [_size_record(i) for i in items]

    return replace(_job(calls), compute_local=compute_local)


def _ray_is_running() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def test_small_jobs_run_locally_unless_a_cluster_or_the_limit_says_otherwise(monkeypatch) -> None:
    from alnm_ray.runtime import RayConfig

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv(ENV_LOCAL_MAX_CASES, raising=False)
    job = _local_job([])
    assert runs_locally(job, LOCAL_MAX_CASES) is not _ray_is_running()
    assert not runs_locally(job, LOCAL_MAX_CASES + 1)
    assert not runs_locally(_job([]), 1)  # a stage without a local path
    assert not runs_locally(job, 1, RayConfig(address="auto"))
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert not runs_locally(job, 1)
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setenv(ENV_LOCAL_MAX_CASES, "0")
    assert not runs_locally(job, 1)
    monkeypatch.setenv(ENV_LOCAL_MAX_CASES, "many")
    with pytest.raises(ConfigError, match=r"ALNM_RAY_LOCAL_MAX_CASES: expected a non-negative integer "
                                          r"\(0: always Ray\); got 'many'\. Fix or unset it\."):
        local_max_cases()


# First of the Ray tests: the module-scoped `ray_local` must not be running yet.
@pytest.mark.slow
def test_a_small_job_takes_the_local_path_without_starting_ray(tmp_path: Path, monkeypatch) -> None:
    if _ray_is_running():
        pytest.skip("Ray already runs in this process: the local path is not taken")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv(ENV_LOCAL_MAX_CASES, raising=False)
    calls: list[dict] = []
    store = FeatureStore(tmp_path / "store")
    report = run_table_job(_manifest(tmp_path / "c", ["p1", "p22"]), store, _local_job(calls),
                           report=ExtractionReport(version=None), quiet=True)
    assert calls == [{"patients": ["p1", "p22"], "local": True}] and report.path == "local"
    assert report.ray_start_seconds == 0 and not _ray_is_running()
    assert store.read(TABLE).to_pandas()["size"].tolist() == [6.0, 9.0]


@pytest.mark.ray
@pytest.mark.slow
def test_reruns_compute_only_new_cases_and_keep_other_cohorts(ray_local, tmp_path: Path) -> None:
    from ray.data import DataContext

    store = FeatureStore(tmp_path / "store")
    calls: list[dict] = []
    before = (DataContext.get_current().max_errored_blocks, DataContext.get_current().enable_progress_bars)
    first = run_table_job(_manifest(tmp_path / "c", ["p1", "p22"]), store, _job(calls),
                          report=ExtractionReport(version=None), quiet=True)
    assert (first.cases, first.computed, first.cached, first.failed, first.existed) == (2, 2, 0, 0, False)
    assert calls == [{"patients": ["p1", "p22"], "checkpoint": None, "max_errored_blocks": 2,
                      "progress_bars": False}]
    assert (DataContext.get_current().max_errored_blocks, DataContext.get_current().enable_progress_bars) == before
    rows = store.read(TABLE).to_pandas().set_index("patient_id")
    assert rows.loc["p1", "size"] == 6.0 and rows.loc["p22", "size"] == 9.0
    assert first.version.params == {"feature_rows": 2} and first.case_seconds == [0.01, 0.01]
    assert first.summary_line().startswith("extract: 2 cases: 2 done, 0 cached, 0 failed")

    again = run_table_job(_manifest(tmp_path / "c", ["p1", "p22"]), store, _job(calls),
                          report=ExtractionReport(version=None), quiet=True)
    assert again.existed and (again.computed, again.cached) == (0, 2) and len(calls) == 1
    assert again.version.version == first.version.version

    grown = run_table_job(_manifest(tmp_path / "c", ["p1", "p22", "p333"]), store, _job(calls),
                          report=ExtractionReport(version=None), quiet=True)
    assert calls[-1]["patients"] == ["p333"] and (grown.computed, grown.cached) == (1, 2)
    assert grown.version.parent == first.version.version

    other = run_table_job(_manifest(tmp_path / "c", ["p4"], cohort="c2"), store, _job(calls),
                          report=ExtractionReport(version=None), quiet=True)
    assert (other.cases, other.computed, other.carried) == (1, 1, 3)
    assert other.version.lineage["carried_cohorts"] == ["c1"]
    table = store.read(TABLE).to_pandas()
    assert sorted(zip(table["cohort"], table["patient_id"])) == [
        ("c1", "p1"), ("c1", "p22"), ("c1", "p333"), ("c2", "p4")]


@pytest.mark.ray
@pytest.mark.slow
def test_failed_lost_and_unreadable_cases_become_error_rows(ray_local, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "c", ["p1", "bad2", "p3", "p4"])
    manifest.loc[3, "image"] = str(tmp_path / "c" / "gone.img")
    store = FeatureStore(tmp_path / "store")
    calls: list[dict] = []
    report = run_table_job(manifest, store, _job(calls, drop=("p3",)), report=ExtractionReport(version=None),
                           quiet=True)
    assert calls[0]["patients"] == ["bad2", "p1", "p3"]  # the unreadable case never reaches the stage
    rows = store.read(TABLE).to_pandas()
    errors = store.read_errors(TABLE).to_pandas()
    assert rows["patient_id"].tolist() == ["p1"] and report.failed == 3 == len(errors)
    assert report.errors.columns.tolist() == list(ERROR_COLUMNS)
    by_patient = errors.set_index("patient_id")
    assert by_patient.loc["bad2", ["stage", "error_type", "message"]].tolist() == ["size", "ValueError",
                                                                                   "not a size"]
    assert by_patient.loc["p3", ["stage", "error_type"]].tolist() == ["size", "WorkerLost"]
    assert by_patient.loc["p4", ["stage", "error_type"]].tolist() == ["read", "FileNotFoundError"]
    assert store.latest(TABLE).counts == {"cases": 4, "computed": 3, "cached": 0, "failed": 3, "carried": 0}


@pytest.mark.ray
@pytest.mark.slow
def test_checkpointed_cases_are_resumed_and_discarded_once_committed(ray_local, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "c", ["p1", "p22"])
    store = FeatureStore(tmp_path / "store")
    h1 = hash_cases(check_manifest(manifest), PLAN, "v1", VERSIONS)[0][0]
    checkpoint = CaseCheckpoint.for_store(store, TABLE)
    # what a killed earlier run's worker left: p1 finished (its size marked so it is recognisable)
    checkpoint.save(pa.Table.from_pylist([{**_size_record({**manifest.iloc[0].to_dict(), "case_hash": h1}),
                                           "size": -1.0}]), h1)
    calls: list[dict] = []
    report = run_table_job(manifest, store, _job(calls, checkpoints=True), report=ExtractionReport(version=None),
                           quiet=True)
    assert calls[0]["patients"] == ["p22"] and calls[0]["checkpoint"] == checkpoint
    assert (report.computed, report.resumed, report.cached, report.failed) == (1, 1, 0, 0)
    rows = store.read(TABLE).to_pandas().set_index("patient_id")
    assert rows.loc["p1", "size"] == -1.0 and rows.loc["p22", "size"] == 9.0
    assert checkpoint.load([h1]) == []
    assert stored_rows(store, TABLE, {h1})["patient_id"].tolist() == ["p1"]
