"""Keeping a store small: compaction, vacuum with pinned versions, and version pins.

* :func:`compact` merges each table's small files into larger ones (Delta
  ``OPTIMIZE``): a new commit with the same rows, so every version keeps its
  content and reads of the latest one open fewer files.
* :func:`vacuum` deletes data files that no kept version needs any more.  A
  version is kept when it is younger than the retention period, is a
  table's latest, is named in the lineage of any version of the store (a
  ``tune`` run's inputs, a prediction's inputs), or is pinned
  (:func:`pin`, which ``alnm-ray train`` calls for the versions a bundle
  was trained on).  Older, unpinned versions can no longer be read after a
  vacuum: that is the point.
* :func:`pin` records ``table@version`` in the store's ``pins`` Delta table.

Example:
    >>> import pyarrow as pa, tempfile
    >>> from alnm_ray.store import FeatureStore
    >>> store = FeatureStore(tempfile.mkdtemp())
    >>> old = store.write_version("clinical", pa.table({"patient_id": ["p1"], "age": [51.0]}))
    >>> _ = store.write_version("clinical", pa.table({"patient_id": ["p1"], "age": [52.0]}))
    >>> _ = pin(store, [old.ref], by="doctest")
    >>> [v.version == old.version for v in pinned_versions(store)["clinical"]]
    [True]
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from alnm_ray.exceptions import ConfigError, StoreError
from alnm_ray.store import _fs
from alnm_ray.store.feature_store import TABLE_CONFIGURATION, FeatureStore
from alnm_ray.store.versions import VERSION_SEP, VersionInfo, split_ref, utc_now

logger = logging.getLogger(__name__)

#: The Delta table of pinned versions, below the store root.
PINS_DIR = "pins"
#: Default retention of ``features vacuum``: files removed less than a week ago stay.
DEFAULT_RETENTION_HOURS = 168
_REF = re.compile(r"^([a-z][a-z0-9_]{0,62})@([0-9A-Za-z][0-9A-Za-z_-]{0,127})$")


def referenced_files(store: FeatureStore, rel: str) -> set[str]:
    """File names any commit of the Delta table ``rel`` ever added (so far as its log tells).

    Reads the commit files of ``_delta_log/`` (the store never deletes them;
    see :data:`~alnm_ray.store.feature_store.TABLE_CONFIGURATION`).
    """
    fs = store.location.fs
    out: set[str] = set()
    for info in _fs.list_dir(fs, store.location.path(rel, "_delta_log")):
        if not info.base_name.endswith(".json"):
            continue
        for line in _fs.read_bytes(fs, info.path).decode("utf-8", "replace").splitlines():
            try:
                action = json.loads(line)
            except ValueError:
                continue
            for kind in ("add", "remove"):
                path = (action.get(kind) or {}).get("path") if isinstance(action, dict) else None
                if isinstance(path, str):
                    out.add(path)
    return out


@dataclass
class VacuumReport:
    """What :func:`vacuum` removed (or would remove, in a dry run)."""

    dry_run: bool
    files: dict[str, list[str]] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of files removed (or to remove)."""
        return sum(len(v) for v in self.files.values())


def pin(store: FeatureStore, refs: Iterable[str], *, by: str) -> list[VersionInfo]:
    """Record that ``refs`` (``table@version``) must survive :func:`vacuum`.

    Args:
        store: The store.
        refs: Versions, as ``table@id`` (or any reference :meth:`FeatureStore.resolve` takes).
        by: Who pins them (a bundle id, a run id), for ``features list``.

    Returns:
        The pinned versions.
    """
    infos = [store.resolve(r) for r in refs]
    if not infos:
        return []
    from deltalake import write_deltalake

    rows = pa.table({"table": [i.table for i in infos], "version": [i.version for i in infos],
                     "pinned_by": [str(by)] * len(infos), "created": [utc_now()] * len(infos)})
    uri = store.log.table_uri(PINS_DIR)
    store._io(lambda: write_deltalake(uri, rows, mode="append", configuration=TABLE_CONFIGURATION),
              "record pinned versions")
    return infos


def _lineage_refs(value: Any, out: set[tuple[str, str]]) -> None:
    if isinstance(value, str):
        match = _REF.match(value)
        if match:
            out.add((match.group(1), match.group(2)))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and re.match(r"^[a-z][a-z0-9_]{0,62}$", str(key)) and \
                    re.match(r"^[0-9a-f]{12,64}$", item):
                out.add((str(key), item))
            _lineage_refs(item, out)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _lineage_refs(item, out)


