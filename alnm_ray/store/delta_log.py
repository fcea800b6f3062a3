"""The store's versions, read from each table's Delta Lake transaction log.

Every stored table is a Delta table (``tables/<table>/``, written and read
through ``deltalake``, the Rust implementation: no JVM).  An alnm-ray version
is one Delta commit whose ``commitInfo`` carries a JSON record under the key
:data:`COMMIT_KEY`: the content-addressed version id, what produced the rows
(params, lineage, counts), the row key and the table's role.  Listing versions
is reading the log (:meth:`deltalake.DeltaTable.history`); nothing else is kept
beside the data.

Commits other tools make are versions too: a compaction (``OPTIMIZE``) or
vacuum keeps the content, so the version before it simply reads the newer,
compacted files (:attr:`VersionInfo.read_version`); a commit that changes rows
without an alnm-ray record (a Spark job, say) is listed as version
``delta-<n>``.  ``table@<n>`` (a Delta version number) names the alnm-ray
version that is current at Delta version ``n`` — time travel.

Nothing in the log is trusted: each record is checked field by field, and the
data files of a version must be plain relative paths that stay inside the
table's folder (:meth:`DeltaLog.files`), so a doctored log cannot make a read
open ``/etc/passwd``.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from alnm_ray.exceptions import ConfigError, StoreDamageError, StoreError
from alnm_ray.store import _fs
from alnm_ray.store._problems import Problem
from alnm_ray.store.versions import (ROLES, SHORT_ID, VERSION_ID_RE, VersionInfo, check_table_name,
                                     default_role)

logger = logging.getLogger(__name__)

#: Folder of the Delta tables, below the store root.
TABLES_DIR = "tables"
#: The Delta table of per-case error rows of every version of every table.
ERRORS_TABLE_DIR = "errors"
#: Key of the alnm-ray record in a commit's ``commitInfo``.
COMMIT_KEY = "alnm_ray"
#: Layout version written into each record (bumped on incompatible change).
RECORD_FORMAT = 2
#: Delta operations that keep a table's rows as they are.
CONTENT_PRESERVING = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES",
                                "UPGRADE PROTOCOL", "ADD CONSTRAINT", "DROP CONSTRAINT",
                                "CREATE CHECKPOINT", "FSCK"})
#: Modes a commit can write a version in.
MODES = ("overwrite", "append", "merge", "restore")
#: A Delta version number in a reference: ``radiomics@12`` (up to five digits; longer digit
#: strings are id prefixes) or ``radiomics@v12``.
DELTA_VERSION_RE = re.compile(r"^(?:v(\d{1,9})|(\d{1,5}))$")
#: Id of a version some other tool committed (no alnm-ray record).
FOREIGN_PREFIX = "delta-"
#: Reads of a log's history before giving up on writers that never pause.
HISTORY_RETRIES = 50


@dataclass(frozen=True)
class Commit:
    """One entry of a table's Delta history."""

    version: int
    operation: str
    timestamp_ms: int
    record: Any


def table_dir(table: str) -> str:
    """The folder of ``table``'s Delta table, relative to the store root."""
    return f"{TABLES_DIR}/{check_table_name(table)}"


