"""Read-only DuckDB SQL over a feature store.

Every stored table is a view of the same name showing its latest version;
``errors`` holds the error rows of every table's latest version and
``catalog`` one row per version.  A specific version is
``"radiomics@3fa2c1"`` (a double-quoted name; any unique prefix of the id) or
``table_at('radiomics', '3fa2c1')``, and ``<table>_wide`` is the per-patient
wide view of a long feature table (:func:`alnm_ray.store.wide.to_wide`, reader A).

How the query is kept read-only and inside the store, in two layers:

1. DuckDB's own parser (:func:`duckdb.extract_statements`) must find exactly
   one ``SELECT`` (or ``EXPLAIN``) statement: INSERT, CREATE, COPY, ATTACH,
   INSTALL/LOAD, SET, PRAGMA… are refused before anything runs.
2. Tables are registered as :mod:`pyarrow.dataset` objects (so they work for
   local and object-store stores alike) and then the connection is locked
   with ``enable_external_access = false`` and ``lock_configuration = true``:
   DuckDB itself refuses any file access (``read_csv('/etc/passwd')``,
   ``read_parquet(...)``, ``COPY … TO``, ``ATTACH``, extension installs), and the
   setting cannot be turned back on.  The connection is an in-memory database
   that is thrown away, so nothing a query does can persist.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from alnm_ray.exceptions import StoreError
from alnm_ray.store.feature_store import FeatureStore
from alnm_ray.store.versions import VERSION_SEP, VersionInfo
from alnm_ray.store.wide import to_wide

#: Statement types a query may have.
ALLOWED_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
#: ``"radiomics@3fa2c1"`` — a double-quoted versioned view name.
_QUOTED_VERSION = re.compile(r'"([a-z][a-z0-9_]*)@([0-9A-Za-z_-]+)"')
#: ``table_at('radiomics', '3fa2c1')``.
_TABLE_AT = re.compile(r"table_at\s*\(\s*'([a-z][a-z0-9_]*)'\s*,\s*'([0-9A-Za-z_-]+)'\s*\)",
                       re.IGNORECASE)
#: ``EXPLAIN [ANALYZE] [(options)]`` in front of the explained statement.
_EXPLAIN_PREFIX = re.compile(r"^\s*explain\b(?:\s+analy[sz]e\b)?(?:\s*\([^)]*\))?", re.IGNORECASE)
_WIDE = re.compile(r"\b([a-z][a-z0-9_]*)_wide\b", re.IGNORECASE)
WIDE_SUFFIX = "_wide"


def check_read_only(sql: str) -> None:
    """Refuse anything but one SELECT/EXPLAIN statement, using DuckDB's parser.

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
        statements = duckdb.extract_statements(sql)
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
        check_read_only(inner)
        return
    if kind not in ALLOWED_STATEMENTS:
        name = str(kind).rsplit(".", 1)[-1]
        snippet = " ".join(sql.split())[:60]
        raise StoreError(
            f"SQL: the store is read-only; expected a SELECT query; got a {name} statement "
            f"({snippet!r}). Only SELECT (and EXPLAIN) run here: no INSERT/CREATE/COPY/ATTACH/"
            "INSTALL/LOAD/SET. Tables are written by alnm-ray commands (extract, features import)."
        )


def _catalog_table(entries: list[VersionInfo]) -> pa.Table:
    latest = {}
    for info in entries:  # oldest first: the last one per table wins
        latest[info.table] = info.version
    rows: dict[str, list[Any]] = {k: [] for k in (
        "table", "version", "created", "rows", "cases", "failures", "parent", "is_latest",
        "key", "n_columns", "path", "params", "lineage", "counts", "package_version")}
    for info in entries:
        values = (info.table, info.version, datetime.fromisoformat(info.created), info.rows,
                  info.cases, info.failures, info.parent, latest[info.table] == info.version,
                  ",".join(info.key), len(info.columns), info.path, json.dumps(info.params),
                  json.dumps(info.lineage), json.dumps(info.counts), info.package_version)
        for name, value in zip(rows, values):
            rows[name].append(value)
    types = [pa.string(), pa.string(), pa.timestamp("us", tz="UTC"), pa.int64(), pa.int64(),
             pa.int64(), pa.string(), pa.bool_(), pa.string(), pa.int64(), pa.string(),
             pa.string(), pa.string(), pa.string(), pa.string()]
    return pa.table([pa.array(v, t) for v, t in zip(rows.values(), types)], names=list(rows))