def pinned_versions(store: FeatureStore) -> dict[str, list[VersionInfo]]:
    """Per table, the versions :func:`vacuum` keeps whatever their age (latest excluded)."""
    wanted: set[tuple[str, str]] = set()
    for info in store.versions():
        _lineage_refs(info.lineage, wanted)
    if store.log.is_table(PINS_DIR):
        from deltalake import DeltaTable

        rows = store._io(lambda: DeltaTable(store.log.table_uri(PINS_DIR)).to_pyarrow_table(
            columns=["table", "version"]), "read the pinned versions")
        wanted.update(zip(rows.column("table").to_pylist(), rows.column("version").to_pylist()))
    tables = set(store.tables())
    out: dict[str, list[VersionInfo]] = {}
    for table, version in sorted(wanted):
        if table not in tables:
            continue
        found = [v for v in store.versions(table) if v.version.startswith(version)]
        if found:
            out.setdefault(table, []).append(found[-1])
    return out


def compact(store: FeatureStore, tables: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Merge small files of each table (Delta ``OPTIMIZE``); the rows of every version are kept.

    Returns:
        Per table, deltalake's metrics (files added and removed).
    """
    from deltalake import DeltaTable

    store.check_is_store()
    out = {}
    for table in (list(tables) if tables is not None else store.tables()):
        store.resolve(table)
        uri = store.table_uri(table)
        out[table] = store._io(lambda u=uri: DeltaTable(u).optimize.compact(), f"compact {table!r}")
        logger.info("compacted %s: %s", table, out[table])
    return out


def vacuum(store: FeatureStore, *, retention_hours: float = DEFAULT_RETENTION_HOURS,
           dry_run: bool = True, keep: Iterable[str] = ()) -> VacuumReport:
    """Delete data files no kept version needs (see the module docstring).

    Args:
        store: The store.
        retention_hours: Files removed from a table less than this long ago stay.
        dry_run: Only list what would go.
        keep: More ``table@version`` references to keep.

    Returns:
        The :class:`VacuumReport`.

    Raises:
        ConfigError: A negative retention.
    """
    from deltalake import DeltaTable

    if retention_hours < 0:
        raise ConfigError(f"--retention-hours: expected a number of hours >= 0; got {retention_hours}. "
                          f"The default ({DEFAULT_RETENTION_HOURS}) keeps a week.")
    store.check_is_store()
    pins = pinned_versions(store)
    for ref in keep:
        info = store.resolve(ref)
        pins.setdefault(info.table, []).append(info)
    report = VacuumReport(dry_run=dry_run)
    for table in store.tables():
        kept = pins.get(table, [])
        report.kept[table] = sorted({f"{i.table}{VERSION_SEP}{i.version}" for i in kept})
        versions = sorted({v for i in kept for v in range(i.delta_version, i.read_version + 1)})
        uri = store.table_uri(table)
        # deltalake also lists tombstoned files an earlier vacuum deleted: report only files still there
        present = {i.base_name for i in store._io(lambda t=table: _fs.list_dir(
            store.location.fs, store.location.path("tables", t)), f"list {table!r}")}
        removed = store._io(lambda u=uri, k=versions: DeltaTable(u).vacuum(
            retention_hours=int(retention_hours), dry_run=dry_run, enforce_retention_duration=False,
            keep_versions=k or None), f"vacuum {table!r}")
        removed = [f for f in removed if f.rstrip("/").rsplit("/", 1)[-1] in present]
        if removed:
            report.files[table] = sorted(removed)
    return report


def check_ref(ref: str) -> str:
    """Check ``ref`` looks like ``table@version``.

    Raises:
        StoreError: Anything else.
    """
    table, version = split_ref(ref)
    if not version:
        raise StoreError(f"--keep {ref!r}: expected table@version (e.g. radiomics@3fa2c1); found no "
                         "'@version'. Name the version to keep.")
    return ref


__all__ = ["DEFAULT_RETENTION_HOURS", "PINS_DIR", "VacuumReport", "check_ref", "compact", "pin",
           "pinned_versions", "referenced_files", "vacuum"]