class DeltaLog:
    """Versions of the tables of one store, from their Delta logs.

    Args:
        location: The resolved store root.
    """

    def __init__(self, location: _fs.StoreLocation) -> None:
        self.location = location
        self._cache: dict[str, tuple[tuple[str, ...], tuple[list[VersionInfo], list[Problem]]]] = {}

    # --- where -------------------------------------------------------------
    def table_uri(self, rel: str) -> str:
        """The URI ``deltalake`` opens for the table folder ``rel`` (relative to the root)."""
        if self.location.is_local:
            return self.location.path(rel)
        uri = self.location.display(rel)
        if "://" not in uri:  # a pyarrow filesystem object deltalake cannot reach: it would take
            # the path for a local one and write the log beside the data, on this disk
            raise StoreError(
                f"store {self.location.uri!r}: expected a URI deltalake can open (s3://, gs://, "
                "az://, file:// or a local folder) to hold Delta tables; found a path inside a "
                f"{type(self.location.fs).__name__} given as filesystem=. Pass the store as a URI.")
        return uri

    def is_table(self, rel: str) -> bool:
        """Whether ``rel`` holds a Delta table (a ``_delta_log`` with at least one commit)."""
        return bool(self._log_names(rel))

    # --- reading -----------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of the tables with at least one commit, sorted.

        Folders of ``tables/`` whose name cannot name a table are ignored.
        """
        import pyarrow.fs as pafs  # here: the SQL path over a local store never loads pyarrow

        out = []
        for info in _fs.list_dir(self.location.fs, self.location.path(TABLES_DIR)):
            if info.type == pafs.FileType.Directory and valid_table_name(info.base_name) \
                    and self.is_table(f"{TABLES_DIR}/{info.base_name}"):
                out.append(info.base_name)
        return sorted(out)

    def scan(self, table: str | None = None) -> tuple[list[VersionInfo], list[Problem]]:
        """Every version (oldest first) and a :class:`Problem` per unreadable record or log."""
        names = [table] if table is not None else self.tables()
        out: list[VersionInfo] = []
        broken: list[Problem] = []
        for name in names:
            entries, problems = self._table_scan(name)
            out.extend(entries)
            broken.extend(problems)
        return sorted(out, key=lambda v: (v.created, v.table, v.delta_version)), broken

    def entries(self, table: str | None = None) -> list[VersionInfo]:
        """Every version (of ``table`` or of all tables), oldest first.

        Raises:
            StoreDamageError: A table's log or a commit record cannot be read.
        """
        entries, broken = self.scan(table)
        if broken:
            raise StoreDamageError(broken[0].message(self.location.uri))
        return entries

    def get(self, table: str, version: str) -> VersionInfo | None:
        """The newest version of ``table`` with the id ``version``, or ``None``."""
        found = [e for e in self._table_scan(table)[0] if e.version == version]
        return found[-1] if found else None

    def latest(self, table: str) -> VersionInfo | None:
        """The newest version of ``table``, or ``None`` when it has none."""
        entries, broken = self._table_scan(table)
        if not entries and not broken:
            return None
        return self.resolve(table)

    def resolve(self, table: str, version: str | None = None) -> VersionInfo:
        """The version named by an id, a unique id prefix, or a Delta version number.

        Raises:
            StoreError: Unknown table or version, or an ambiguous prefix.
        """
        entries, broken = self._table_scan(table)
        if not entries and not broken:
            known = self.tables()
            from alnm_ray._validation import did_you_mean

            raise StoreError(
                f"table {table!r}: expected a table of the store; it has "
                f"{', '.join(known) if known else 'no tables yet'}.{did_you_mean(table, known)} "
                "List them with `alnm-ray features list`.")
        by_delta = sorted(entries, key=lambda e: e.delta_version)
        newest_broken = max((commit_number(p) for p in broken), default=-1)
        if broken and (version is None or not by_delta) and \
                (not by_delta or newest_broken > by_delta[-1].delta_version):
            raise StoreDamageError(broken[-1].message(self.location.uri).replace(
                ". Run", "; the latest version of the table is therefore unknown. Run", 1))
        if version is None:
            return by_delta[-1]
        exact = [e for e in by_delta if e.version == version]
        if exact:
            return exact[-1]
        number = DELTA_VERSION_RE.match(version)
        if number:
            n = int(number.group(1) or number.group(2))
            current = [e for e in by_delta if e.delta_version <= n]
            if current and n <= by_delta[-1].read_version:
                return replace(current[-1], read_version=n)
            raise StoreError(
                f"version {table}@{version}: expected a Delta version number between "
                f"{by_delta[0].delta_version} and {by_delta[-1].read_version} (or a version id); "
                "found none. List them with `alnm-ray features list`.")
        matches = [e for e in by_delta if e.version.startswith(version)]
        if len({m.version for m in matches}) == 1:
            return matches[-1]
        recent = ", ".join(e.version[:SHORT_ID] for e in by_delta[-8:])
        if not matches:
            raise StoreError(
                f"version {table}@{version}: expected the id (or a unique prefix, or a Delta version "
                f"number) of a version of {table!r}; found none matching. Recent versions: {recent}. "
                "List them with `alnm-ray features list`.")
        raise StoreError(
            f"version {table}@{version}: expected a unique prefix; it matches {len(matches)} "
            f"versions ({', '.join(m.version[:SHORT_ID] for m in matches[:5])}). Give more digits.")

    def files(self, rel: str, read_version: int) -> list[tuple[str, int]]:
        """``(path relative to the store root, size)`` of each data file of a Delta version.

        Raises:
            StoreDamageError: The log cannot be read, or it names a file
                outside the table's folder.
        """
        import pyarrow as pa
        from deltalake import DeltaTable

        try:
            table = DeltaTable(self.table_uri(rel), version=read_version)
            actions = pa.table(table.get_add_actions(flatten=False))
        except Exception as err:  # deltalake raises its own (DeltaError, OSError, ...)
            raise StoreDamageError(_log_problem(rel, read_version, err).message(self.location.uri)) \
                from err
        out = []
        for path, size in zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()):
            if not _fs.is_plain_relpath(path) or path.startswith("_"):
                raise StoreDamageError(Problem(
                    rel.rsplit("/", 1)[-1], f"{FOREIGN_PREFIX}{read_version}", f"{rel}/_delta_log",
                    "escapes", f"expected data file paths inside the table folder; the log names "
                    f"{str(path)[:120]!r}").message(self.location.uri))
            out.append((f"{rel}/{path}", int(size)))
        return out

    # --- internals ---------------------------------------------------------
    def _log_names(self, rel: str) -> tuple[str, ...]:
        try:
            infos = _fs.list_dir(self.location.fs, self.location.path(rel, "_delta_log"))
        except OSError:
            return ()
        return tuple(sorted(i.base_name for i in infos
                            if i.base_name.endswith((".json", ".checkpoint.parquet", "_last_checkpoint"))))

    def history(self, rel: str) -> list[Commit]:
        """The commits of the Delta table ``rel``, oldest first."""
        from deltalake import DeltaTable

        out = []
        for item in _consistent_history(self.table_uri(rel)):
            raw = item.get(COMMIT_KEY)
            try:
                record = json.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                record = _BAD_JSON
            out.append(Commit(int(item["version"]), str(item.get("operation", "")),
                              int(item.get("timestamp") or 0), record))
        return sorted(out, key=lambda c: c.version)

    def _table_scan(self, table: str) -> tuple[list[VersionInfo], list[Problem]]:
        rel = table_dir(table)
        names = self._log_names(rel)
        if not names:
            return [], []
        cached = self._cache.get(table)
        if cached is not None and cached[0] == names:
            return cached[1]
        try:
            commits = self.history(rel)
        except Exception as err:  # a log deltalake cannot read
            result: tuple[list[VersionInfo], list[Problem]] = ([], [_log_problem(rel, -1, err)])
        else:
            result = self._infos(table, rel, commits)
        self._cache[table] = (names, result)
        return result

    def _infos(self, table: str, rel: str, commits: list[Commit]
               ) -> tuple[list[VersionInfo], list[Problem]]:
        out: list[VersionInfo] = []
        broken: list[Problem] = []
        last = commits[-1].version if commits else -1
        content = [c for c in commits if c.record is not None or c.operation not in CONTENT_PRESERVING]
        for i, commit in enumerate(content):
            read_version = content[i + 1].version - 1 if i + 1 < len(content) else last
            try:
                if commit.record is None:
                    out.append(_foreign(table, rel, commit, read_version, self.location))
                else:
                    out.append(record_to_info(commit.record, table, commit.version, read_version,
                                              self.location))
            except StoreDamageError as err:
                broken.append(Problem(table, f"{FOREIGN_PREFIX}{commit.version}",
                                      f"{rel}/_delta_log/{commit.version:020d}.json", "entry",
                                      str(err).split(". Run `alnm-ray", 1)[0],
                                      f"{rel}/_delta_log/{commit.version:020d}.json"))
        return out, broken


def _consistent_history(uri: str) -> list[dict[str, Any]]:
    """``DeltaTable(uri).history()``, newest first, with every commit numbered right.

    ``deltalake`` numbers the commit infos it reads from the version it loaded
    downwards, but reads them up to the log's newest commit: a commit landing
    between the load and the read shifts every number (the oldest become
    negative) — versions would name other versions' data.  The read is kept
    only when the log's newest commit is still the loaded one afterwards.
    """
    from deltalake import DeltaTable

    for attempt in range(HISTORY_RETRIES):
        table = DeltaTable(uri)
        items = table.history()
        table.update_incremental()
        if not items or items[0]["version"] == table.version():
            return items
        time.sleep(0.01 * (attempt + 1))  # another writer is committing: read again
    raise StoreError(
        f"{uri}: expected the Delta log to hold still while its history is read; it changed on each "
        f"of {HISTORY_RETRIES} reads (writers committing without pause). Run the command again when "
        "fewer writers are at work.")


def valid_table_name(name: str) -> bool:
    """Whether ``name`` can name a table (see :func:`~alnm_ray.store.versions.check_table_name`)."""
    try:
        check_table_name(name)
    except ConfigError:
        return False
    return True


def commit_number(problem: Problem) -> int:
    """The Delta commit a problem of an unreadable record is about (huge for a whole log)."""
    tail = problem.version[len(FOREIGN_PREFIX):] if problem.version.startswith(FOREIGN_PREFIX) else ""
    return int(tail) if tail.isdigit() else 10**12  # an unreadable log: newer than anything


def _log_problem(rel: str, version: int, err: BaseException) -> Problem:
    return Problem(rel.rsplit("/", 1)[-1], f"{FOREIGN_PREFIX}{version}" if version >= 0 else "?",
                   f"{rel}/_delta_log", "unreadable",
                   f"expected a readable Delta log; deltalake could not read it "
                   f"({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''})",
                   f"{rel}/_delta_log")


def is_count(value: Any) -> bool:
    """Whether ``value`` is a non-negative integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="microseconds")


