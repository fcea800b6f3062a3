"""``repair``: damaged versions move into _quarantine/ with a note; nothing is deleted."""

from __future__ import annotations

import json
import os
import shutil

from alnm_ray.store.health import verify
from alnm_ray.store.repair import QUARANTINE_DIR, REASON_FILE, repair


def test_repair_moves_damaged_versions_keeps_data_and_is_idempotent(store, long_table) -> None:
    old = store.write_version("radiomics", long_table(seed=1), version_id="r1")
    new = store.write_version("radiomics", long_table(seed=2), version_id="r2", parent="r1")
    gone = store.write_version("deep", long_table(seed=3), version_id="d1")
    kept = open(os.path.join(new.path, "part-00000.parquet"), "rb").read()
    open(os.path.join(new.path, "part-00000.parquet"), "r+b").truncate(10)
    shutil.rmtree(gone.path)
    with open(os.path.join(store.uri, "_catalog", "deep", "d2.json"), "w", encoding="utf-8") as handle:
        handle.write("not json")
    moved = repair(store)
    assert [(m.table, m.version) for m in moved] == [("deep", "d1"), ("deep", "d2"), ("radiomics", "r2")]
    r2 = next(m for m in moved if m.version == "r2")
    folder = os.path.join(store.uri, r2.destination)
    assert r2.destination.startswith(f"{QUARANTINE_DIR}/radiomics/r2-")
    assert open(os.path.join(folder, "data", "part-00000.parquet"), "rb").read() == kept[:10]
    note = open(os.path.join(folder, REASON_FILE), encoding="utf-8").read()
    assert "radiomics@r2" in note and "expected" in note and "restore" in note
    assert json.loads(open(os.path.join(folder, "entry.json"), encoding="utf-8").read())["version"] == "r2"
    # the table's latest healthy version is its latest again; nothing healthy moved
    assert store.resolve("radiomics").version == "r1" and os.path.isdir(old.path)
    assert store.tables() == ["radiomics"] and verify(store).ok
    assert repair(store) == []
