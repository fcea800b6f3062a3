"""The versioned feature store: one Delta Lake table per stored table.

One table per feature set (``radiomics``, ``deep``, ``clinical``,
``cv_results``, ``predictions``, imported tables…).  Layout below the store
root::

    _store.json            marks the folder as a store (layout 2: Delta Lake)
    tables/<table>/        a Delta table: _delta_log/ and part-*.parquet
    errors/                a Delta table of per-case error rows (table, version, …)
    _cache/                per-case checkpoints of running extractions

Every alnm-ray version is one Delta commit (:mod:`alnm_ray.store.delta_log`):
a whole new content (``overwrite``), new rows (``append``) or rows replaced and
removed by key (``merge``), so an incremental run writes only what changed and
earlier versions stay readable by time travel.  Any Delta reader (Spark,
polars, DuckDB, pandas through ``deltalake``) reads the tables.

Atomicity: data files are written first, then one commit to the Delta log
makes them visible (Delta's optimistic concurrency orders concurrent writers;
a commit that loses a race is retried on the new state).  A crash before the
commit leaves unreferenced files that :meth:`FeatureStore.cleanup` removes.
Stores of the old layout (``_catalog/``) are refused with the command that
converts them (``alnm-ray features migrate``).
"""


from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import socket
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs

from alnm_ray._validation import did_you_mean
from alnm_ray._version import __version__
from alnm_ray.constants import ERROR_COLUMNS
from alnm_ray.exceptions import ConfigError, SchemaMismatchError, StoreDamageError, StoreError
from alnm_ray.store import _fs
from alnm_ray.store._problems import Problem
from alnm_ray.store._writer import (ROW_GROUP_ROWS, ROWS_PER_FILE, WrittenData, _check_keys,
                                    as_table, normalize_errors, sort_order, write_parts)
from alnm_ray.store.delta_log import (COMMIT_KEY, ERRORS_TABLE_DIR, RECORD_FORMAT, TABLES_DIR,
                                      DeltaLog, valid_table_name, table_dir)
from alnm_ray.store.versions import (ROLE_FEATURE, SHORT_ID, VersionInfo, canonical_json, check_role,
                                     check_table_name, check_version_id, content_hash, default_role,
                                     split_ref, utc_now)

if TYPE_CHECKING:
    import pyarrow.dataset as pads

logger = logging.getLogger(__name__)

MARKER = "_store.json"
#: Layout written into ``_store.json`` (1: Parquet folders and ``_catalog/``; 2: Delta Lake).
STORE_FORMAT = 2
#: The catalog folder of the old layout; a store holding it must be migrated.
LEGACY_CATALOG_DIR = "_catalog"
#: Table properties of every Delta table the store creates: commits stay in the log for
#: as long as the data does (pinned versions must stay readable), files removed by a
#: commit are kept a week before ``features vacuum`` may delete them.
TABLE_CONFIGURATION = {"delta.enableExpiredLogCleanup": "false",
                       "delta.logRetentionDuration": "interval 36500 days",
                       "delta.deletedFileRetentionDuration": "interval 7 days"}
#: How often a commit that lost a race with another writer is retried.
COMMIT_RETRIES = 8
#: Lock file of a table's first commit on a local store (see :meth:`FeatureStore._creating`).
CREATE_LOCK = ".alnm-ray-create.lock"
#: Seconds after which a creation lock is taken to be a crashed writer's.
CREATE_LOCK_STALE_S = 60.0
#: Leftover temporary/orphan folders younger than this are left alone by
#: :meth:`FeatureStore.cleanup`: they may belong to a writer still at work.
STALE_AFTER_S = 3600.0
#: Columns prepended to error rows by :meth:`FeatureStore.read_errors`.
ERROR_ORIGIN = ("table", "version")
#: What pyarrow says (as an ``OSError`` without errno) of a Parquet file it cannot decode.
_PARQUET_DAMAGE = re.compile(r"thrift|Parquet|page header|magic bytes", re.IGNORECASE)