def _foreign(table: str, rel: str, commit: Commit, read_version: int,
             location: _fs.StoreLocation) -> VersionInfo:
    """A version some other tool committed: what the log tells of it."""
    return VersionInfo(
        table=table, version=f"{FOREIGN_PREFIX}{commit.version}", created=_iso(commit.timestamp_ms),
        rows=0, cases=0, failures=0, params={"operation": commit.operation}, path=location.display(rel),
        data_dir=rel, role=default_role(table), delta_version=commit.version,
        read_version=read_version, mode="overwrite")


def check_record_fields(record: dict, table: str, bad: Any) -> None:
    """Check the fields every version record has (the Delta commit record and the old catalog entry).

    ``bad(name, expected, found)`` builds the error raised for a wrong field.
    """
    get = lambda name: record.get(name, _MISSING)  # noqa: E731
    try:
        datetime.fromisoformat(get("created"))
    except (TypeError, ValueError):
        raise bad("created", "an ISO-8601 time", get("created")) from None
    for name in ("rows", "cases", "failures"):
        if not is_count(get(name)):
            raise bad(name, "a non-negative integer", get(name))
    key, columns = record.get("key", []), record.get("columns", [])
    if not (isinstance(key, list) and all(isinstance(k, str) for k in key)):
        raise bad("key", "a list of column names", key)
    if not (isinstance(columns, list) and all(
            isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c) for c in columns)):
        raise bad("columns", "a list of [name, type] pairs", columns)
    for name in ("params", "lineage", "counts", "file_sizes", "file_sha256"):
        if not isinstance(record.get(name) or {}, dict):
            raise bad(name, "a JSON object", record.get(name))
    parent = record.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise bad("parent", "a version id or null", parent)
    role = record.get("role") or default_role(table)
    if role not in ROLES:
        raise bad("role", f"one of {', '.join(ROLES)}", role)


