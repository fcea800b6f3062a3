"""Moving damaged files out of the way and bringing a table back to a healthy version.

``alnm-ray features repair`` runs :func:`repair`.  For each table with a
damaged version (see :func:`~alnm_ray.store.health.verify`):

1. each damaged data file still inside the table folder (wrong size, altered,
   unreadable) is moved into ``_quarantine/<table>/<time>/files/``, with a
   ``REASON.txt`` that says what was wrong and where each file came from;
2. when the table's latest version is among the damaged ones, the table is
   restored (a Delta ``RESTORE`` commit, which deletes nothing) to its newest
   version that is still healthy; that version becomes the latest again,
   under its own id.

Nothing is deleted: older versions and the log stay as they were, so a
version whose files were quarantined keeps being reported by ``verify``
until its files are put back.  Running ``repair`` on a healthy store does
nothing.  A file outside the store (a doctored log) is never touched.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import posixpath
import uuid
from dataclasses import dataclass

import pyarrow.fs as pafs

from alnm_ray.exceptions import StoreDamageError
from alnm_ray.store import _fs
from alnm_ray.store._problems import Problem
from alnm_ray.store.delta_log import COMMIT_KEY, RECORD_FORMAT, TABLES_DIR
from alnm_ray.store.feature_store import FeatureStore
from alnm_ray.store.health import verify
from alnm_ray.store.versions import VersionInfo, utc_now

#: Folder of quarantined files, below the store root.
QUARANTINE_DIR = "_quarantine"
#: The note written next to each quarantined version.
REASON_FILE = "REASON.txt"


@dataclass(frozen=True)
class Moved:
    """One quarantined version.

    Attributes:
        table: Its table.
        version: Its version id.
        destination: Its quarantine folder, relative to the store root.
        items: What moved: ``(from, to)`` paths relative to the store root.
        problems: Why.
    """

    table: str
    version: str
    destination: str
    items: tuple[tuple[str, str], ...]
    problems: tuple[Problem, ...]


def repair(store: FeatureStore) -> list[Moved]:
    """Quarantine damaged files and restore tables whose latest version is damaged.

    Args:
        store: The store (see :meth:`FeatureStore.check_is_store`).

    Returns:
        One :class:`Moved` per repaired table version; empty when the store
        is healthy (running it again after a repair changes nothing).

    Raises:
        StoreError: Not a store, or a move failed (the message names the path
            and the fix; whatever moved before stays in ``_quarantine/``).
    """
    report = verify(store)
    by_table: dict[str, list[Problem]] = {}
    for problem in report.problems:
        by_table.setdefault(problem.table, []).append(problem)
    moved = []
    for table, problems in sorted(by_table.items()):
        moved.extend(store._io(lambda t=table, p=problems: _repair_table(store, t, p),
                               f"repair {table!r}"))
    return moved


def _repair_table(store: FeatureStore, table: str, problems: list[Problem]) -> list[Moved]:
    fs, loc = store.location.fs, store.location
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = f"{QUARANTINE_DIR}/{table}/{stamp}-{uuid.uuid4().hex[:4]}"
    items: list[tuple[str, str]] = []
    for rel in sorted({p.file for p in problems
                       if p.kind in ("size", "checksum", "unreadable", "schema", "escapes")
                       and _fs.is_plain_relpath(p.file) and p.file.startswith(f"{TABLES_DIR}/{table}/")
                       and not p.file.startswith(f"{TABLES_DIR}/{table}/_delta_log")}):
        link = loc.path(rel)
        if loc.is_local and os.path.islink(link):  # a link pointing out moves as a link, unfollowed
            items.append((rel, f"{dest}/files/{posixpath.basename(rel)}"))
            continue
        try:
            path = _fs.inside(loc, rel, "damaged file")
        except StoreDamageError:  # a file outside the store is left alone
            continue
        if fs.get_file_info(path).type == pafs.FileType.File:
            items.append((rel, f"{dest}/files/{posixpath.basename(rel)}"))
    entries, broken = store.scan(table)
    damaged = {p.version for p in problems}
    newest = max((e.delta_version for e in entries), default=-1)
    newest_broken = max((int(p.version[len("delta-"):]) for p in broken
                         if p.version.startswith("delta-") and p.version[6:].isdigit()), default=-1)
    latest = max(entries, key=lambda e: e.delta_version) if entries else None
    needs_restore = newest_broken > newest or (latest is not None and latest.version in damaged)
    lines = [p.line() for p in problems]
    note: dict = {"table": table, "repaired": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                  "problems": lines, "moved": [{"from": a, "to": b} for a, b in items],
                  "restore": "check the files, move them back to 'from', then run "
                             "`alnm-ray features verify`"}
    if items or needs_restore:
        fs.create_dir(loc.path(dest), recursive=True)
        for src, dst in items:
            _fs.move_tree(fs, loc.path(src), loc.path(dst))
    restored = None
    if needs_restore:
        from alnm_ray.store.health import check_version

        for candidate in sorted(entries, key=lambda e: -e.delta_version):
            if candidate.version not in damaged and not check_version(store, candidate):
                restored = candidate
                break
        if restored is not None:
            _restore(store, restored, lines)
            note["restored_to"] = restored.ref
        else:
            note["restored_to"] = None
    if not (items or needs_restore):
        return []
    text = "\n".join(["Repaired by `alnm-ray features repair`.", "", *lines, "",
                      json.dumps(note, indent=1)]) + "\n"
    _fs.write_bytes(fs, loc.path(dest, REASON_FILE), text.encode("utf-8"))
    now_latest = store.latest(table)
    aside = sorted({p.version for p in problems} - ({now_latest.version} if now_latest else set()))
    if aside:
        from alnm_ray.store.health import QUARANTINE_LIST

        path = loc.path(QUARANTINE_LIST)
        old = _fs.read_bytes(fs, path) if fs.get_file_info(path).type == pafs.FileType.File else b""
        new = "".join(json.dumps({"table": table, "version": v, "destination": dest,
                                  "when": note["repaired"]}) + "\n" for v in aside)
        _fs.write_bytes(fs, path, old + new.encode("utf-8"))
    version = restored.version if restored is not None else problems[0].version
    return [Moved(table, version, dest, tuple(items), tuple(problems))]


def _restore(store: FeatureStore, target: VersionInfo, reasons: list[str]) -> None:
    """A Delta RESTORE to ``target``'s content, recorded as a version with ``target``'s id."""
    from deltalake import CommitProperties, DeltaTable

    record = {
        "format": RECORD_FORMAT, "table": target.table, "version": target.version,
        "created": utc_now(), "rows": target.rows, "cases": target.cases,
        "failures": target.failures, "key": list(target.key),
        "columns": [list(c) for c in target.columns], "params": target.params,
        "lineage": dict(target.lineage, restored_by="alnm-ray features repair",
                        restored_from_delta_version=target.read_version, problems=reasons[:20]),
        "counts": target.counts, "parent": target.parent, "role": target.role, "mode": "restore",
        "package_version": target.package_version,
    }
    props = CommitProperties(custom_metadata={COMMIT_KEY: json.dumps(record, sort_keys=True)})
    DeltaTable(store.table_uri(target.table)).restore(target.read_version, commit_properties=props)