def joined_keys(table: pa.Table, keys: tuple[str, ...]) -> pa.Array:
    """One string per row: the key columns' values joined by NUL (for set operations on keys)."""
    import pyarrow.compute as pc

    cols = [pc.cast(table.column(k), pa.string()).combine_chunks() for k in keys]
    out = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "\x00")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _jsonable(value: Any, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a dict (JSON-like); got {type(value).__name__}.")
    try:
        return json.loads(canonical_json(value))
    except ConfigError as err:
        raise ConfigError(f"{name}: {err}") from err


class FeatureStore:
    """A folder (or object-store prefix) of versioned Parquet tables.

    Args:
        uri: Local folder, ``file://`` URI or any :mod:`pyarrow.fs` URI
            (``s3://bucket/prefix``, ``gs://…``).  Created on the first write.
        filesystem: Use this :class:`pyarrow.fs.FileSystem` instead of the
            one the URI names (``uri`` is then a path inside it).
        row_group_rows: Rows per Parquet row group (and per hashing chunk).
        rows_per_file: Rows per data file.

    Example:
        >>> import pyarrow as pa, tempfile
        >>> store = FeatureStore(tempfile.mkdtemp())
        >>> info = store.write_version("clinical", pa.table({"patient_id": ["p1"], "age": [51.0]}))
        >>> store.read("clinical").num_rows, info.rows
        (1, 1)
    """

    def __init__(self, uri: str | os.PathLike[str], *, filesystem: pafs.FileSystem | None = None,
                 row_group_rows: int = ROW_GROUP_ROWS, rows_per_file: int = ROWS_PER_FILE) -> None:
        self.location = _fs.resolve_location(uri, filesystem)
        self.log = DeltaLog(self.location)
        if row_group_rows < 1 or rows_per_file < 1:
            raise ConfigError(f"row_group_rows/rows_per_file: expected >= 1; got "
                              f"{row_group_rows}/{rows_per_file}.")
        self.row_group_rows = int(row_group_rows)
        self.rows_per_file = int(rows_per_file)

    @property
    def uri(self) -> str:
        """The store's path or URI."""
        return self.location.uri

    def __repr__(self) -> str:
        return f"FeatureStore({self.uri!r})"

    # --- reading -----------------------------------------------------------
    def exists(self) -> bool:
        """Whether the store's root folder exists."""
        return self._io(lambda: _fs.is_dir(self.location.fs, self.location.root), "read the store")

    def check_is_store(self) -> None:
        """Refuse a path that is not an alnm-ray store.

        A store is a folder holding ``_store.json``, or an empty folder (a
        store nothing has been written to yet).

        Raises:
            StoreError: The path does not exist, is a file, is a folder of
                something else (``--store /etc``), or is a store of the old
                layout (the message gives the ``features migrate`` command).
        """
        fs = self.location.fs

        def look() -> tuple[pafs.FileType, list[str]]:
            kind = fs.get_file_info(self.location.root).type
            names = [i.base_name for i in _fs.list_dir(fs, self.location.root)] \
                if kind == pafs.FileType.Directory else []
            return kind, names

        kind, names = self._io(look, "read the store")
        if kind == pafs.FileType.NotFound and self.location.is_local:
            raise StoreError(
                f"store {self.uri!r}: expected an alnm-ray store folder; it does not exist. "
                "Check --store (extract or `features import` create it).")
        if kind == pafs.FileType.File:
            raise StoreError(
                f"store {self.uri!r}: expected an alnm-ray store folder; found a file. Check "
                "--store: give the folder extract or `features import` wrote to.")
        visible = [n for n in names if not n.startswith(".")]
        if LEGACY_CATALOG_DIR in names:
            raise StoreError(
                f"store {self.uri!r}: expected a store of the current layout (Delta Lake tables); "
                f"found the old layout ({LEGACY_CATALOG_DIR}/ and Parquet version folders). Convert "
                f"it once with `alnm-ray features migrate {self.uri}` (every version and id is kept).")
        if visible and MARKER not in names:
            raise StoreError(
                f"store {self.uri!r}: expected an alnm-ray store folder (one holding {MARKER} "
                f"and {TABLES_DIR}/); found a folder of {len(visible)} other entries and no "
                f"{MARKER}. Check --store: give the folder extract, embed or `features import` "
                "wrote to (a new store is created by those commands, in a new or empty folder).")

    def tables(self, role: str | None = None) -> list[str]:
        """Names of the tables with at least one version, sorted.

        Args:
            role: Only the tables whose latest version has this role
                (``feature``, ``output``, ``dictionary``; see :data:`~alnm_ray.store.versions.ROLES`).

        Example:
            >>> import pyarrow as pa, tempfile
            >>> store = FeatureStore(tempfile.mkdtemp())
            >>> _ = store.write_version("clinical", pa.table({"patient_id": ["p1"], "age": [51.0]}))
            >>> _ = store.write_version("scores", pa.table({"auc": [0.7]}), role="output")
            >>> store.tables(), store.tables(role="output")
            (['clinical', 'scores'], ['scores'])
        """
        names = self._io(self.log.tables, "list the tables")
        if role is None:
            return names
        check_role(role)
        return [t for t in names if (info := self.latest(t)) is not None and info.role == role]

    def feature_tables(self) -> list[str]:
        """Tables whose latest version holds features to model (role ``feature``), sorted."""
        return self.tables(role=ROLE_FEATURE)

    def versions(self, table: str | None = None) -> list[VersionInfo]:
        """Every version (of ``table`` or of all tables), oldest first."""
        if table is not None:
            check_table_name(table)
        return self._io(lambda: self.log.entries(table), "read the Delta logs")

    def scan(self, table: str | None = None) -> tuple[list[VersionInfo], list[Problem]]:
        """Every readable version (oldest first) and a :class:`Problem` per unreadable log or record."""
        if table is not None:
            check_table_name(table)
        return self._io(lambda: self.log.scan(table), "read the Delta logs")

    def latest(self, table: str) -> VersionInfo | None:
        """The newest version of ``table``, or ``None`` when it has none."""
        check_table_name(table)
        return self._io(lambda: self.log.latest(table), "read the Delta log")

    def resolve(self, ref: str) -> VersionInfo:
        """The version named by ``"table"`` (latest), ``"table@<id or unique prefix>"`` or
        ``"table@<Delta version number>"`` (time travel: the version current at that commit).

        Raises:
            StoreError: Unknown table or version, ambiguous prefix.
        """
        table, version = split_ref(ref)
        check_table_name(table)
        return self._io(lambda: self.log.resolve(table, version or None), "read the Delta log")

    def table_uri(self, table: str) -> str:
        """Where ``table``'s Delta table lies (what ``deltalake``, polars or Spark open)."""
        return self.log.table_uri(table_dir(table))

    def errors_uri(self) -> str:
        """Where the Delta table of per-case error rows lies."""
        return self.log.table_uri(ERRORS_TABLE_DIR)

    def with_files(self, info: VersionInfo) -> VersionInfo:
        """``info`` with its data files (relative to :attr:`VersionInfo.data_dir`) and sizes.

        The SHA-256 of each file alnm-ray wrote itself comes from the commit
        that added it (files a merge or compaction wrote have none).

        Raises:
            StoreDamageError: The log names a file outside the table folder.
        """
        if info.files:
            return info
        found = self._io(lambda: self.log.files(info.data_dir, info.read_version),
                         f"read the Delta log of {info.short}")
        names = tuple(rel[len(info.data_dir) + 1:] for rel, _ in found)
        digests: dict[str, str] = {}
        for other in self._io(lambda: self.log.scan(info.table)[0], "read the Delta log"):
            if other.delta_version <= info.read_version:
                digests.update(other.file_sha256)
        return replace(info, files=names, file_sizes={n: size for n, (_, size) in zip(names, found)},
                       file_sha256={n: digests[n] for n in names if n in digests})

    def dataset(self, info: VersionInfo) -> pads.Dataset:
        """A :mod:`pyarrow.dataset` over one version (its Delta snapshot).

        The files are checked first (inside the table folder, present, of
        their logged size; see :func:`alnm_ray.store.health.check_version`).

        Raises:
            StoreDamageError: A file is missing, altered, unreadable or
                outside the store (the message names table, version and file).
        """
        from alnm_ray.store.health import check_version

        problems = self._io(lambda: check_version(self, info), f"open {info.short}")
        if problems:
            raise StoreDamageError(problems[0].message(self.uri))
        return self._io(lambda: self._damage(lambda: self._delta(info).to_pyarrow_dataset(), info),
                        f"open {info.short}")

    def _delta(self, info: VersionInfo) -> Any:
        from deltalake import DeltaTable

        return DeltaTable(self.log.table_uri(info.data_dir), version=info.read_version)

    def read(self, table: str, version: str | None = None,
             columns: list[str] | None = None) -> pa.Table:
        """Read a version of a table (the latest by default).

        Args:
            table: Table name, or ``"table@version"``.
            version: Version id, unique prefix or Delta version number;
                ``None`` for the latest.
            columns: Columns to read (all by default).

        Returns:
            The rows; tables with a key come sorted by ``patient_id`` then
            the rest of the key.

        Raises:
            StoreError: Unknown table/version or unreadable files.
            SchemaMismatchError: A requested column does not exist.
        """
        info = self.resolve(table if version is None else f"{split_ref(table)[0]}@{version}")
        names = info.column_names
        if columns is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise SchemaMismatchError(
                    f"{info.short}: expected column(s) {missing[:5]} to exist; it has "
                    f"{len(names)} columns ({', '.join(names[:8])}…)."
                    f"{did_you_mean(missing[0], names)} Check the names with "
                    f"`alnm-ray features show {info.table}`."
                )
        order = [k for k in sort_order(info.key) if columns is None or k in columns]
        data = self._io(lambda: self._damage(lambda: self.dataset(info).to_table(columns=columns),
                                             info), f"read {info.short}")
        if order and data.num_rows:
            data = data.sort_by([(k, "ascending") for k in order])
        if names and columns is None and data.schema.names != names:  # a foreign commit may reorder
            data = data.select([n for n in names if n in data.schema.names])
        return data

    def read_errors(self, table: str | None = None, version: str | None = None) -> pa.Table:
        """Per-case error rows, with ``table`` and ``version`` columns first.

        Error rows live in their own Delta table (``errors/``), one set per
        version, never beside the data files.

        Args:
            table: A table (or ``"table@version"``); ``None`` for the latest
                version of every table.
            version: Version id or prefix (latest by default).

        Returns:
            ``table, version, stage, cohort, center, patient_id, sequence,
            reader, error_type, message`` rows (zero rows when none).
        """
        if table is None:
            infos = [i for i in (self.latest(t) for t in self.tables()) if i is not None]
        else:
            infos = [self.resolve(table if version is None else f"{split_ref(table)[0]}@{version}")]
        wanted = {(i.table, i.version) for i in infos if i.failures}
        empty = pa.table({c: pa.array([], pa.string()) for c in (*ERROR_ORIGIN, *ERROR_COLUMNS)})
        if not wanted:
            return empty
        rows = self._read_error_table()
        if rows is None:
            return empty
        import pyarrow.compute as pc

        pairs = [f"{t}\x00{v}" for t, v in wanted]
        joined = pc.binary_join_element_wise(rows.column("table"), rows.column("version"), "\x00")
        rows = rows.filter(pc.is_in(joined, pa.array(pairs)))
        extra = [c for c in rows.schema.names if c not in (*ERROR_ORIGIN, *ERROR_COLUMNS)]
        return rows.select([*ERROR_ORIGIN, *ERROR_COLUMNS, *extra])

    def _read_error_table(self) -> pa.Table | None:
        if not self.log.is_table(ERRORS_TABLE_DIR):
            return None
        from deltalake import DeltaTable

        def read() -> pa.Table:
            try:
                return DeltaTable(self.errors_uri()).to_pyarrow_table()
            except (pa.ArrowInvalid, OSError):
                raise
            except Exception as err:  # deltalake's own errors
                raise StoreDamageError(Problem(
                    ERRORS_TABLE_DIR, "-", f"{ERRORS_TABLE_DIR}/_delta_log", "unreadable",
                    f"expected the readable Delta table of error rows; deltalake could not read it "
                    f"({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''})",
                ).message(self.uri)) from err

        return self._io(read, "read the error rows")

    # --- writing -----------------------------------------------------------
    def write_version(self, table: str, data: Any, *, version_id: str | None = None,
                      params: dict | None = None, lineage: dict | None = None,
                      parent: str | None = None, errors: Any = None, counts: dict | None = None,
                      key: tuple[str, ...] | list[str] | None = None,
                      role: str | None = None, changed: Any = None,
                      created: str | None = None) -> VersionInfo:
        """Commit a new version of ``table``: its full content, written as what changed.

        Without ``changed`` the version replaces the table's content (a Delta
        ``overwrite``; earlier versions stay readable).  With ``changed`` — a
        boolean per row of ``data`` marking the rows that are new or differ
        from the latest version — only those rows are written: appended when
        none of their keys exists yet, else merged by key, and rows of the
        latest version whose key ``data`` no longer has are deleted.  Either
        way the new version's content is exactly ``data``.

        Args:
            table: Table name (lower-case identifier; not ``errors``/``catalog``).
            data: pyarrow Table, pandas DataFrame, RecordBatchReader, or an
                iterable of batches (streamed to disk; ``overwrite`` only).
            version_id: The content address computed by the caller; ``None``
                uses a hash of the data (schema and rows).
            params: What produced the data (JSON-like dict).
            lineage: Where it came from, e.g. ``{"manifest": path,
                "manifest_sha256": …}``.
            parent: Id (or unique prefix) of the version this one extends.
            errors: Per-case error rows (``constants.ERROR_COLUMNS``).
            counts: Work counters, e.g. ``{"computed": 3, "cached": 37}``.
            key: Columns identifying a row (checked non-null and unique,
                rows sorted by them); default ``constants.CASE_KEY`` when
                all its columns are present, else none.
            role: What the table holds (``feature``, ``output``, ``dictionary``);
                recorded with the version.  ``None``: the table's usual role
                (:func:`~alnm_ray.store.versions.default_role`).
            changed: Boolean mask over the rows of ``data`` (see above), or
                ``None`` to overwrite.  Ignored (the table is overwritten) when
                the table is new, its latest version has other columns or
                another key, or no ``version_id`` is given.
            created: When the version was made (ISO-8601), for migrations
                that keep the original dates; ``None``: now.

        Returns:
            The committed :class:`VersionInfo`; when ``version_id`` already
            exists, the existing one (nothing is written).

        Raises:
            StoreError: The store cannot be written (the message names the
                path and the fix: permissions, disk full, not a folder).
            SchemaMismatchError: Bad key or error columns.
            ConfigError: Bad table name, version id, params.
        """
        check_table_name(table)
        role = check_role(role) if role is not None else default_role(table)
        self._refuse_legacy()
        if version_id is not None:
            check_version_id(version_id)
            existing = self._io(lambda: self.log.get(table, version_id), "read the Delta log")
            if existing is not None:
                logger.info("%s already in the store; nothing written", existing.short)
                return existing
        record: dict[str, Any] = {
            "params": _jsonable(params, "params"), "lineage": _jsonable(lineage, "lineage"),
            "counts": _jsonable(counts, "counts"),
            "parent": self.resolve(f"{table}@{parent}").version if parent else None,
        }
        if created is not None:
            record["_created"] = created
        error_rows = normalize_errors(errors)
        action = f"write a version of {table!r}"
        self._io(self._prepare, action)
        latest = self.latest(table)
        plan = None
        if changed is not None and version_id is not None and latest is not None:
            plan = self._incremental_plan(latest, data, changed, key)
        if plan is not None and latest is not None:
            info = self._write_changes(table, plan, version_id or "", record, error_rows, role, latest)
            if info is not None:  # always, with the whole content to fall back on
                return info
        return self._write_whole(table, data, version_id, record, error_rows, role, key)

    def _base_record(self, table: str, vid: str, role: str, mode: str, error_rows: pa.Table | None,
                     schema: pa.Schema, key: tuple[str, ...], rows: int, cases: int) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT, "table": table, "version": vid, "created": utc_now(),
            "rows": rows, "cases": cases, "failures": 0 if error_rows is None else error_rows.num_rows,
            "key": list(key), "columns": [[f.name, str(f.type)] for f in schema],
            "package_version": __version__, "pyarrow_version": pa.__version__, "role": role,
            "mode": mode, "writer": {"host": socket.gethostname(), "pid": os.getpid()},
        }

    def _write_whole(self, table: str, data: Any, version_id: str | None, record: dict[str, Any],
                     error_rows: pa.Table | None, role: str, key: Any) -> VersionInfo:
        fs, action = self.location.fs, f"write a version of {table!r}"
        folder = self.location.path(table_dir(table))
        prefix = f"part-{uuid.uuid4().hex[:16]}"
        new_folder = self._io(lambda: fs.get_file_info(folder).type == pafs.FileType.NotFound, action)
        self._io(lambda: fs.create_dir(folder, recursive=True), action)
        written: WrittenData | None = None
        try:
            written = self._io(lambda: write_parts(
                fs, folder, data, key=tuple(key) if key is not None else None,
                row_group_rows=self.row_group_rows, rows_per_file=self.rows_per_file, prefix=prefix),
                action)
            vid = version_id or content_hash({"table": table, "data": written.data_hash})
            existing = self._io(lambda: self.log.get(table, vid), "read the Delta log")
            if existing is not None:
                self._remove_files(folder, written.files)
                return existing
            digests = self._io(lambda: {n: _fs.file_digest(fs, f"{folder}/{n}")
                                        for n in written.files}, action)
            record.update(self._base_record(table, vid, role, "overwrite", error_rows, written.schema,
                                            written.key, written.rows, written.cases))
            if "_created" in record:
                record["created"] = record.pop("_created")
            record.update({"data_sha256": written.data_hash,
                           "file_sha256": {n: d[1] for n, d in digests.items()}})
            self._write_errors(table, vid, error_rows)
            adds = [(n, digests[n][0], rows) for n, rows in zip(written.files, written.file_rows)]
            self._commit_adds(table, adds, written.schema, "overwrite", record)
        except BaseException:
            try:  # the files written so far, also when the data stream itself failed
                self._remove_files(folder, written.files if written is not None else sorted(
                    i.base_name for i in _fs.list_dir(fs, folder) if i.base_name.startswith(prefix)))
                if new_folder and not _fs.list_dir(fs, folder):  # a failed first write leaves nothing
                    fs.delete_dir(folder)
            except OSError:  # the original error matters more; cleanup() retries later
                logger.warning("could not remove the files of a failed write in %s", folder)
            raise
        return self._committed(table, vid)

    def _committed(self, table: str, vid: str) -> VersionInfo:
        info = self._io(lambda: self.log.get(table, vid), "read the Delta log")
        if info is None:  # pragma: no cover - the commit just succeeded
            raise StoreError(f"table {table!r}: the commit of version {vid[:SHORT_ID]} is not in its "
                             "Delta log after committing. Run `alnm-ray features verify`.")
        logger.info("committed %s (%s, %d rows, %d failures)", info.short, info.mode, info.rows,
                    info.failures)
        return info

    def _remove_files(self, folder: str, names: list[str]) -> None:
        for name in names:
            try:
                self.location.fs.delete_file(f"{folder}/{name}")
            except FileNotFoundError:
                pass

    def _commit_adds(self, table: str, adds: list[tuple[str, int, int]], schema: pa.Schema,
                     mode: str, record: dict[str, Any]) -> None:
        """Commit files written by :func:`write_parts` (``overwrite`` or ``append``)."""
        from deltalake import CommitProperties, DeltaTable, Schema
        from deltalake.exceptions import CommitFailedError
        from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

        now = int(time.time() * 1000)
        actions: list[AddAction | RemoveAction] = [
            AddAction(name, size, {}, now, True, json.dumps({"numRecords": rows}))
            for name, size, rows in adds]
        record["write_token"] = uuid.uuid4().hex  # finds this commit in the log again
        props = CommitProperties(custom_metadata={COMMIT_KEY: json.dumps(record, sort_keys=True)})
        rel = table_dir(table)
        uri = self.log.table_uri(rel)
        for attempt in range(COMMIT_RETRIES):
            try:
                if not self.log.is_table(rel) and self._creating(rel):
                    try:
                        create_table_with_add_actions(uri, Schema.from_arrow(schema),
                                                      [a for a in actions if isinstance(a, AddAction)],
                                                      mode="overwrite", configuration=TABLE_CONFIGURATION,
                                                      commit_properties=props)
                    finally:
                        self._created(rel)
                else:
                    DeltaTable(uri).create_write_transaction(actions, mode=mode, schema=schema,
                                                             commit_properties=props)
                if mode != "overwrite" or self._landed_whole(rel, record["write_token"],
                                                             [name for name, _, _ in adds]):
                    return
                # two writers created the table at once and this one's commit landed on top of the
                # other's files (a create that retried as a later version): overwrite again on the state
                logger.info("%s: the commit of %s kept another writer's files; committing it again",
                            table, record["version"][:SHORT_ID])
            except CommitFailedError:
                if attempt == COMMIT_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))  # another writer won the race: retry on its state
            except Exception as err:
                if isinstance(err, (OSError, StoreError)):
                    raise
                raise StoreError(
                    f"table {table!r}: expected deltalake to commit {len(adds)} file(s) of version "
                    f"{record['version'][:SHORT_ID]}; it refused ({type(err).__name__}: "
                    f"{str(err).splitlines()[0][:200] if str(err) else ''}). Run `alnm-ray features "
                    f"verify --store {self.uri}`; when the table was changed by another tool, check "
                    "its Delta log.") from err

    def _creating(self, rel: str) -> bool:
        """Claim the creation of the table ``rel``; False once another writer has created it.

        Two writers creating one table at once would otherwise both commit a CREATE, the later
        one landing as version 1 on top of the earlier one's files.  On a local store an
        exclusive lock file lets one create it while the others wait for its log (a lock older
        than :data:`CREATE_LOCK_STALE_S` belongs to a crashed writer and is taken over); on an
        object store the commit is checked afterwards (:meth:`_landed_whole`).
        """
        if not self.location.is_local:
            return True
        lock = self.location.path(rel, CREATE_LOCK)
        deadline = time.monotonic() + CREATE_LOCK_STALE_S
        while True:
            try:
                os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                if not self.log.is_table(rel):
                    return True
                self._created(rel)  # created meanwhile: write on top of it
                return False
            if self.log.is_table(rel):
                return False
            if time.monotonic() > deadline:  # a writer died holding the lock
                self._created(rel)
                deadline = time.monotonic() + CREATE_LOCK_STALE_S
            time.sleep(0.02)

    def _created(self, rel: str) -> None:
        if self.location.is_local:
            try:
                os.unlink(self.location.path(rel, CREATE_LOCK))
            except FileNotFoundError:
                pass

    def _landed_whole(self, rel: str, token: str, names: list[str]) -> bool:
        """Whether the commit carrying ``token`` holds exactly the files ``names`` (an overwrite)."""
        from deltalake import DeltaTable

        for commit in reversed(self.log.history(rel)):  # newest first
            if isinstance(commit.record, dict) and commit.record.get("write_token") == token:
                uri = self.log.table_uri(rel)
                actions = pa.table(DeltaTable(uri, version=commit.version).get_add_actions(flatten=False))
                return set(actions.column("path").to_pylist()) == set(names)
        return True  # not found (cannot happen after a commit): nothing to correct

    def _write_errors(self, table: str, vid: str, error_rows: pa.Table | None) -> None:
        """Append the error rows of ``table@vid`` to the errors table (once per version)."""
        if error_rows is None or not error_rows.num_rows:
            return
        from deltalake import CommitProperties, write_deltalake

        existing = self._read_error_table()
        if existing is not None:
            import pyarrow.compute as pc

            mask = pc.and_(pc.equal(existing.column("table"), table),
                           pc.equal(existing.column("version"), vid))
            if pc.any(mask).as_py():
                return
        origin = [pa.array([table] * error_rows.num_rows, pa.string()),
                  pa.array([vid] * error_rows.num_rows, pa.string())]
        rows = as_table(pa.table(origin + error_rows.columns,
                                 names=[*ERROR_ORIGIN, *error_rows.schema.names]), "errors")
        record = {COMMIT_KEY: json.dumps({"errors_of": f"{table}@{vid}"})}

        def write() -> None:
            for attempt in range(COMMIT_RETRIES):
                try:
                    write_deltalake(self.errors_uri(), rows, mode="append", schema_mode="merge",
                                    configuration=TABLE_CONFIGURATION,
                                    commit_properties=CommitProperties(custom_metadata=record))
                    return
                except Exception as err:
                    from deltalake.exceptions import CommitFailedError

                    if not isinstance(err, CommitFailedError) or attempt == COMMIT_RETRIES - 1:
                        raise
                    time.sleep(0.05 * (attempt + 1))

        self._io(write, f"write the error rows of {table!r}")

    def _incremental_plan(self, latest: VersionInfo, data: Any, changed: Any,
                          key: Any) -> dict[str, Any] | None:
        """What an incremental write of ``data`` onto ``latest`` changes, or ``None`` to overwrite."""
        import numpy as np
        import pyarrow.compute as pc

        if not (isinstance(data, (pa.Table, pa.RecordBatch)) or type(data).__name__ == "DataFrame"):
            return None
        full = as_table(data)
        mask = np.array(changed, dtype=bool)  # a copy: rows found changed are added to it
        if mask.shape != (full.num_rows,):
            raise ConfigError(f"changed: expected one boolean per row of data ({full.num_rows}); got "
                              f"{mask.shape}. Pass a mask over the rows of data.")
        names = [n for n, _ in latest.columns]
        keys = tuple(key) if key is not None else tuple(latest.key)
        if not keys or keys != tuple(latest.key) or full.schema.names != names or \
                [str(f.type) for f in full.schema] != [t for _, t in latest.columns]:
            return None
        from alnm_ray.constants import CASE_KEY

        cases_cols = [c for c in CASE_KEY if c in full.schema.names]
        cases = _check_keys(full.select(list(dict.fromkeys([*keys, *cases_cols]))), keys, cases_cols)
        before = self.read(latest.table, latest.version, columns=list(keys))

        def joined(t: pa.Table) -> pa.Array:
            return joined_keys(t, keys)

        old_keys, new_keys = joined(before), joined(full)
        gone = pc.invert(pc.is_in(old_keys, new_keys))
        mask |= self._differs(latest, full, ~mask, new_keys, old_keys)
        upserts = full.filter(pa.array(mask))
        replaced = pc.is_in(joined(upserts), old_keys) if upserts.num_rows else pa.array([], pa.bool_())
        return {"full": full, "schema": full.schema, "rows_after": full.num_rows, "upserts": upserts,
                "deletes": before.filter(gone), "keys": keys, "cases": cases,
                "replaces": bool(pc.any(replaced).as_py()) if len(replaced) else False}

    def _differs(self, latest: VersionInfo, full: pa.Table, check: Any, new_keys: pa.Array,
                 old_keys: pa.Array) -> Any:
        """Which rows of ``full`` (among those ``check`` marks) are not in ``latest`` as they are.

        The caller's ``changed`` mask is a hint: a row it calls unchanged is
        compared, column by column, with the stored row of the same key
        (nulls equal nulls, NaN equals NaN), so a relabelled case is written
        even when its features were cached.
        """
        import numpy as np
        import pyarrow.compute as pc

        out = np.zeros(full.num_rows, dtype=bool)
        rows = np.flatnonzero(check)
        if not len(rows):
            return out
        before = self.dataset(latest).to_table()
        before_keys = joined_keys(before, latest.key)
        where = pc.index_in(new_keys.take(pa.array(rows)), value_set=before_keys)
        missing = np.asarray(pc.is_null(where).to_numpy(zero_copy_only=False), dtype=bool)
        out[rows[missing]] = True
        rows, where = rows[~missing], where.filter(pc.invert(pc.is_null(where)))
        if not len(rows):
            return out
        mine, theirs = full.take(pa.array(rows)), before.take(where)
        bad = np.zeros(len(rows), dtype=bool)
        for name in full.schema.names:
            a, b = mine.column(name), theirs.column(name)
            same = pc.equal(a, b)
            both_null = pc.and_(pc.is_null(a), pc.is_null(b))
            same = pc.or_kleene(same, both_null)
            if pa.types.is_floating(a.type):
                same = pc.or_kleene(same, pc.and_(pc.is_nan(a), pc.is_nan(b)))
            bad |= ~np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False), dtype=bool)
        out[rows[bad]] = True
        return out

    def _write_changes(self, table: str, plan: dict[str, Any], vid: str, record: dict[str, Any],
                       error_rows: pa.Table | None, role: str, latest: VersionInfo
                       ) -> VersionInfo | None:
        """Commit ``plan`` (an append or a merge); ``None`` when another writer won and there is
        no whole content to fall back on (:meth:`upsert` then plans again)."""
        upserts, deletes, keys, schema = plan["upserts"], plan["deletes"], plan["keys"], plan["schema"]
        mode = "merge" if (deletes.num_rows or plan["replaces"]) else "append"
        if not upserts.num_rows and not deletes.num_rows:
            mode = "append"
        record.update(self._base_record(table, vid, role, mode, error_rows, schema, keys,
                                        plan["rows_after"], plan["cases"]))
        record["changes"] = {"upserted": upserts.num_rows, "deleted": deletes.num_rows}
        action = f"write a version of {table!r}"
        self._write_errors(table, vid, error_rows)
        if mode == "append":
            fs = self.location.fs
            folder = self.location.path(table_dir(table))
            sorted_rows = upserts.sort_by([(k, "ascending") for k in sort_order(keys)])
            written = self._io(lambda: write_parts(
                fs, folder, sorted_rows, key=keys, row_group_rows=self.row_group_rows,
                rows_per_file=self.rows_per_file, prefix=f"part-{uuid.uuid4().hex[:16]}"), action)
            try:
                digests = self._io(lambda: {n: _fs.file_digest(fs, f"{folder}/{n}")
                                            for n in written.files}, action)
                record["file_sha256"] = {n: d[1] for n, d in digests.items()}
                adds = [(n, digests[n][0], rows) for n, rows in zip(written.files, written.file_rows)
                        if rows or not upserts.num_rows]
                self._commit_adds(table, adds if upserts.num_rows else [], schema, "append", record)
            except BaseException:
                self._remove_files(folder, written.files)
                raise
            if not upserts.num_rows:
                self._remove_files(folder, written.files)
            return self._committed(table, vid)
        if not self._merge(table, upserts, deletes, keys, record, latest):
            if plan.get("full") is None:
                return None
            logger.info("%s changed while merging; writing the whole version instead", table)
            record.pop("changes", None)
            return self._write_whole(table, plan["full"], vid, {k: record[k] for k in
                                                                ("params", "lineage", "counts", "parent")},
                                     error_rows, role, keys)
        return self._committed(table, vid)

    def upsert(self, table: str, rows: Any, *, key: tuple[str, ...] | list[str], version_id: str,
               delete: Any = None, params: dict | None = None, lineage: dict | None = None,
               errors: Any = None, counts: dict | None = None, role: str | None = None) -> VersionInfo:
        """Commit a new version of ``table``: its latest content with ``rows`` put in by key.

        Unlike :meth:`write_version`, the caller hands over only what changes:
        ``rows`` replace the rows of the same key and add the others; rows
        whose key is in ``delete`` (and not in ``rows``) are removed.  Only the
        key columns of the latest version are read, and only ``rows`` are
        written (a Delta append, or a merge when a key is replaced or removed).
        A new table, or ``rows`` with other columns than the latest version,
        falls back to reading the latest content and writing it whole.

        Args:
            table: Table name.
            rows: The new and replacing rows (Table or DataFrame), with the table's columns.
            key: Columns identifying a row.
            version_id: The new version's id (content address computed by the caller).
            delete: Key values (a Table/DataFrame with the key columns) to remove.
            params, lineage, errors, counts, role: As for :meth:`write_version`.

        Returns:
            The committed :class:`VersionInfo` (the existing one when ``version_id`` exists).

        Example:
            >>> import pyarrow as pa, tempfile
            >>> store = FeatureStore(tempfile.mkdtemp())
            >>> _ = store.write_version("scores", pa.table({"patient_id": ["p1", "p2"], "p": [0.1, 0.2]}),
            ...                         key=("patient_id",), role="output")
            >>> info = store.upsert("scores", pa.table({"patient_id": ["p2", "p3"], "p": [0.5, 0.3]}),
            ...                     key=("patient_id",), version_id="v2", role="output")
            >>> info.mode, info.rows, store.read("scores").column("p").to_pylist()
            ('merge', 3, [0.1, 0.5, 0.3])
        """
        import pyarrow.compute as pc

        from alnm_ray.constants import CASE_KEY

        check_table_name(table)
        check_version_id(version_id)
        role = check_role(role) if role is not None else default_role(table)
        keys = tuple(key)
        data = as_table(rows, "rows")
        gone = as_table(delete, "delete").select(list(keys)) if delete is not None else None
        for _ in range(COMMIT_RETRIES):
            existing = self._io(lambda: self.log.get(table, version_id), "read the Delta log")
            if existing is not None:
                return existing
            latest = self.latest(table)
            same = latest is not None and tuple(latest.key) == keys and \
                [(f.name, str(f.type)) for f in data.schema] == [tuple(c) for c in latest.columns]
            if latest is None or not same:
                return self._upsert_whole(table, data, gone, keys, latest, version_id, params, lineage,
                                          errors, counts, role)
            cases_cols = [c for c in CASE_KEY if c in data.schema.names]
            _check_keys(data.select(list(dict.fromkeys([*keys, *cases_cols]))), keys, cases_cols)
            before = self.read(table, latest.version, columns=list(dict.fromkeys([*keys, *cases_cols])))
            old, new = joined_keys(before, keys), joined_keys(data, keys)
            replaced = pc.is_in(old, value_set=new)
            removed = pc.and_(pc.is_in(old, value_set=joined_keys(gone, keys)), pc.invert(replaced)) \
                if gone is not None and gone.num_rows else pa.array([False] * before.num_rows)
            kept = before.filter(pc.invert(pc.or_(replaced, removed)))
            after = pa.concat_tables([kept.select(cases_cols), data.select(cases_cols)]) if cases_cols else None
            plan = {"full": None, "schema": data.schema, "upserts": data, "keys": keys,
                    "deletes": before.select(list(keys)).filter(removed),
                    "rows_after": kept.num_rows + data.num_rows,
                    "cases": after.group_by(cases_cols).aggregate([]).num_rows if after is not None else 0,
                    "replaces": bool(pc.any(replaced).as_py()) if before.num_rows else False}
            record: dict[str, Any] = {"params": _jsonable(params, "params"),
                                      "lineage": _jsonable(lineage, "lineage"),
                                      "counts": _jsonable(counts, "counts"), "parent": latest.version}
            info = self._write_changes(table, plan, version_id, record, normalize_errors(errors), role,
                                       latest)
            if info is not None:
                return info
        raise StoreError(f"table {table!r}: expected to commit version {version_id[:SHORT_ID]}; other writers "
                         f"changed the table {COMMIT_RETRIES} times while it was planned. Run the command again.")

    def _upsert_whole(self, table: str, data: pa.Table, gone: pa.Table | None, keys: tuple[str, ...],
                      latest: VersionInfo | None, version_id: str, params: Any, lineage: Any,
                      errors: Any, counts: Any, role: str) -> VersionInfo:
        """:meth:`upsert` on a new table or with other columns: the whole content, written as a version."""
        import pyarrow.compute as pc

        full = data
        if latest is not None:
            before = self.read(table, latest.version)
            old = joined_keys(before, keys)
            drop = pc.is_in(old, value_set=joined_keys(data, keys))
            if gone is not None and gone.num_rows:
                drop = pc.or_(drop, pc.is_in(old, value_set=joined_keys(gone, keys)))
            full = pa.concat_tables([before.filter(pc.invert(drop)), data], promote_options="permissive")
        return self.write_version(table, full, version_id=version_id, params=params, lineage=lineage,
                                  parent=latest.version if latest is not None else None, errors=errors,
                                  counts=counts, key=keys, role=role)

    def _merge(self, table: str, upserts: pa.Table, deletes: pa.Table, keys: tuple[str, ...],
               record: dict[str, Any], latest: VersionInfo) -> bool:
        """One Delta MERGE: upsert ``upserts`` and delete ``deletes`` by key; False on a lost race."""
        from deltalake import CommitProperties, DeltaTable, WriterProperties
        from deltalake.exceptions import CommitFailedError

        flag = "__alnm_ray_delete"
        parts = [upserts.append_column(flag, pa.array([False] * upserts.num_rows, pa.bool_()))]
        if deletes.num_rows:
            filler = {n: pa.nulls(deletes.num_rows, upserts.schema.field(n).type)
                      for n in upserts.schema.names}
            filler.update({k: deletes.column(k).cast(upserts.schema.field(k).type) for k in keys})
            parts.append(pa.table({**filler, flag: pa.array([True] * deletes.num_rows, pa.bool_())}))
        source = pa.concat_tables(parts)
        on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        props = CommitProperties(custom_metadata={COMMIT_KEY: json.dumps(record, sort_keys=True)})

        def run() -> bool:
            dt = DeltaTable(self.table_uri(table))
            if dt.version() != latest.read_version:  # someone committed since we planned
                return False
            try:
                (dt.merge(source, predicate=on, source_alias="s", target_alias="t",
                          writer_properties=WriterProperties(max_row_group_size=self.row_group_rows),
                          commit_properties=props)
                 .when_matched_delete(predicate=f"s.`{flag}`")
                 .when_matched_update_all(except_cols=[flag])
                 .when_not_matched_insert_all(except_cols=[flag], predicate=f"NOT s.`{flag}`")
                 .execute())
            except CommitFailedError:
                return False
            return True

        return bool(self._io(run, f"merge a version of {table!r}"))

    def check_writable(self) -> None:
        """Fail fast when the store cannot be written, leaving no trace.

        Jobs call this before their work, so a read-only, full or mistyped
        ``--store`` fails in a second instead of after hours of extraction.  A
        probe file (an existing store) or folder (in the nearest existing parent
        of a new local store) is created and removed again; nothing else is.

        Raises:
            StoreError: The store cannot be written (the message names the path and the fix).
        """
        fs, root, probe = self.location.fs, self.location.root, f".alnm-ray-probe-{uuid.uuid4().hex}"

        def probe_write() -> None:
            kind = fs.get_file_info(root).type
            if kind == pafs.FileType.File:
                raise NotADirectoryError(20, "Not a directory (the store path is a file)", root)
            if kind == pafs.FileType.Directory or not self.location.is_local:
                _fs.write_bytes(fs, f"{root.rstrip('/')}/{probe}", b"alnm-ray")
                fs.delete_file(f"{root.rstrip('/')}/{probe}")
                return
            parent = posixpath.dirname(root)
            while fs.get_file_info(parent).type == pafs.FileType.NotFound and parent != posixpath.dirname(parent):
                parent = posixpath.dirname(parent)
            if fs.get_file_info(parent).type == pafs.FileType.File:
                raise NotADirectoryError(20, "Not a directory (a parent of the store path is a file)", parent)
            fs.create_dir(posixpath.join(parent, probe), recursive=False)
            fs.delete_dir(posixpath.join(parent, probe))

        self._io(probe_write, "write to the store")

    def cleanup(self, older_than_s: float = STALE_AFTER_S) -> list[str]:
        """Remove leftovers of crashed writes: data files no commit of the Delta log names.

        Files of any version, however old, are kept (that is ``features
        vacuum``'s business).

        Args:
            older_than_s: Only remove files last modified at least this many
                seconds ago (a younger one may belong to a running writer).

        Returns:
            The removed paths.
        """
        from alnm_ray.store.maintenance import referenced_files

        fs, now = self.location.fs, time.time()
        removed = []
        # every table folder, with a log or not: a crash in the first write of a table leaves
        # its files in a folder that has no log yet
        folders = [table_dir(i.base_name) for i in self._io(
            lambda: _fs.list_dir(fs, self.location.path(TABLES_DIR)), "list the tables")
            if i.type == pafs.FileType.Directory and valid_table_name(i.base_name)]
        for rel in folders + [ERRORS_TABLE_DIR]:
            referenced = self._io(lambda r=rel: referenced_files(self, r), "read a Delta log")
            for info in _fs.list_dir(fs, self.location.path(rel)):
                if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet") \
                        or info.base_name in referenced:
                    continue
                mtime = info.mtime.timestamp() if info.mtime is not None else None
                if older_than_s > 0 and (mtime is None or now - mtime < older_than_s):
                    continue
                self._io(lambda p=info.path: fs.delete_file(p), "remove a leftover file")
                removed.append(info.path)
                logger.info("removed leftover %s", info.path)
        return removed

    # --- internals ---------------------------------------------------------
    def _refuse_legacy(self) -> None:
        """Refuse to write into a store of the old layout (it must be migrated first)."""
        legacy = self.location.path(LEGACY_CATALOG_DIR)
        if self._io(lambda: self.location.fs.get_file_info(legacy).type, "read the store") \
                == pafs.FileType.Directory:
            self.check_is_store()

    def _prepare(self) -> None:
        fs = self.location.fs
        info = fs.get_file_info(self.location.root)
        if info.type == pafs.FileType.File:
            raise NotADirectoryError(20, "Not a directory (the store path is a file)",
                                     self.location.root)
        fs.create_dir(self.location.path(TABLES_DIR), recursive=True)
        marker = self.location.path(MARKER)
        if fs.get_file_info(marker).type != pafs.FileType.File:
            _fs.write_bytes(fs, marker, json.dumps(
                {"alnm_ray_store": STORE_FORMAT, "format": "delta", "created": utc_now(),
                 "package_version": __version__}).encode("utf-8"))

    def _io(self, fn, action: str):
        try:
            return fn()
        except OSError as err:  # pyarrow's I/O errors are OSError too
            raise StoreError(_fs.os_error_message(err, action, self.uri)) from err

    def _damage(self, fn, info: VersionInfo, rel: str | None = None):
        """Call ``fn``; a file Arrow cannot decode becomes a :class:`StoreDamageError`."""
        try:
            return fn()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
            if isinstance(err, OSError) and not (err.errno is None and _PARQUET_DAMAGE.search(str(err))):
                raise  # a real I/O error (permissions, disk): _io names its fix
            where = rel or f"{info.data_dir}/{', '.join(info.files[:3]) or '_delta_log'}"
            raise StoreDamageError(Problem(
                info.table, info.version, where, "unreadable",
                f"expected readable Parquet data; Arrow could not decode it ({str(err)[:160]})",
            ).message(self.uri)) from err