def record_to_info(record: Any, table: str, delta_version: int, read_version: int,
                   location: _fs.StoreLocation) -> VersionInfo:
    """Check a commit's alnm-ray record field by field and turn it into a :class:`VersionInfo`.

    Raises:
        StoreDamageError: A field is missing or wrong; the message names the
            commit, the field, what was expected and found, and the fix.
    """
    rel = table_dir(table)

    def bad(name: str, expected: str, found: Any) -> StoreDamageError:
        shown = "(missing)" if found is _MISSING else repr(found)[:80]
        return StoreDamageError(
            f"commit {delta_version} of {rel} ({table}): expected {expected} in field {name!r} of its "
            f"alnm-ray record; found {shown}. Run `alnm-ray features verify --store {location.uri}` "
            "to list every problem (a commit written by hand or another tool cannot name a version).")

    if record is _BAD_JSON or not isinstance(record, dict):
        raise bad("(record)", "a JSON object", "unreadable JSON" if record is _BAD_JSON else
                  type(record).__name__)
    get = lambda name: record.get(name, _MISSING)  # noqa: E731
    if get("table") != table:
        raise bad("table", f"{table!r} (the table folder it lies in)", get("table"))
    version = get("version")
    if not isinstance(version, str) or not VERSION_ID_RE.match(version):
        raise bad("version", "a version id (letters, digits, '_', '-')", version)
    check_record_fields(record, table, bad)
    digests = record.get("file_sha256") or {}
    if not all(_fs.is_plain_relpath(k) and isinstance(v, str) and _SHA256.match(v)
               for k, v in digests.items()):
        raise bad("file_sha256", "{file name: 64 hex digits}", digests)
    created, key, columns, parent = record["created"], record.get("key", []), record.get("columns", []), \
        record.get("parent")
    role = record.get("role") or default_role(table)
    mode = record.get("mode", "overwrite")
    if mode not in MODES:
        raise bad("mode", f"one of {', '.join(MODES)}", mode)
    return VersionInfo(
        table=table, version=version, created=created, rows=record["rows"], cases=record["cases"],
        failures=record["failures"], params=record.get("params") or {},
        lineage=record.get("lineage") or {}, parent=parent, counts=record.get("counts") or {},
        path=location.display(rel), data_dir=rel, key=tuple(key),
        columns=tuple((c[0], c[1]) for c in columns), errors_file=None,
        package_version=str(record.get("package_version", "")),
        file_sha256={posixpath.basename(k): v for k, v in digests.items()}, role=role,
        delta_version=delta_version, read_version=read_version, mode=mode)


_MISSING = object()
_BAD_JSON = object()
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
