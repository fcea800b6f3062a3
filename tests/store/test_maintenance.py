"""compact (Delta OPTIMIZE) keeps every version's rows; vacuum deletes what no kept version needs,
keeping pinned versions and versions named in a lineage."""

from __future__ import annotations

import os

import pytest

from alnm_ray.exceptions import ConfigError, StoreDamageError, StoreError
from alnm_ray.store import FeatureStore
from alnm_ray.store.health import verify
from alnm_ray.store.maintenance import compact, pin, pinned_versions, vacuum


def _parquet(store: FeatureStore, table: str) -> set[str]:
    folder = os.path.join(store.uri, "tables", table)
    return {n for n in os.listdir(folder) if n.endswith(".parquet")}


def test_compact_keeps_every_version_and_reduces_the_files(store, long_table) -> None:
    infos = [store.write_version("radiomics", long_table(n_patients=6, seed=i), version_id=f"r{i}")
             for i in range(3)]
    before = {i.version: store.read("radiomics", i.version) for i in infos}
    files = len(store.with_files(store.latest("radiomics")).files)
    assert files == 2  # rows_per_file=8, 12 rows
    metrics = compact(store)
    assert metrics["radiomics"]["numFilesRemoved"] == 2 and metrics["radiomics"]["numFilesAdded"] == 1
    fresh = FeatureStore(store.uri)
    latest = fresh.latest("radiomics")
    assert latest.version == "r2" and (latest.delta_version, latest.read_version) == (2, 3)
    assert len(fresh.with_files(latest).files) == 1
    for info in infos:
        assert fresh.read("radiomics", info.version).equals(before[info.version])
    assert [v.version for v in fresh.versions("radiomics")] == ["r0", "r1", "r2"]  # no new version
    assert verify(fresh).ok
    with pytest.raises(StoreError, match="table 'nothing'"):
        compact(fresh, ["nothing"])


def test_vacuum_dry_run_lists_and_apply_deletes_old_unpinned_files(store, long_table) -> None:
    old = store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2")
    old_files = set(store.with_files(old).files)
    everything = _parquet(store, "radiomics")
    # the default retention keeps files removed less than a week ago
    assert vacuum(store, dry_run=False).count == 0 and _parquet(store, "radiomics") == everything
    dry = vacuum(store, retention_hours=0)
    assert dry.dry_run and set(map(os.path.basename, dry.files["radiomics"])) == old_files
    assert _parquet(store, "radiomics") == everything  # a dry run deletes nothing
    done = vacuum(store, retention_hours=0, dry_run=False)
    assert not done.dry_run and done.count == len(old_files)
    assert _parquet(store, "radiomics") == everything - old_files
    assert store.read("radiomics").num_rows == 12  # the latest is kept
    with pytest.raises(StoreDamageError, match="version radiomics@r1"):
        FeatureStore(store.uri).read("radiomics@r1")
    with pytest.raises(ConfigError, match="--retention-hours: expected a number of hours >= 0"):
        vacuum(store, retention_hours=-1)


def test_pinned_and_lineage_versions_survive_vacuum(store, long_table) -> None:
    pinned = store.write_version("radiomics", long_table(seed=1), version_id="a" * 16)
    named = store.write_version("radiomics", long_table(seed=2), version_id="b" * 16)
    loose = store.write_version("radiomics", long_table(seed=3), version_id="c" * 16)
    store.write_version("radiomics", long_table(seed=4), version_id="d" * 16)
    # a run that used ``named`` says so in its lineage; ``pinned`` is pinned by a bundle
    store.write_version("cv_results", long_table(seed=5), version_id="cv1",
                        lineage={"inputs": [f"radiomics@{named.version}"]})
    assert [i.version for i in pin(store, [pinned.ref], by="bundle-1")] == [pinned.version]
    assert {v.version for v in pinned_versions(store)["radiomics"]} == {pinned.version, named.version}
    expected = {i.version: store.read("radiomics", i.version) for i in (pinned, named)}
    report = vacuum(store, retention_hours=0, dry_run=False)
    assert report.kept["radiomics"] == sorted([pinned.ref, named.ref])
    assert set(map(os.path.basename, report.files["radiomics"])) == set(store.with_files(loose).files)
    fresh = FeatureStore(store.uri)
    for info in (pinned, named):
        assert fresh.read("radiomics", info.version).equals(expected[info.version])
    with pytest.raises(StoreDamageError, match=f"version radiomics@{'c' * 12}"):
        fresh.read("radiomics", loose.version)
    assert fresh.read("radiomics").num_rows == 12 and fresh.read("cv_results").num_rows == 12
    again = vacuum(fresh, retention_hours=0, dry_run=False)
    assert again.count == 0  # nothing more to do


def test_keep_names_one_more_version_to_keep(store, long_table) -> None:
    first = store.write_version("radiomics", long_table(seed=1), version_id="r1")
    store.write_version("radiomics", long_table(seed=2), version_id="r2")
    expected = store.read("radiomics@r1")
    report = vacuum(store, retention_hours=0, dry_run=False, keep=["radiomics@r1"])
    assert report.count == 0 and report.kept["radiomics"] == [first.ref]
    assert FeatureStore(store.uri).read("radiomics@r1").equals(expected)
