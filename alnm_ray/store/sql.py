"""Read-only DuckDB SQL over a feature store.

Every stored table is a view of the same name showing its latest version;
``errors`` holds the error rows of every table's latest version and
``catalog`` one row per version.  A specific version is
``"radiomics@3fa2c1"`` (a double-quoted name; any unique prefix of the id) or
``table_at('radiomics', '3fa2c1')``, and ``<table>_wide`` is the per-patient
wide view of a long feature table (:func:`alnm_ray.store.wide.to_wide`, reader A).

How the query is kept read-only and inside the store, in three layers:

1. DuckDB's own parser (:func:`duckdb.extract_statements`) must find exactly
   one ``SELECT`` (or ``EXPLAIN``) statement: INSERT, CREATE, COPY, ATTACH,
   INSTALL/LOAD, SET, PRAGMA… are refused before anything runs.
2. Tables are registered as :mod:`pyarrow.dataset` objects (so they work for
   local and object-store stores alike) and then the connection is locked
   with ``enable_external_access = false`` and ``lock_configuration = true``:
   DuckDB itself refuses any file access (``read_csv('/etc/passwd')``,
   ``read_parquet(...)``, ``COPY … TO``, ``ATTACH``, extension installs), and the
   setting cannot be turned back on.  The connection is an in-memory database
   that is thrown away, so nothing a query does can persist.  DuckDB's
   ``temp_directory`` (which stays readable even with external access off)
   is a private folder created for the session and removed by
   :meth:`StoreSQL.close`, so no query can read or spill into the user's
   working folder.
3. Every view is a table's Delta snapshot (``DeltaTable.to_pyarrow_dataset()``;
   DuckDB's own ``delta`` extension is never loaded: it downloads at run time).
   Its commit record is checked field by field
   (:func:`alnm_ray.store.delta_log.record_to_info`), and every file its log
   names must be a plain relative path that, on local stores, resolves inside
   the store (:func:`alnm_ray.store._fs.inside`) before anything is opened.

Each query runs within :class:`~alnm_ray.store.limits.SQLLimits` (timeout,
memory limit, Ctrl-C), see :mod:`alnm_ray.store.limits`.

The plain path (:func:`query`, :func:`query_rows` and :func:`open_session`
given a local store's path): a healthy local store is opened without
pyarrow, numpy or deltalake — its logs read as JSON
(:class:`~alnm_ray.store.delta_files.JsonDeltaLog`), every latest file checked
with ``os.stat`` as :func:`~alnm_ray.store.health.check_version` checks it,
the same ``read_parquet`` views, ``allowed_paths`` and locks.  Anything else
(damage, a log only ``deltalake`` reads, a named version, a wide view) opens
the session over a :class:`~alnm_ray.store.feature_store.FeatureStore` as before.
:func:`query_rows` hands a small result of plain types back as :class:`Rows`
(DuckDB's ``fetchall``), which ``alnm-ray sql`` prints without Arrow.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import duckdb

from alnm_ray.constants import ERROR_COLUMNS
from alnm_ray.exceptions import StoreDamageError, StoreError
from alnm_ray.store._problems import Problem
from alnm_ray.store import _fs
from alnm_ray.store.delta_files import JsonDeltaLog, Snapshot
from alnm_ray.store.delta_log import ERRORS_TABLE_DIR, commit_number
from alnm_ray.store.limits import SQLLimits, run_bounded
from alnm_ray.store.versions import VERSION_SEP, VersionInfo

if TYPE_CHECKING:  # pyarrow, the store's writer and deltalake load only off the plain path
    import pyarrow as pa

    from alnm_ray.store.feature_store import FeatureStore

class _Pattern:
    """A regular expression compiled on first use (the plain path usually needs none of them)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args: tuple[str, int] = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


#: Statement types a query may have.
ALLOWED_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
#: ``"radiomics@3fa2c1"`` — a double-quoted versioned view name.
_QUOTED_VERSION: Any = _Pattern(r'"([a-z][a-z0-9_]*)@([0-9A-Za-z_-]+)"')
#: ``table_at('radiomics', '3fa2c1')``.
_TABLE_AT: Any = _Pattern(r"table_at\s*\(\s*'([a-z][a-z0-9_]*)'\s*,\s*'([0-9A-Za-z_-]+)'\s*\)",
                       re.IGNORECASE)