class StoreSQL:
    """A read-only DuckDB session over a snapshot of a store.

    The views are fixed when the session opens; open a new one to see
    versions committed later.  Reuse one session for many queries (each
    :func:`query` call opens its own).

    Args:
        store: A :class:`FeatureStore` or its path/URI.
        threads: DuckDB worker threads (default: DuckDB's, one per core).

    Raises:
        StoreError: The store path does not exist.
    """

    def __init__(self, store: FeatureStore | str, *, threads: int | None = None) -> None:
        self.store = store if isinstance(store, FeatureStore) else FeatureStore(store)
        if not self.store.exists():
            raise StoreError(
                f"store {self.store.uri!r}: expected an alnm-ray store folder; it does not exist. "
                "Check --store (extract or `features import` create it)."
            )
        self._entries = self.store.versions()
        self._latest = {info.table: info for info in self._entries}
        self._con = duckdb.connect(":memory:")
        self._views: list[str] = []
        for table, info in sorted(self._latest.items()):
            self._register(table, self.store.dataset(info))
        self._register("errors", self.store.read_errors())
        self._register("catalog", _catalog_table(self._entries))
        self._con.execute("CREATE MACRO table_at(t, v) AS TABLE "
                          f"FROM query_table(t || '{VERSION_SEP}' || v)")
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")
        for setting in ("autoinstall_known_extensions = false", "autoload_known_extensions = false",
                        "enable_external_access = false", "lock_configuration = true"):
            self._con.execute(f"SET {setting}")

    @property
    def views(self) -> list[str]:
        """Names of the views registered so far."""
        return list(self._views)

    def _register(self, name: str, obj: Any) -> None:
        self._con.register(name, obj)
        self._views.append(name)

    def _register_referenced(self, sql: str) -> None:
        for table, version in _QUOTED_VERSION.findall(sql) + _TABLE_AT.findall(sql):
            name = f"{table}{VERSION_SEP}{version}"
            if name not in self._views:
                info = self.store.resolve(name)
                self._register(name, self.store.dataset(info))
        for base in _WIDE.findall(sql):
            base = base.lower()
            name = base + WIDE_SUFFIX
            if name in self._views or name in self._latest or base not in self._latest:
                continue
            if "sequence" not in self._latest[base].column_names:
                continue
            wide = to_wide(self.store.read(base, self._latest[base].version)).reset_index()
            self._register(name, pa.Table.from_pandas(wide, preserve_index=False))

    def query(self, sql: str) -> pa.Table:
        """Run one read-only query and return its result.

        Args:
            sql: One SELECT statement over the store's views.

        Returns:
            The result as a :class:`pyarrow.Table`.

        Raises:
            StoreError: A refused statement, a file access, an unknown view
                or column, or any other DuckDB error, with the views listed.
        """
        check_read_only(sql)
        self._register_referenced(sql)
        views = ", ".join(sorted(self._views)) or "(none)"
        try:
            return self._con.sql(sql).to_arrow_table()
        except duckdb.PermissionException as err:
            raise StoreError(
                f"SQL: file access is disabled; the query may only read the store's views "
                f"({views}), not files (read_csv/read_parquet/COPY/ATTACH). DuckDB said: {err}"
            ) from err
        except duckdb.CatalogException as err:
            raise StoreError(
                f"SQL: {err}\nExpected one of the store's views: {views}. A specific version: "
                "\"table@<version>\" or table_at('table', '<version>'); list them with "
                "`alnm-ray features list`."
            ) from err
        except duckdb.ParserException as err:
            raise StoreError(f"SQL syntax error: {err}") from err
        except duckdb.Error as err:
            raise StoreError(f"SQL: the query failed: {err}") from err

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()

    def __enter__(self) -> "StoreSQL":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def query(store: FeatureStore | str, sql: str, *, threads: int | None = None) -> pa.Table:
    """Run one read-only SQL query over a store.

    Args:
        store: A :class:`FeatureStore` or its path/URI.
        sql: One SELECT statement; views as described in this module.
        threads: DuckDB worker threads (default: one per core).

    Returns:
        The result as a :class:`pyarrow.Table`.

    Raises:
        StoreError: See :meth:`StoreSQL.query`.

    Example:
        >>> query(store, "SELECT center, count(*) AS n FROM radiomics GROUP BY center")  # doctest: +SKIP
    """
    check_read_only(sql)  # refuse before opening anything
    with StoreSQL(store, threads=threads) as session:
        return session.query(sql)
