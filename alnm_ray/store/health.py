"""A store that checks itself: every version's files against its Delta log.

Two depths of check:

* **quick** (:func:`check_version` with ``deep=False``), done before any read:
  every file the version's Delta snapshot names stays inside the table
  folder, exists and has the size the log records.  A few ``stat`` calls.
* **deep** (``deep=True``), done by ``alnm-ray features verify``: the quick
  check, plus the SHA-256 of each file alnm-ray wrote (recorded in the commit
  that added it), plus each file's columns; files written by a merge or a
  compaction (no recorded checksum) are decoded in full instead.

Example:
    >>> import pyarrow as pa, tempfile
    >>> from alnm_ray.store import FeatureStore
    >>> store = FeatureStore(tempfile.mkdtemp())
    >>> _ = store.write_version("clinical", pa.table({"patient_id": ["p1"], "age": [51.0]}))
    >>> verify(store).ok
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from alnm_ray.exceptions import StoreDamageError
from alnm_ray.store import _fs
from alnm_ray.store._problems import Problem
from alnm_ray.store.versions import VersionInfo

if TYPE_CHECKING:
    from alnm_ray.store.feature_store import FeatureStore

__all__ = ["Problem", "VerifyReport", "check_version", "verify"]


@dataclass
class VerifyReport:
    """What :func:`verify` found.

    Attributes:
        versions: Number of versions checked.
        problems: One :class:`Problem` per damaged record or file.
        quarantined: ``table@version`` of versions ``features repair`` set
            aside (their files are in ``_quarantine/``; not checked again).
    """

    versions: int = 0
    problems: list[Problem] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    @property
    def damaged(self) -> list[str]:
        """``table@version`` of each damaged version, sorted, once each."""
        return sorted({p.short for p in self.problems})


def _entry_rel(info: VersionInfo) -> str:
    return f"{info.data_dir}/_delta_log/{max(info.delta_version, 0):020d}.json"


def check_version(store: FeatureStore, info: VersionInfo, *, deep: bool = False) -> list[Problem]:
    """The problems of one version's files (empty when healthy).

    Args:
        store: The store.
        info: The version (already checked field by field).
        deep: Also compare SHA-256 and schemas (reads every byte).

    Returns:
        One :class:`Problem` per damaged file, at most one per file.
    """
    location = store.location
    fs, out = location.fs, []
    try:
        info = store.with_files(info)
    except StoreDamageError as err:
        return [Problem(info.table, info.version, f"{info.data_dir}/_delta_log", "escapes",
                        str(err).split(". Run `alnm-ray", 1)[0].split(": ", 1)[-1], _entry_rel(info))]
    for name in info.files:
        rel = f"{info.data_dir}/{name}"

        def problem(kind: str, detail: str, rel: str = rel) -> Problem:
            return Problem(info.table, info.version, rel, kind, detail, _entry_rel(info))

        try:
            path = _fs.inside(location, rel, f"file {rel!r} of {info.short}")
        except StoreDamageError as err:
            out.append(problem("escapes", str(err).split(". Run", 1)[0]))
            continue
        try:
            found = fs.get_file_info(path)
        except OSError as err:
            out.append(problem("unreadable", f"expected a readable file; could not stat it ({err})"))
            continue
        if found.type != pafs.FileType.File:
            what = "a folder" if found.type == pafs.FileType.Directory else "nothing"
            size = info.file_sizes.get(name)
            out.append(problem("missing", "expected the file"
                               + (f" ({size} bytes)" if size is not None else "") + f"; found {what}"))
            continue
        size = info.file_sizes.get(name)
        if size is not None and found.size != size:
            out.append(problem("size", f"expected {size} bytes (as recorded); found {found.size}"))
            continue
        digest = info.file_sha256.get(name)
        try:
            if deep and digest is not None:
                _, actual = _fs.file_digest(fs, path)
                if actual != digest:
                    out.append(problem("checksum", f"expected SHA-256 {digest[:16]}… (as recorded); "
                                                   f"found {actual[:16]}… (the file was altered)"))
                    continue
            if deep or size is None:
                detail = _check_parquet(fs, path, info if name in info.files else None,
                                        decode=deep and digest is None)
                if detail:
                    out.append(problem("schema" if detail.startswith("expected columns") else
                                       "unreadable", detail))
        except (OSError, pa.ArrowException) as err:
            out.append(problem("unreadable", f"expected a readable Parquet file; reading it failed "
                                             f"({type(err).__name__}: {str(err)[:120]})"))
    return out


def _check_parquet(fs: pafs.FileSystem, path: str, info: VersionInfo | None, *, decode: bool) -> str:
    """Empty when ``path`` is a readable Parquet file with ``info``'s columns, else the detail."""
    with fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        columns = [(f.name, str(f.type)) for f in parquet.schema_arrow]
        if info is not None and info.columns and [c[0] for c in columns] != \
                [c[0] for c in info.columns]:
            expected = ", ".join(f"{n}:{t}" for n, t in info.columns[:4])
            found = ", ".join(f"{n}:{t}" for n, t in columns[:4])
            return f"expected columns {expected}… (as recorded); found {found}…"
        if decode:
            for group in range(parquet.num_row_groups):
                parquet.read_row_group(group)
    return ""


def verify(store: FeatureStore) -> VerifyReport:
    """Check every version of ``store`` in depth (entries, files, sizes, SHA-256, schemas).

    Args:
        store: The store; it must be one (see :meth:`FeatureStore.check_is_store`).

    Returns:
        The :class:`VerifyReport`; ``report.ok`` when nothing is wrong.

    Raises:
        StoreError: The path is not a store, or it cannot be listed.
    """
    store.check_is_store()
    entries, broken = store.scan()
    aside = quarantined_versions(store)
    report = VerifyReport(versions=len(entries) + len(broken),
                          problems=[p for p in broken if (p.table, p.version) not in aside])
    report.quarantined = sorted(f"{t}@{v}" for t, v in aside)
    for info in entries:
        if (info.table, info.version) in aside and info.delta_version != _latest_delta(entries, info):
            continue
        report.problems += store._io(lambda i=info: check_version(store, i, deep=True),
                                     f"verify {info.short}")
    report.problems.sort(key=lambda p: (p.table, p.version, p.file))
    return report


#: The list of versions ``features repair`` set aside, below the store root (JSON lines).
QUARANTINE_LIST = "_quarantine/versions.jsonl"


def _latest_delta(entries: list[VersionInfo], info: VersionInfo) -> int:
    return max(e.delta_version for e in entries if e.table == info.table)


def quarantined_versions(store: FeatureStore) -> set[tuple[str, str]]:
    """``(table, version)`` of the versions ``features repair`` set aside.

    A Delta log keeps every commit, so a version whose files were moved into
    ``_quarantine/`` stays in the log; repair lists it here and :func:`verify`
    no longer reports it (unless it is, still, its table's latest).  Delete a
    line to have a version checked again after putting its files back.
    """
    import json

    fs = store.location.fs
    path = store.location.path(QUARANTINE_LIST)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return set()
    out = set()
    for line in _fs.read_bytes(fs, path).decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("table"), str) and \
                isinstance(item.get("version"), str):
            out.add((item["table"], item["version"]))
    return out