#: ``EXPLAIN [ANALYZE] [(options)]`` in front of the explained statement.
_EXPLAIN_PREFIX: Any = _Pattern(r"^\s*explain\b(?:\s+analy[sz]e\b)?(?:\s*\([^)]*\))?", re.IGNORECASE)
_WIDE: Any = _Pattern(r"\b([a-z][a-z0-9_]*)_wide\b", re.IGNORECASE)
#: Characters of a word around a name :func:`_mentions` looks for.
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
WIDE_SUFFIX = "_wide"
#: Columns the error rows start with (:data:`alnm_ray.store.feature_store.ERROR_ORIGIN`).
_ERROR_ORIGIN = ("table", "version")
#: DuckDB types whose Python values are exactly what Arrow's ``to_pylist`` gives (see :class:`Rows`).
ROW_TYPES = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT",
                       "USMALLINT", "UINTEGER", "UBIGINT", "DOUBLE", "VARCHAR"})
#: Most cells :meth:`StoreSQL.query_rows` returns as Python rows (larger results: Arrow).
ROW_CELLS = 50_000
#: Marker file and old-layout folder of a store (:mod:`alnm_ray.store.feature_store`).
_MARKER, _LEGACY_CATALOG_DIR = "_store.json", "_catalog"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rows:
    """A small query result as Python rows (what DuckDB's ``fetchall`` gives).

    Every column has a :data:`ROW_TYPES` type, whose values are the same
    Python objects (``int``, ``float``, ``str``, ``bool``, ``None``) as the
    result's :class:`pyarrow.Table` gives with ``to_pylist()``.

    Attributes:
        names: Column names, in order (as the Arrow table's schema names them).
        types: DuckDB type of each column (``"BIGINT"``, ``"DOUBLE"``, ``"VARCHAR"``…).
        rows: One tuple per row.
    """

    names: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return len(self.rows)

    @property
    def num_columns(self) -> int:
        """Number of columns."""
        return len(self.names)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, max_cells: int) -> Rows | pa.Table:
    """Run ``sql`` once on ``con``: small results of :data:`ROW_TYPES` as :class:`Rows`, others as Arrow.

    The query is bound and run once (``execute``); its result types decide
    how it comes back.
    """
    result = con.execute(sql)
    description = result.description or []
    names = tuple(str(d[0]) for d in description)
    types = tuple(str(d[1]) for d in description)
    rows: list[tuple[Any, ...]] = []
    if all(t in ROW_TYPES for t in types):
        cap = max(1, max_cells // max(1, len(names)))
        rows = result.fetchmany(cap + 1)
        if len(rows) <= cap:
            return Rows(names, types, rows)
    import pyarrow as pa

    with warnings.catch_warnings():  # "an extra copy": this result's rows, once, as Arrow
        warnings.simplefilter("ignore")
        rest: Any = result.to_arrow_table()
    if not rows:
        return rest
    head = pa.Table.from_arrays([pa.array([row[i] for row in rows], type=field.type)
                                 for i, field in enumerate(rest.schema)], schema=rest.schema)
    return pa.concat_tables([head, rest])


def check_read_only(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Refuse anything but one SELECT/EXPLAIN statement, using DuckDB's parser.

    ``con``: parse with this connection's parser (``duckdb.extract_statements``
    alone opens DuckDB's default database, a second one beside the session's).

    Raises:
        StoreError: Empty SQL, several statements, a syntax error, or a
            statement that is not a query; the message names the statement
            type and how to proceed.

    Example:
        >>> check_read_only("SELECT 1")
    """
    if not sql or not sql.strip():
        raise StoreError("SQL: expected a SELECT query; got an empty string. "
                         "Example: alnm-ray sql --store STORE \"SELECT * FROM catalog\".")
    try:
        statements = (con or duckdb).extract_statements(sql)
    except duckdb.Error as err:
        raise StoreError(f"SQL syntax error: {err}") from err
    if len(statements) != 1:
        raise StoreError(f"SQL: expected exactly one statement; got {len(statements)}. "
                         "Run one query at a time.")
    kind = statements[0].type
    if kind == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs the statement it explains: that one must be a query too
        inner = _EXPLAIN_PREFIX.sub("", statements[0].query, count=1)
        if inner == statements[0].query or not inner.strip():
            raise StoreError("SQL: expected EXPLAIN [ANALYZE] followed by a SELECT query; could not find the "
                             "explained statement. Write it as `EXPLAIN SELECT …`.")
        check_read_only(inner, con)
        return
    if kind not in ALLOWED_STATEMENTS:
        name = str(kind).rsplit(".", 1)[-1]
        snippet = " ".join(sql.split())[:60]
        raise StoreError(
            f"SQL: the store is read-only; expected a SELECT query; got a {name} statement "
            f"({snippet!r}). Only SELECT (and EXPLAIN) run here: no INSERT/CREATE/COPY/ATTACH/"
            "INSTALL/LOAD/SET. Tables are written by alnm-ray commands (extract, features import)."
        )


#: Columns of the ``catalog`` view and their DuckDB types.
CATALOG_COLUMNS = (
    ("table", "VARCHAR"), ("version", "VARCHAR"), ("created", "TIMESTAMPTZ"), ("rows", "BIGINT"),
    ("cases", "BIGINT"), ("failures", "BIGINT"), ("parent", "VARCHAR"), ("is_latest", "BOOLEAN"),
    ("key", "VARCHAR"), ("n_columns", "BIGINT"), ("path", "VARCHAR"), ("params", "VARCHAR"),
    ("lineage", "VARCHAR"), ("counts", "VARCHAR"), ("package_version", "VARCHAR"),
    ("status", "VARCHAR"), ("delta_version", "BIGINT"), ("mode", "VARCHAR"))


def _catalog_rows(entries: list[VersionInfo], status: dict[str, str],
                  broken: list[Problem]) -> list[tuple[Any, ...]]:
    latest = {}
    for info in entries:  # oldest first: the last one per table wins
        latest[info.table] = info.version
    rows: list[tuple[Any, ...]] = []
    for info in entries:
        rows.append((info.table, info.version, datetime.fromisoformat(info.created), info.rows,
                     info.cases, info.failures, info.parent, latest[info.table] == info.version,
                     ",".join(info.key), len(info.columns), info.path, json.dumps(info.params),
                     json.dumps(info.lineage), json.dumps(info.counts), info.package_version,
                     status.get(info.ref, "ok"), info.delta_version, info.mode))
    for problem in broken:  # unreadable entries: what is known of them, and why
        rows.append((problem.table, problem.version, None, None, None, None, None, False, None, None,
                     problem.entry, None, None, None, None, f"{problem.kind}: {problem.detail}",
                     None, None))
    return rows


class StoreSQL:
    """A read-only, confined and bounded DuckDB session over a snapshot of a store.

    The views are fixed when the session opens; open a new one to see
    versions committed later.  Reuse one session for many queries (each
    :func:`query` call opens its own).

    A damaged version (see :mod:`alnm_ray.store.health`) does not stop the
    session: its view is left out, the reason is logged as a warning and
    kept in :attr:`problems`, and the ``catalog`` view shows it with its
    ``status``.  A table whose latest version is damaged has no plain view
    (an older version is never shown in its place); its healthy versions
    stay reachable as ``"table@<id>"``.

    Args:
        store: A :class:`FeatureStore` or its path/URI.
        threads: DuckDB worker threads (default: DuckDB's, one per core).
        limits: Timeout and memory bound of each query (default:
            :class:`SQLLimits` ()).

    Raises:
        StoreError: The path is not a store.
    """

    def __init__(self, store: FeatureStore | str, *, threads: int | None = None,
                 limits: SQLLimits | None = None, _referenced: str | None = None,
                 _con: duckdb.DuckDBPyConnection | None = None, _single: str | None = None) -> None:
        if isinstance(store, _PlainStore):  # query()'s plain path: no pyarrow, no deltalake
            self.store = cast("FeatureStore", store)
        else:
            from alnm_ray.store.feature_store import FeatureStore

            self.store = store if isinstance(store, FeatureStore) else FeatureStore(store)
        self.store.check_is_store()
        if self.store.location.is_local and not isinstance(self.store.log, JsonDeltaLog):
            # this session's own reader of the logs: each one parsed once, no deltalake on the way
            self.store = copy.copy(self.store)
            self.store.log = JsonDeltaLog(self.store.location)
        self.limits = limits if limits is not None else SQLLimits()
        self.problems: list[Problem] = []
        self._allowed: list[str] = []
        self._locked = False
        self._single = _single  # the one query a session of open_session serves
        self._unmade: list[str] = []  # views that query does not name, left unmade
        self._tmp = tempfile.mkdtemp(prefix="alnm-ray-sql-")
        try:
            self._con = _con if _con is not None else duckdb.connect(":memory:")
            self._open(threads, _referenced)
        except BaseException:
            self.close()
            raise

    def _open(self, threads: int | None, referenced: str | None) -> None:
        store = self.store
        # a view's files' footers are read once, when it is made, not again by each query's binding
        self._con.execute("SET parquet_metadata_cache = true")
        entries, broken = store.scan()
        self._views: list[str] = []
        self._skipped: dict[str, Problem] = {}
        status: dict[str, str] = {}
        by_table: dict[str, VersionInfo] = {}
        for info in entries:  # oldest first: the last one per table wins
            by_table[info.table] = info
        for problem in broken:  # a damaged commit older than a good one hides nothing
            good = by_table.get(problem.table)
            if good is None or commit_number(problem) > good.delta_version:
                self._skip(problem.table, problem, "its latest version is unknown")
        self._latest: dict[str, VersionInfo] = {}
        failed: list[VersionInfo] = []
        for info in entries:
            if by_table[info.table] is not info or info.table in self._skipped:
                continue  # older versions are checked when a query names them
            found = store._io(lambda i=info: _check_version(store, i), f"open {info.short}")
            if found:
                status[info.ref] = f"{found[0].kind}: {found[0].file}"
                self._skip(info.table, found[0], "its latest version is damaged")
                continue
            try:
                self._register_version(info.table, info, checked=True)
                if info.failures:
                    failed.append(info)
            except StoreDamageError as err:
                status[info.ref] = "unreadable"
                self._skip(info.table, Problem(info.table, info.version, info.data_dir,
                                               "unreadable", str(err).split(". Run", 1)[0]),
                           "its latest version is damaged")
                continue
            self._latest[info.table] = info
        # a session for one query (open_session) makes `errors` and `catalog` only when it names them
        if self._single is None or _mentions(self._single, "errors"):
            self._errors_view(failed)
        else:
            self._unmade.append("errors")
        if self._single is None or _mentions(self._single, "catalog"):
            # tables made here, not registered Arrow objects: DuckDB's register() imports pandas
            self._con.execute("CREATE TABLE catalog (" + ", ".join(
                f"{_identifier(n)} {t}" for n, t in CATALOG_COLUMNS) + ")")
            rows = _catalog_rows(entries, status, broken)
            one = f"({', '.join('?' * len(CATALOG_COLUMNS))})"
            for start in range(0, len(rows), 500):  # one statement per 500 rows: executemany is slow
                chunk = rows[start:start + 500]
                self._con.execute(f"INSERT INTO catalog VALUES {', '.join([one] * len(chunk))}",
                                  [value for row in chunk for value in row])
            self._views.append("catalog")
        else:
            self._unmade.append("catalog")
        self._con.execute("CREATE MACRO table_at(t, v) AS TABLE "
                          f"FROM query_table(t || '{VERSION_SEP}' || v)")
        if referenced is not None:  # versions the query names: their files join the allowed list
            self._register_referenced(referenced)
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")
        memory = self.limits.memory_bytes
        # spill files go to a private folder that close() removes; the only files a query can
        # read are those of the views made from Parquet files (allowed_paths, set before the lock)
        settings = [f"memory_limit = '{memory}B'", f"max_temp_directory_size = '{4 * memory}B'",
                    f"temp_directory = '{self._tmp}'",
                    "autoinstall_known_extensions = false", "autoload_known_extensions = false"]
        if self._allowed:
            settings.append(f"allowed_paths = [{', '.join(map(_literal, self._allowed))}]")
        settings += ["enable_external_access = false", "lock_configuration = true"]
        for setting in settings:
            self._con.execute(f"SET {setting}")
        self._locked = True

    def _errors_view(self, failed: list[VersionInfo]) -> None:
        """The ``errors`` table: the error rows of ``failed`` (latest versions with failures).

        Copied into the session before it is locked, so the error table's
        files never join ``allowed_paths``.
        """
        names = (*_ERROR_ORIGIN, *ERROR_COLUMNS)
        if not failed:
            self._con.execute("CREATE TABLE errors (" + ", ".join(
                f"{_identifier(n)} VARCHAR" for n in names) + ")")
            self._views.append("errors")
            return
        store, log = self.store, self.store.log
        snapshot = None
        if isinstance(log, JsonDeltaLog) and log.is_table(ERRORS_TABLE_DIR):
            snapshot = store._io(lambda: log.latest_snapshot(ERRORS_TABLE_DIR), "read the error rows")
        if snapshot is not None and snapshot.plain and set(names) <= set(snapshot.columns) and \
                not _damaged_files(store, snapshot):
            paths = ", ".join(_literal(store.location.path(rel)) for rel, _ in snapshot.files)
            pairs = ", ".join(_literal(f"{i.table}\x00{i.version}") for i in failed)
            columns = [*names, *(c for c in snapshot.columns if c not in names)]
            try:
                self._con.execute(
                    f"CREATE TABLE errors AS SELECT {', '.join(map(_identifier, columns))} FROM "
                    f"read_parquet([{paths}], union_by_name = true) WHERE "
                    f"(\"table\" || chr(0) || \"version\") IN ({pairs})")
            except duckdb.Error as err:
                logger.debug("errors through Arrow: %s", err)
            else:
                self._views.append("errors")
                return
        import pyarrow as pa

        tables = [store.read_errors(i.ref) for i in failed]
        self._register("errors", pa.concat_tables(tables, promote_options="permissive"))

    def _register_version(self, name: str, info: VersionInfo, *, checked: bool = False) -> None:
        """Make ``name`` a view of ``info``, its files checked first.

        On a local store, before the session is locked, the view reads the
        version's Parquet files with DuckDB's ``read_parquet`` and exactly
        those files join ``allowed_paths``; otherwise (object stores, a log
        left to ``deltalake``, a version named after the lock) it is the
        version's Arrow dataset.

        Raises:
            StoreDamageError: A file is missing, altered or outside the store.
        """
        store = self.store
        log = store.log
        if not checked:
            problems = store._io(lambda: _check_version(store, info), f"open {info.short}")
            if problems:
                raise StoreDamageError(problems[0].message(store.uri))
        if isinstance(log, JsonDeltaLog) and not self._locked:
            snapshot = store._io(lambda: log.snapshot(info.data_dir, info.read_version),
                                 f"read the Delta log of {info.short}")
            if snapshot is not None and snapshot.plain:
                paths = [store.location.path(rel) for rel, _ in snapshot.files]
                columns = ", ".join(_identifier(c) for c in snapshot.columns)
                try:
                    self._con.execute(
                        f"CREATE VIEW {_identifier(name)} AS SELECT {columns} FROM read_parquet("
                        f"[{', '.join(map(_literal, paths))}], union_by_name = true)")
                except duckdb.Error as err:  # e.g. a column no file holds: Arrow null-fills it
                    logger.debug("view %s through Arrow: %s", name, err)
                else:
                    self._allowed.extend(paths)
                    self._views.append(name)
                    return
        self._register(name, store._io(
            lambda: store._damage(lambda: store._delta(info).to_pyarrow_dataset(), info),
            f"open {info.short}"))

    def _skip(self, table: str, problem: Problem, why: str) -> None:
        if table in self._skipped:
            return
        self._skipped[table] = problem
        self.problems.append(problem)
        logger.warning("view %s left out (%s): %s; run `alnm-ray features verify` for every "
                       "problem and `alnm-ray features repair` to quarantine the damaged version",
                       table, why, problem.line())

    @property
    def views(self) -> list[str]:
        """Names of the views registered so far."""
        return list(self._views)

    def _register(self, name: str, obj: Any) -> None:
        self._con.register(name, obj)
        self._views.append(name)

    def _register_referenced(self, sql: str) -> None:
        if not _names_versions(sql):
            return
        for table, version in _QUOTED_VERSION.findall(sql) + _TABLE_AT.findall(sql):
            name = f"{table}{VERSION_SEP}{version}"
            if name not in self._views:
                self._register_version(name, self.store.resolve(name))
        for base in _WIDE.findall(sql):
            base = base.lower()
            name = base + WIDE_SUFFIX
            if name in self._views or name in self._latest or base not in self._latest:
                continue
            if "sequence" not in self._latest[base].column_names:
                continue
            import pyarrow as pa

            from alnm_ray.store.wide import to_wide  # pandas: only for a wide view

            wide = to_wide(self.store.read(base, self._latest[base].version)).reset_index()
            self._register(name, pa.Table.from_pandas(wide, preserve_index=False))

    def query(self, sql: str) -> pa.Table:
        """Run one read-only query, within :attr:`limits`, and return its result.

        Args:
            sql: One SELECT statement over the store's views.

        Returns:
            The result as a :class:`pyarrow.Table`.

        Raises:
            StoreError: A refused statement, a file access, an unknown view
                or column, a damaged version, the timeout or memory limit, or
                any other DuckDB error, with the views listed.
            KeyboardInterrupt: Ctrl-C; the query was stopped.
        """
        return self._run(sql, lambda: self._con.sql(sql).to_arrow_table())

    def query_rows(self, sql: str, *, max_cells: int | None = None) -> Rows | pa.Table:
        """Run one read-only query as :meth:`query` does; small results as Python rows.

        A result whose columns all have a :data:`ROW_TYPES` type and that
        holds at most ``max_cells`` cells (default :data:`ROW_CELLS`) comes
        back as :class:`Rows` (nothing of pyarrow is imported); any other as
        the :class:`pyarrow.Table` :meth:`query` returns.  The query runs once
        either way, within :attr:`limits`.

        Raises:
            StoreError: As :meth:`query`.
            KeyboardInterrupt: Ctrl-C; the query was stopped.
        """
        cells = ROW_CELLS if max_cells is None else max_cells
        return self._run(sql, lambda: _fetch(self._con, sql, cells))

    def _run(self, sql: str, fetch: Any) -> Any:
        check_read_only(sql, self._con)
        self._register_referenced(sql)
        views = ", ".join(sorted(self._views + self._unmade)) or "(none)"
        try:
            return run_bounded(self._con, fetch, self.limits)
        except duckdb.PermissionException as err:
            raise StoreError(
                f"SQL: file access is disabled; the query may only read the store's views "
                f"({views}), not files (read_csv/read_parquet/COPY/ATTACH). DuckDB said: {err}"
            ) from err
        except duckdb.CatalogException as err:
            damaged = "".join(
                f"\nView {t} is left out: {p.line()}; run `alnm-ray features verify` and "
                "`alnm-ray features repair`." for t, p in sorted(self._skipped.items())
                if re.search(rf"\b{t}\b", sql, re.IGNORECASE))
            raise StoreError(
                f"SQL: {err}\nExpected one of the store's views: {views}. A specific version: "
                "\"table@<version>\" or table_at('table', '<version>'); list them with "
                f"`alnm-ray features list`.{damaged}"
            ) from err
        except duckdb.ParserException as err:
            raise StoreError(f"SQL syntax error: {err}") from err
        except Exception as err:  # DuckDB's own, or Arrow's (only loaded when it was used)
            arrow = sys.modules.get("pyarrow")
            if not isinstance(err, duckdb.Error) and (
                    arrow is None or not isinstance(err, arrow.ArrowException)):
                raise
            raise StoreError(f"SQL: the query failed: {err}. If it names a store file, run "
                             "`alnm-ray features verify` to check the store.") from err

    def close(self) -> None:
        """Close the DuckDB connection and remove its private temporary folder."""
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "StoreSQL":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _damaged_files(store: FeatureStore, snapshot: Snapshot) -> bool:
    """Whether a file of ``snapshot`` leaves the store, is missing, not a file or has another size."""
    for rel, size in snapshot.files:
        try:
            path = _fs.inside(store.location, rel, f"file {rel!r}")
            found = os.stat(path)
            if not stat.S_ISREG(found.st_mode) or found.st_size != size:
                return True
        except (StoreDamageError, OSError):
            return True
    return False


def _check_version(store: FeatureStore, info: VersionInfo) -> list[Problem]:
    """:func:`~alnm_ray.store.health.check_version` (quick); on the plain path, its own check."""
    if isinstance(store, _PlainStore):
        return store.check_version(info)
    from alnm_ray.store.health import check_version

    return check_version(store, info)


class _NeedsFullStore(Exception):
    """The plain path meets something only the full store reader handles (damage, Arrow, deltalake)."""


class _LocalFileSystem:
    """:class:`pyarrow.fs.LocalFileSystem`, made on first use (the plain path never uses it)."""

    def __getattr__(self, name: str) -> Any:
        import pyarrow.fs as pafs

        return getattr(pafs.LocalFileSystem(), name)


class _PlainStore:
    """A local store as :class:`StoreSQL` reads it on the plain path: JSON logs, ``os.stat``, no pyarrow.

    It holds what a session over a healthy local store needs (the location,
    a :class:`JsonDeltaLog`, the quick file check); anything else (a damaged
    or unreadable version, a log left to ``deltalake``, views through Arrow,
    an I/O error to word) raises :class:`_NeedsFullStore`, and :func:`query`
    opens the session again over a :class:`FeatureStore`, which handles it.
    """

    def __init__(self, path: str) -> None:
        local = path[len("file://"):] if path.startswith("file://") else path
        absolute = os.path.abspath(os.path.expanduser(local))
        # as _fs.resolve_location makes it for a local folder
        self.location = _fs.StoreLocation(absolute, cast(Any, _LocalFileSystem()),
                                          absolute.replace(os.sep, "/"), True)
        self.log = JsonDeltaLog(self.location)

    @property
    def uri(self) -> str:
        return self.location.uri

    def check_is_store(self) -> None:
        """A folder holding ``_store.json`` (and not the old layout); anything else: the full path."""
        try:
            names = os.listdir(self.location.root)
            marker = os.stat(self.location.path(_MARKER))
        except OSError:
            raise _NeedsFullStore("not a store folder") from None
        if _LEGACY_CATALOG_DIR in names or not stat.S_ISREG(marker.st_mode):
            raise _NeedsFullStore("not a store of the current layout")

    def scan(self) -> tuple[list[VersionInfo], list[Problem]]:
        entries, broken = self._io(lambda: self.log.scan(None), "read the Delta logs")
        if broken:
            raise _NeedsFullStore("an unreadable commit record")
        return entries, broken

    def _io(self, fn: Any, action: str) -> Any:
        try:
            return fn()
        except OSError:
            raise _NeedsFullStore(action) from None

    def check_version(self, info: VersionInfo) -> list[Problem]:
        """No problems, or :class:`_NeedsFullStore`: :func:`~alnm_ray.store.health.check_version`'s quick check.

        Every file the snapshot names must stay inside the store (plain
        relative names, symbolic links resolved) and be a regular file of the
        size the log records.
        """
        try:
            snapshot = self.log.snapshot(info.data_dir, info.read_version)
        except StoreDamageError:
            raise _NeedsFullStore("a file outside the table folder") from None
        if snapshot is None or _damaged_files(cast("FeatureStore", self), snapshot):
            raise _NeedsFullStore("a damaged version or a log left to deltalake")
        return []

    def _damage(self, fn: Any, info: VersionInfo, rel: str | None = None) -> Any:
        raise _NeedsFullStore("a view through Arrow")

    def read_errors(self, *args: Any, **kwargs: Any) -> Any:
        raise _NeedsFullStore("error rows through Arrow")

    def resolve(self, ref: str) -> VersionInfo:
        raise _NeedsFullStore("a named version")


def _plain_candidate(store: object, sql: str) -> bool:
    """Whether the plain path may serve ``sql`` over ``store``: a local path, no named version or wide view."""
    if not isinstance(store, str) or not store or (_fs._SCHEME.match(store) and
                                                   not store.startswith("file://")):
        return False
    return not _names_versions(sql)


def _names_versions(sql: str) -> bool:
    """Whether ``sql`` may name a version (``"t@v"``, ``table_at``) or a wide view: a cheap test first."""
    lower = sql.lower()
    if "@" not in sql and "table_at" not in lower and "_wide" not in lower:
        return False
    return bool(_QUOTED_VERSION.search(sql) or _TABLE_AT.search(sql) or _WIDE.search(sql))


def open_session(store: FeatureStore | str, sql: str, *, threads: int | None = None,
                 limits: SQLLimits | None = None,
                 _con: duckdb.DuckDBPyConnection | None = None) -> StoreSQL:
    """A :class:`StoreSQL` session ready for ``sql`` (the versions it names registered).

    The session serves ``sql``: the ``errors`` and ``catalog`` tables are
    made only when it names them.  A local store given as a path is first
    opened on the plain path (its
    Delta logs read as JSON, its files checked with ``os.stat``: neither
    pyarrow nor deltalake is imported); a store that path cannot show as it
    is (damage, a log only ``deltalake`` reads, a named version, a wide view)
    is opened over a :class:`FeatureStore`.  The views, checks, confinement
    and limits are the same either way.
    """
    if _plain_candidate(store, sql):
        try:
            return StoreSQL(cast("FeatureStore", _PlainStore(cast(str, store))), threads=threads,
                            limits=limits, _referenced=sql, _con=_con, _single=sql)
        except _NeedsFullStore as why:  # the session closed _con: the full one opens its own
            logger.debug("SQL session over the full store reader: %s", why)
            _con = None
    return StoreSQL(store, threads=threads, limits=limits, _referenced=sql, _con=_con, _single=sql)


def _mentions(sql: str, name: str) -> bool:
    """Whether ``name`` occurs in ``sql`` as a word (in any case, quoted or not, even inside a string)."""
    text, name = sql.lower(), name.lower()
    at = text.find(name)
    while at >= 0:
        end = at + len(name)
        if (at == 0 or text[at - 1] not in _WORD_CHARS) and (end == len(text) or text[end] not in _WORD_CHARS):
            return True
        at = text.find(name, at + 1)
    return False


def _parsed(sql: str) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection whose parser found ``sql`` read-only (refused before opening the store)."""
    con = duckdb.connect(":memory:")
    try:
        check_read_only(sql, con)
    except BaseException:
        con.close()
        raise
    return con


def query(store: FeatureStore | str, sql: str, *, threads: int | None = None,
          limits: SQLLimits | None = None) -> pa.Table:
    """Run one read-only SQL query over a store.

    Args:
        store: A :class:`FeatureStore` or its path/URI.
        sql: One SELECT statement; views as described in this module.
        threads: DuckDB worker threads (default: one per core).
        limits: Timeout and memory bound (default: :class:`SQLLimits` ()).

    Returns:
        The result as a :class:`pyarrow.Table`.

    Raises:
        StoreError: See :meth:`StoreSQL.query`.

    Example:
        >>> query(store, "SELECT center, count(*) AS n FROM radiomics GROUP BY center")  # doctest: +SKIP
    """
    con = _parsed(sql)  # refuse before opening anything
    with open_session(store, sql, threads=threads, limits=limits, _con=con) as session:
        return session.query(sql)


def query_rows(store: FeatureStore | str, sql: str, *, threads: int | None = None,
               limits: SQLLimits | None = None, max_cells: int | None = None) -> Rows | pa.Table:
    """As :func:`query`, but a small result of plain types comes back as :class:`Rows`.

    What ``alnm-ray sql`` runs: over a healthy local store, a small result
    is read, checked and printed without importing pyarrow
    (:meth:`StoreSQL.query_rows`).

    Example:
        >>> query_rows(store, "SELECT count(*) AS n FROM radiomics").rows  # doctest: +SKIP
        [(8,)]
    """
    con = _parsed(sql)  # refuse before opening anything
    with open_session(store, sql, threads=threads, limits=limits, _con=con) as session:
        return session.query_rows(sql, max_cells=max_cells)
