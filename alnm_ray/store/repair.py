"""Moving damaged versions out of the way, never deleting anything.

``alnm-ray features repair`` runs :func:`repair`: every version
:func:`~alnm_ray.store.health.verify` finds damaged is moved into
``_quarantine/<table>/<version>-<time>/`` inside the store::

    _quarantine/radiomics/3fa2c1…-20250101T120000Z-ab12/
        REASON.txt      what was wrong, when, and where each item came from
        data/           the version's data folder (when it was inside the store)
        entry.json      its catalog entry

The data folder moves first and the catalog entry (the commit point) last, so
a repair interrupted half-way leaves a version that ``verify`` still reports
and a second ``repair`` finishes.  Once the entry is gone the version is no
longer in the catalog; the table's latest healthy version becomes its latest.
Running ``repair`` on a healthy store moves nothing.  A data folder outside
the store (a tampered ``data_dir``) is never touched.
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
from alnm_ray.store.feature_store import TABLES_DIR, FeatureStore
from alnm_ray.store.health import verify

#: Folder of quarantined versions, below the store root.
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


def _data_folders(store: FeatureStore, problems: list[Problem]) -> list[str]:
    """Data folders of a damaged version that lie inside the store (relative paths)."""
    table, version = problems[0].table, problems[0].version
    fs, loc = store.location.fs, store.location
    folders = set()
    for p in problems:
        parts = p.file.split("/")
        if p.kind != "entry" and len(parts) >= 3 and parts[0] == TABLES_DIR:
            folders.add("/".join(parts[:3]))
    if not folders:  # unreadable entry: its data is the folder named after the version
        for info in _fs.list_dir(fs, loc.path(TABLES_DIR, table)):
            if info.base_name.startswith(f"{version}-"):
                folders.add(f"{TABLES_DIR}/{table}/{info.base_name}")
    inside = []
    for rel in sorted(folders):
        try:  # the folder itself may be a link pointing out: it moves as a link
            parent = _fs.inside(loc, posixpath.dirname(rel), "data folder")
        except StoreDamageError:  # a parent escaping the store is left alone
            continue
        path = f"{parent}/{posixpath.basename(rel)}"
        if os.path.lexists(path) if loc.is_local else \
                fs.get_file_info(path).type != pafs.FileType.NotFound:
            inside.append(rel)
    return inside


def repair(store: FeatureStore) -> list[Moved]:
    """Quarantine every damaged version of ``store``; return what moved.

    Args:
        store: The store (see :meth:`FeatureStore.check_is_store`).

    Returns:
        One :class:`Moved` per quarantined version; empty when the store is
        healthy (running it again after a repair moves nothing).

    Raises:
        StoreError: Not a store, or a move failed (the message names the path
            and the fix; whatever moved before stays in ``_quarantine/``).
    """
    report = verify(store)
    by_version: dict[tuple[str, str], list[Problem]] = {}
    for problem in report.problems:
        by_version.setdefault((problem.table, problem.version), []).append(problem)
    moved = []
    for (table, version), problems in sorted(by_version.items()):
        moved.append(store._io(lambda t=table, v=version, p=problems: _quarantine(store, t, v, p),
                               f"quarantine {table}@{version[:12]}"))
    return moved


def _quarantine(store: FeatureStore, table: str, version: str, problems: list[Problem]) -> Moved:
    fs, loc = store.location.fs, store.location
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = f"{QUARANTINE_DIR}/{table}/{version}-{stamp}-{uuid.uuid4().hex[:4]}"
    entry = problems[0].entry or f"_catalog/{table}/{version}.json"
    items = [(rel, f"{dest}/data" + ("" if i == 0 else f"-{i}"))
             for i, rel in enumerate(_data_folders(store, problems))]
    if fs.get_file_info(loc.path(entry)).type == pafs.FileType.File:
        items.append((entry, f"{dest}/entry.json"))
    fs.create_dir(loc.path(dest), recursive=True)
    lines = [p.line() for p in problems]
    note = {
        "table": table, "version": version, "quarantined": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "problems": lines, "moved": [{"from": a, "to": b} for a, b in items],
        "restore": "check the files, move data/ back to 'from' and entry.json back to its 'from' "
                   "(the entry last), then run `alnm-ray features verify`",
    }
    text = "\n".join(["Quarantined by `alnm-ray features repair`.", "", *lines, "",
                      json.dumps(note, indent=1)]) + "\n"
    _fs.write_bytes(fs, loc.path(dest, REASON_FILE), text.encode("utf-8"))
    for src, dst in items:  # data first, the catalog entry (the commit point) last
        _fs.move_tree(fs, loc.path(src), loc.path(dst))
    return Moved(table, version, dest, tuple(items), tuple(problems))
