"""``features migrate``: a store of the old layout (_catalog/ + a Parquet folder per version) becomes
Delta tables, every version under its own id with its rows, errors, params, lineage and dates."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alnm_ray.constants import CASE_KEY, ERROR_COLUMNS
from alnm_ray.exceptions import StoreError
from alnm_ray.store import FeatureStore
from alnm_ray.store._writer import sort_order
from alnm_ray.store.health import verify
from alnm_ray.store.migrate import LEGACY_DIR, migrate


def _write_old_version(root: str, table: str, version: str, data: pa.Table, *, created: str,
                       errors: pa.Table | None = None, params: dict | None = None,
                       lineage: dict | None = None, parent: str | None = None,
                       key: tuple[str, ...] = CASE_KEY, role: str = "feature") -> None:
    """One version as the format-1 writer (git tag pre-delta) left it on disk."""
    if not os.path.exists(os.path.join(root, "_store.json")):
        os.makedirs(os.path.join(root, "_tmp"))
        with open(os.path.join(root, "_store.json"), "w", encoding="utf-8") as handle:
            json.dump({"alnm_ray_store": 1, "created": created, "package_version": "0.0.9"}, handle)
    wid = uuid.uuid4().hex
    data_dir = f"tables/{table}/{version}-{wid[:8]}"
    folder = os.path.join(root, data_dir)
    os.makedirs(folder)
    data = data.sort_by([(k, "ascending") for k in sort_order(key)]) if key else data
    pq.write_table(data, os.path.join(folder, "part-00000.parquet"))
    names = ["part-00000.parquet"]
    if errors is not None:
        pq.write_table(errors, os.path.join(folder, "errors.parquet"))
        names.append("errors.parquet")
    digests = {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest() for n in names}
    cases = len({tuple(r[k] for k in CASE_KEY) for r in data.select(list(CASE_KEY)).to_pylist()}) \
        if all(k in data.schema.names for k in CASE_KEY) else 0
    record = {
        "catalog_format": 1, "table": table, "version": version, "created": created,
        "rows": data.num_rows, "cases": cases, "failures": 0 if errors is None else errors.num_rows,
        "data_dir": data_dir, "files": ["part-00000.parquet"],
        "errors_file": "errors.parquet" if errors is not None else None,
        "key": list(key), "columns": [[f.name, str(f.type)] for f in data.schema],
        "data_sha256": "0" * 64, "package_version": "0.0.9",
        "file_sizes": {n: os.path.getsize(os.path.join(folder, n)) for n in names},
        "file_sha256": digests, "pyarrow_version": pa.__version__, "role": role,
        "writer": {"host": socket.gethostname(), "pid": os.getpid()},
        "params": params or {}, "lineage": lineage or {}, "counts": {"computed": data.num_rows},
        "parent": parent,
    }
    os.makedirs(os.path.join(root, "_catalog", table), exist_ok=True)
    with open(os.path.join(root, "_catalog", table, f"{version}.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)


def _errors(n: int, stage: str) -> pa.Table:
    values = {c: [f"{c}{i}" for i in range(n)] for c in ERROR_COLUMNS}
    values["stage"] = [stage] * n
    return pa.table(values)


@pytest.fixture
def old_store(tmp_path, long_table) -> tuple[str, dict[str, pa.Table]]:
    root = str(tmp_path / "old")
    datasets = {
        "radiomics@aaaa1111": long_table(seed=1), "radiomics@bbbb2222": long_table(n_patients=7, seed=2),
        "radiomics@cccc3333": long_table(n_patients=4, seed=3),
        "cv_results@dddd4444": pa.table({"model": ["lr", "rf"], "auc": [0.7, 0.8]}),
    }
    _write_old_version(root, "radiomics", "aaaa1111", datasets["radiomics@aaaa1111"],
                       created="2025-01-01T10:00:00.000000+00:00", params={"binWidth": 25},
                       lineage={"manifest": "m.csv", "manifest_sha256": "ab"}, errors=_errors(2, "extract"))
    _write_old_version(root, "radiomics", "bbbb2222", datasets["radiomics@bbbb2222"],
                       created="2025-01-02T10:00:00.000000+00:00", params={"binWidth": 25},
                       parent="aaaa1111", errors=_errors(1, "load"))
    _write_old_version(root, "cv_results", "dddd4444", datasets["cv_results@dddd4444"],
                       created="2025-01-02T12:00:00.000000+00:00", key=(), role="output",
                       lineage={"inputs": ["radiomics@bbbb2222"]})
    _write_old_version(root, "radiomics", "cccc3333", datasets["radiomics@cccc3333"],
                       created="2025-01-03T10:00:00.000000+00:00", params={"binWidth": 12})
    return root, datasets


def test_other_commands_refuse_the_old_layout_with_the_migrate_hint(old_store, long_table) -> None:
    root, _ = old_store
    store = FeatureStore(root)
    hint = rf"found the old layout \(_catalog/ .*`alnm-ray features migrate {root}`"
    with pytest.raises(StoreError, match=hint):
        store.check_is_store()
    with pytest.raises(StoreError, match=hint):
        store.write_version("radiomics", long_table(seed=9))
    with pytest.raises(StoreError, match=hint):
        verify(store)
    assert os.listdir(os.path.join(root, "tables", "radiomics")) and not os.path.exists(
        os.path.join(root, "tables", "radiomics", "_delta_log"))  # nothing was written


def test_migrate_keeps_every_version_its_rows_errors_and_record(old_store) -> None:
    root, datasets = old_store
    result = migrate(root)
    assert result.tables == {"radiomics": 3, "cv_results": 1} and result.legacy.endswith(LEGACY_DIR)
    assert sorted(os.listdir(os.path.join(root, LEGACY_DIR))) == ["_catalog", "_tmp", "tables"]
    assert not os.path.exists(os.path.join(root, "_catalog"))
    store = FeatureStore(root)
    store.check_is_store()
    versions = store.versions()
    assert [v.ref for v in versions] == ["radiomics@aaaa1111", "radiomics@bbbb2222", "cv_results@dddd4444",
                                         "radiomics@cccc3333"]
    assert [v.delta_version for v in store.versions("radiomics")] == [0, 1, 2]  # oldest first
    for info in versions:
        expected = datasets[info.ref]
        if info.key:
            expected = expected.sort_by([(k, "ascending") for k in sort_order(info.key)])
        assert store.read(info.table, info.version).equals(expected)
        assert store.read(info.table, str(info.delta_version)).equals(expected)
    a, b, c = store.versions("radiomics")
    assert a.created == "2025-01-01T10:00:00.000000+00:00" and c.created.startswith("2025-01-03T10:00")
    assert a.params == {"binWidth": 25} and c.params == {"binWidth": 12}
    assert a.lineage == {"manifest": "m.csv", "manifest_sha256": "ab"} and a.counts == {"computed": 12}
    assert (a.parent, b.parent, c.parent) == (None, "aaaa1111", None)
    assert (a.failures, b.failures, c.failures) == (2, 1, 0)
    cv = store.latest("cv_results")
    assert cv.role == "output" and cv.key == () and cv.lineage == {"inputs": ["radiomics@bbbb2222"]}
    assert store.latest("radiomics").version == "cccc3333"
    # error rows, per version, as they were
    for ref, stage, n in (("radiomics@aaaa1111", "extract", 2), ("radiomics@bbbb2222", "load", 1)):
        errors = store.read_errors(ref)
        assert errors.num_rows == n and set(errors["stage"].to_pylist()) == {stage}
        assert errors.drop(["table", "version"]).select(ERROR_COLUMNS).equals(
            _errors(n, stage).select(ERROR_COLUMNS))
    assert store.read_errors("radiomics@cccc3333").num_rows == 0
    assert verify(store).ok


def test_a_second_migrate_is_a_no_op(old_store) -> None:
    root, _ = old_store
    migrate(root)
    logs = {t: sorted(os.listdir(os.path.join(root, "tables", t, "_delta_log"))) for t in ("radiomics", "cv_results")}
    again = migrate(root)
    assert again.tables == {}
    assert {t: sorted(os.listdir(os.path.join(root, "tables", t, "_delta_log"))) for t in logs} == logs
    assert len(FeatureStore(root).versions()) == 4


def test_an_interrupted_migration_is_finished_by_running_it_again(old_store) -> None:
    root, _ = old_store
    migrate(root)
    # as if it had stopped after the first version of each table: the rest is in _legacy_v1/ only
    import shutil

    shutil.rmtree(os.path.join(root, "tables"))
    shutil.rmtree(os.path.join(root, "errors"))
    FeatureStore(root).write_version("radiomics", pq.read_table(
        os.path.join(root, LEGACY_DIR, "tables", "radiomics", next(
            d for d in os.listdir(os.path.join(root, LEGACY_DIR, "tables", "radiomics"))
            if d.startswith("aaaa1111")), "part-00000.parquet")), version_id="aaaa1111")
    result = migrate(root)
    assert result.tables == {"radiomics": 2, "cv_results": 1}
    by_commit = sorted(FeatureStore(root).versions("radiomics"), key=lambda v: v.delta_version)
    assert [v.version for v in by_commit] == ["aaaa1111", "bbbb2222", "cccc3333"]
    assert by_commit[1].parent == "aaaa1111"


def test_migrate_of_a_path_that_is_no_store(tmp_path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        migrate(str(tmp_path / "nothing"))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match="expected an alnm-ray store folder"):
        migrate(str(tmp_path / "etc"))
