"""``repair``: damaged files move into _quarantine/ with a note, the table is restored to its newest
healthy version (a Delta RESTORE commit); nothing is deleted and a second run changes nothing."""

from __future__ import annotations

import json
import os

from deltalake import DeltaTable

from alnm_ray.store import FeatureStore
from alnm_ray.store.health import QUARANTINE_LIST, verify
from alnm_ray.store.repair import QUARANTINE_DIR, REASON_FILE, repair


def _files(store: FeatureStore, ref: str) -> list[str]:
    info = store.with_files(store.resolve(ref))
    return [os.path.join(info.path, n) for n in info.files]


def test_repair_quarantines_restores_the_latest_healthy_version_and_is_idempotent(store, long_table) -> None:
    old = store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2", parent="r1")
    deep = store.write_version("deep", long_table(seed=3), version_id="d1")
    expected_r1, expected_d1 = store.read("radiomics@r1"), store.read("deep@d1")
    damaged = _files(store, "radiomics@r2")[0]
    kept = open(damaged, "rb").read()
    open(damaged, "r+b").truncate(10)
    assert [(p.table, p.version, p.kind) for p in verify(store).problems] == [("radiomics", "r2", "size")]

    moved = repair(store)
    assert [(m.table, m.version) for m in moved] == [("radiomics", "r1")]  # restored to r1
    folder = os.path.join(store.uri, moved[0].destination)
    assert moved[0].destination.startswith(f"{QUARANTINE_DIR}/radiomics/")
    quarantined = os.path.join(folder, "files", os.path.basename(damaged))
    assert not os.path.exists(damaged) and open(quarantined, "rb").read() == kept[:10]
    assert moved[0].items == ((os.path.relpath(damaged, store.uri), os.path.relpath(quarantined, store.uri)),)
    note = open(os.path.join(folder, REASON_FILE), encoding="utf-8").read()
    assert "radiomics@r2" in note and "expected" in note and "move them back" in note
    body = json.loads(note[note.index("{"):])
    assert body["restored_to"] == "radiomics@r1" and body["moved"][0]["from"] == moved[0].items[0][0]

    # the latest is r1 again, under its own id, by a RESTORE commit: nothing was deleted
    fresh = FeatureStore(store.uri)
    latest = fresh.latest("radiomics")
    assert (latest.version, latest.mode, latest.delta_version) == ("r1", "restore", 2)
    assert latest.lineage["restored_by"] == "alnm-ray features repair"
    assert DeltaTable(store.table_uri("radiomics")).history()[0]["operation"] == "RESTORE"
    assert fresh.read("radiomics").equals(expected_r1) and fresh.read("radiomics@0").equals(expected_r1)
    assert fresh.read("deep").equals(expected_d1) and os.path.isfile(_files(fresh, "deep@d1")[0])
    assert old.version == "r1" and deep.version == "d1"
    # r2 is set aside (listed, no longer reported); a second repair does nothing more
    report = verify(fresh)
    assert report.ok and report.quarantined == ["radiomics@r2"]
    commits = len(os.listdir(os.path.join(store.uri, "tables", "radiomics", "_delta_log")))
    assert repair(fresh) == []
    assert len(os.listdir(os.path.join(store.uri, "tables", "radiomics", "_delta_log"))) == commits
    assert os.listdir(os.path.join(store.uri, QUARANTINE_DIR, "radiomics")) == [os.path.basename(folder)]
    # putting the file back and its line out of the list has r2 checked, and healthy, again
    os.replace(quarantined, damaged)
    open(damaged, "wb").write(kept)
    os.remove(os.path.join(store.uri, QUARANTINE_LIST))
    again = verify(FeatureStore(store.uri))
    assert again.ok and again.quarantined == []


def test_an_altered_older_version_is_quarantined_without_a_restore(store, long_table) -> None:
    store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2")
    path = _files(store, "radiomics@r1")[1]
    data = bytearray(open(path, "rb").read())
    data[40] ^= 0xFF
    open(path, "wb").write(bytes(data))
    moved = repair(store)
    assert [(m.table, m.version, m.problems[0].kind) for m in moved] == [("radiomics", "r1", "checksum")]
    assert not os.path.exists(path)
    latest = FeatureStore(store.uri).latest("radiomics")
    assert (latest.version, latest.mode, latest.delta_version) == ("r2", "overwrite", 1)  # no restore
    assert repair(FeatureStore(store.uri)) == []


def test_repair_of_a_healthy_store_changes_nothing(store, long_table) -> None:
    store.write_version("radiomics", long_table(), version_id="r1")
    before = sorted(os.walk(store.uri))
    assert repair(store) == [] and sorted(os.walk(store.uri)) == before
