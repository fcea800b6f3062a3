"""The versioned Parquet feature store.

One table per feature set (``radiomics``, ``deep``, ``clinical``,
``cv_results``, ``predictions``, imported tables…), each a series of
immutable, content-addressed versions recorded in the catalog
(:mod:`alnm_ray.store.catalog`).  Layout below the store root::

    _store.json                          marks the folder as a store
    _catalog/<table>/<version>.json      the commit record of each version
    tables/<table>/<version>-<wid>/      part-00000.parquet …, errors.parquet
    _tmp/<wid>/                          versions being written (ignored by readers)

Atomicity: on a local (or NFS) filesystem a version is written to
``_tmp/<wid>`` and renamed into ``tables/`` (atomic), then its catalog entry
is published; a crash at any point leaves no catalog entry, so nothing is
visible, and :meth:`FeatureStore.cleanup` removes the leftovers.  On object
stores (no atomic rename) the data goes straight to its unique final folder
and the catalog entry, written last as one object, is the commit point.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import socket
import time
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from alnm_ray._validation import did_you_mean
from alnm_ray._version import __version__
from alnm_ray.constants import ERROR_COLUMNS
from alnm_ray.exceptions import ConfigError, SchemaMismatchError, StoreDamageError, StoreError
from alnm_ray.store import _fs
from alnm_ray.store._problems import Problem
from alnm_ray.store._writer import (ROW_GROUP_ROWS, ROWS_PER_FILE, normalize_errors,
                                    write_parts)
from alnm_ray.store.catalog import CATALOG_DIR, CATALOG_FORMAT, Catalog
from alnm_ray.store.health import check_version
from alnm_ray.store.versions import (ROLE_FEATURE, SHORT_ID, VersionInfo, canonical_json, check_role,
                                     check_table_name, check_version_id, content_hash, default_role,
                                     split_ref, utc_now)

logger = logging.getLogger(__name__)

TABLES_DIR = "tables"
TMP_DIR = "_tmp"
MARKER = "_store.json"
ERRORS_FILE = "errors.parquet"
#: Leftover temporary/orphan folders younger than this are left alone by
#: :meth:`FeatureStore.cleanup`: they may belong to a writer still at work.
STALE_AFTER_S = 3600.0
#: Columns prepended to error rows by :meth:`FeatureStore.read_errors`.
ERROR_ORIGIN = ("table", "version")


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
        self.catalog = Catalog(self.location)
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

        A store is a folder holding ``_store.json`` (or ``_catalog/``), or an
        empty folder (a store nothing has been written to yet).

        Raises:
            StoreError: The path does not exist, is a file, or is a folder
                of something else (``--store /etc``).
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
        if visible and MARKER not in names and CATALOG_DIR not in names:
            raise StoreError(
                f"store {self.uri!r}: expected an alnm-ray store folder (one holding {MARKER} "
                f"and {CATALOG_DIR}/); found a folder of {len(visible)} other entries and no "
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
        names = self._io(self.catalog.tables, "list the catalog")
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
        return self._io(lambda: self.catalog.entries(table), "list the catalog")

    def latest(self, table: str) -> VersionInfo | None:
        """The newest version of ``table``, or ``None`` when it has none."""
        check_table_name(table)
        return self._io(lambda: self.catalog.latest(table), "list the catalog")

    def resolve(self, ref: str) -> VersionInfo:
        """The version named by ``"table"`` (latest) or ``"table@<id or unique prefix>"``.

        Raises:
            StoreError: Unknown table or version, ambiguous prefix.
        """
        table, version = split_ref(ref)
        check_table_name(table)
        return self._io(lambda: self.catalog.resolve(table, version or None), "read the catalog")

    def dataset(self, info: VersionInfo) -> pads.Dataset:
        """A :mod:`pyarrow.dataset` over the data files of one version.

        The files are checked first (inside the store, present, of their
        recorded size; see :func:`alnm_ray.store.health.check_version`).

        Raises:
            StoreDamageError: A file is missing, altered, unreadable or
                outside the store (the message names table, version and file).
        """
        problems = self._io(lambda: check_version(self.location, info), f"open {info.short}")
        data = [p for p in problems if p.file != f"{info.data_dir}/{info.errors_file}"]
        if data:
            raise StoreDamageError(data[0].message(self.uri))
        paths = [self.location.path(info.data_dir, f) for f in info.files]
        return self._io(lambda: self._damage(
            lambda: pads.dataset(paths, filesystem=self.location.fs, format="parquet"), info),
            f"open {info.short}")
    def read(self, table: str, version: str | None = None,
             columns: list[str] | None = None) -> pa.Table:
        """Read a version of a table (the latest by default).

        Args:
            table: Table name, or ``"table@version"``.
            version: Version id or unique prefix; ``None`` for the latest.
            columns: Columns to read (all by default).

        Returns:
            The rows; tables with a key come sorted by ``patient_id`` then
            the rest of the key (when written from a whole table).

        Raises:
            StoreError: Unknown table/version or unreadable files.
            SchemaMismatchError: A requested column does not exist.
        """
        info = self.resolve(table if version is None else f"{split_ref(table)[0]}@{version}")
        if columns is not None:
            names = info.column_names
            missing = [c for c in columns if c not in names]
            if missing:
                raise SchemaMismatchError(
                    f"{info.short}: expected column(s) {missing[:5]} to exist; it has "
                    f"{len(names)} columns ({', '.join(names[:8])}…)."
                    f"{did_you_mean(missing[0], names)} Check the names with "
                    f"`alnm-ray features show {info.table}`."
                )
        return self._io(lambda: self._damage(lambda: self.dataset(info).to_table(columns=columns),
                                             info), f"read {info.short}")

    def read_errors(self, table: str | None = None, version: str | None = None) -> pa.Table:
        """Per-case error rows, with ``table`` and ``version`` columns first.

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
        parts = []
        for info in infos:
            if not info.errors_file:
                continue
            rel = f"{info.data_dir}/{info.errors_file}"
            problems = [p for p in self._io(lambda i=info: check_version(self.location, i),
                                            f"read the errors of {info.short}") if p.file == rel]
            if problems:
                raise StoreDamageError(problems[0].message(self.uri))
            path = self.location.path(rel)
            errors = self._io(lambda p=path, i=info: self._damage(lambda: pads.dataset(
                p, filesystem=self.location.fs, format="parquet").to_table(), i, rel),
                f"read the errors of {info.short}")
            origin = [pa.array([info.table] * errors.num_rows, pa.string()),
                      pa.array([info.version] * errors.num_rows, pa.string())]
            parts.append(pa.table(origin + errors.columns, names=[*ERROR_ORIGIN, *errors.schema.names]))
        if not parts:
            return pa.table({c: pa.array([], pa.string()) for c in (*ERROR_ORIGIN, *ERROR_COLUMNS)})
        return pa.concat_tables(parts, promote_options="permissive")

    # --- writing -----------------------------------------------------------
    def write_version(self, table: str, data: Any, *, version_id: str | None = None,
                      params: dict | None = None, lineage: dict | None = None,
                      parent: str | None = None, errors: Any = None, counts: dict | None = None,
                      key: tuple[str, ...] | list[str] | None = None,
                      role: str | None = None) -> VersionInfo:
        """Write the full content of a new version of ``table`` atomically.

        Args:
            table: Table name (lower-case identifier; not ``errors``/``catalog``).
            data: pyarrow Table, pandas DataFrame, RecordBatchReader, or an
                iterable of batches (streamed to disk).
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
        if version_id is not None:
            check_version_id(version_id)
            existing = self._io(lambda: self.catalog.get(table, version_id), "read the catalog")
            if existing is not None:
                logger.info("%s already in the store; nothing written", existing.short)
                return existing
        record: dict[str, Any] = {
            "params": _jsonable(params, "params"), "lineage": _jsonable(lineage, "lineage"),
            "counts": _jsonable(counts, "counts"),
            "parent": self.resolve(f"{table}@{parent}").version if parent else None,
        }
        error_rows = normalize_errors(errors)
        wid = uuid.uuid4().hex
        fs = self.location.fs
        if self.location.is_local:
            work = self.location.path(TMP_DIR, wid)
        else:  # object stores: no atomic rename; the catalog entry is the commit point
            work = self.location.path(TABLES_DIR, table, f"{version_id or 'v'}-{wid[:8]}")
        action = f"write a version of {table!r}"
        self._io(self._prepare, action)
        try:
            self._io(lambda: fs.create_dir(work, recursive=True), action)
            written = self._io(lambda: write_parts(
                fs, work, data, key=tuple(key) if key is not None else None,
                row_group_rows=self.row_group_rows, rows_per_file=self.rows_per_file), action)
            if error_rows is not None and error_rows.num_rows:
                import pyarrow.parquet as pq

                self._io(lambda: pq.write_table(error_rows, f"{work}/{ERRORS_FILE}", filesystem=fs),
                         action)
            names = written.files + ([ERRORS_FILE] if error_rows is not None and error_rows.num_rows
                                     else [])
            digests = self._io(lambda: {n: _fs.file_digest(fs, f"{work}/{n}") for n in names}, action)
            vid = version_id or content_hash({"table": table, "data": written.data_hash})
            existing = self._io(lambda: self.catalog.get(table, vid), "read the catalog")
            if existing is not None:
                _fs.remove_tree(fs, work)
                return existing
            data_dir = f"{TABLES_DIR}/{table}/{vid}-{wid[:8]}"
            if self.location.is_local:
                self._io(lambda: fs.create_dir(self.location.path(TABLES_DIR, table),
                                               recursive=True), action)
                self._io(lambda: fs.move(work, self.location.path(data_dir)), action)
            else:
                data_dir = work[len(self.location.root) + 1:]
        except BaseException:
            try:
                _fs.remove_tree(fs, work)
            except OSError:  # the original error matters more; cleanup() retries later
                logger.warning("could not remove %s after a failed write", work)
            raise
        record.update({
            "catalog_format": CATALOG_FORMAT, "table": table, "version": vid, "created": utc_now(),
            "rows": written.rows, "cases": written.cases,
            "failures": 0 if error_rows is None else error_rows.num_rows,
            "data_dir": data_dir, "files": written.files,
            "errors_file": ERRORS_FILE if error_rows is not None and error_rows.num_rows else None,
            "key": list(written.key), "columns": [[f.name, str(f.type)] for f in written.schema],
            "data_sha256": written.data_hash, "package_version": __version__,
            "file_sizes": {n: d[0] for n, d in digests.items()},
            "file_sha256": {n: d[1] for n, d in digests.items()},
            "pyarrow_version": pa.__version__, "role": role,
            "writer": {"host": socket.gethostname(), "pid": os.getpid()},
        })
        committed = self._io(lambda: self.catalog.commit(record), f"commit {table}@{vid[:SHORT_ID]}")
        if committed.data_dir != data_dir:  # another writer committed this version first
            self._io(lambda: _fs.remove_tree(fs, self.location.path(data_dir)), action)
        else:
            logger.info("committed %s (%d rows, %d failures)", committed.short, committed.rows,
                        committed.failures)
        return committed

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
        """Remove leftovers of crashed writes: temp folders and unreferenced data folders.

        Args:
            older_than_s: Only remove folders last modified at least this many
                seconds ago (a younger one may belong to a running writer).

        Returns:
            The removed paths.
        """
        fs, now = self.location.fs, time.time()
        referenced = self._io(self.catalog.referenced_dirs, "read the catalog")
        candidates = [(i.path, i) for i in _fs.list_dir(fs, self.location.path(TMP_DIR))]
        for table_dir in _fs.list_dir(fs, self.location.path(TABLES_DIR)):
            for info in _fs.list_dir(fs, table_dir.path):
                rel = f"{TABLES_DIR}/{table_dir.base_name}/{info.base_name}"
                if rel not in referenced:
                    candidates.append((info.path, info))
        removed = []
        for path, info in candidates:
            mtime = self._io(lambda i=info: _fs.newest_mtime(fs, i), "read a leftover folder")
            if older_than_s > 0 and (mtime is None or now - mtime < older_than_s):
                continue
            self._io(lambda p=path: _fs.remove_tree(fs, p), "remove a leftover folder")
            removed.append(path)
            logger.info("removed leftover %s", path)
        return removed

    # --- internals ---------------------------------------------------------
    def _prepare(self) -> None:
        fs = self.location.fs
        info = fs.get_file_info(self.location.root)
        if info.type == pafs.FileType.File:
            raise NotADirectoryError(20, "Not a directory (the store path is a file)",
                                     self.location.root)
        for sub in (TMP_DIR, TABLES_DIR, CATALOG_DIR):
            fs.create_dir(self.location.path(sub), recursive=True)
        marker = self.location.path(MARKER)
        if fs.get_file_info(marker).type != pafs.FileType.File:
            _fs.write_bytes(fs, marker, json.dumps(
                {"alnm_ray_store": CATALOG_FORMAT, "created": utc_now(),
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
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            where = rel or f"{info.data_dir}/{', '.join(info.files[:3])}"
            raise StoreDamageError(Problem(
                info.table, info.version, where, "unreadable",
                f"expected readable Parquet data; Arrow could not decode it ({str(err)[:160]})",
            ).message(self.uri)) from err
