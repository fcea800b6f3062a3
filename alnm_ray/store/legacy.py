"""The catalog of the old store layout (format 1), read only by ``features migrate``.

Layout of a format-1 store below its root::

    _catalog/<table>/<version>.json      one entry per version (the commit record)
    tables/<table>/<version>-<write id>/ its data (part-*.parquet, errors.parquet)

:func:`alnm_ray.store.migrate.migrate` moves both folders into
``_legacy_v1/`` and reads them from there with :class:`Catalog`; nothing
else reads this layout any more (stores are Delta Lake tables now, see
:mod:`alnm_ray.store.delta_log`).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import uuid
from typing import Any

import pyarrow.fs as pafs

from alnm_ray._validation import did_you_mean
from alnm_ray.exceptions import StoreDamageError, StoreError
from alnm_ray.store import _fs
from alnm_ray.store._problems import Problem
from alnm_ray.store.delta_log import check_record_fields, is_count, valid_table_name
from alnm_ray.store.versions import (SHORT_ID, VERSION_ID_RE, VersionInfo, check_table_name,
                                     default_role)

logger = logging.getLogger(__name__)

CATALOG_DIR = "_catalog"
#: Bumped when the entry layout changes incompatibly.
CATALOG_FORMAT = 1


class Catalog:
    """Read and commit catalog entries of one store.

    Args:
        location: The resolved store root.
    """

    def __init__(self, location: _fs.StoreLocation) -> None:
        self.location = location

    # --- reading -----------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of tables with at least one catalog entry, sorted.

        Folders of ``_catalog/`` whose name cannot name a table are ignored.
        """
        fs = self.location.fs
        names = []
        for info in _fs.list_dir(fs, self.location.path(CATALOG_DIR)):
            if (info.type == pafs.FileType.Directory and valid_table_name(info.base_name)
                    and self._entry_files(info.base_name)):
                names.append(info.base_name)
        return sorted(names)

    def scan(self, table: str | None = None) -> tuple[list[VersionInfo], list[Problem]]:
        """Every readable entry (oldest first) and a :class:`Problem` per damaged one.

        Unlike :meth:`entries`, a damaged entry does not stop the scan, so
        the healthy versions stay usable and the damage can be reported.
        """
        tables = [table] if table is not None else self.tables()
        out, broken = [], []
        for name in tables:
            for path in self._entry_files(name):
                try:
                    out.append(self._load(path))
                except StoreDamageError as err:
                    rel = self._rel(path)
                    broken.append(Problem(name, _stem(path), rel, "entry", _detail(err), rel))
        return sorted(out, key=lambda v: (v.created, v.table, v.version)), broken

    def entries(self, table: str | None = None) -> list[VersionInfo]:
        """Every committed version (of ``table``, or of all tables), oldest first.

        Raises:
            StoreDamageError: An entry is unreadable (the message names its
                table, version and file, and ``features verify``/``repair``).
        """
        entries, broken = self.scan(table)
        if broken:
            raise StoreDamageError(broken[0].message(self.location.uri))
        return entries

    def get(self, table: str, version: str) -> VersionInfo | None:
        """The entry of ``table@version`` (full id), or ``None``."""
        path = self._entry_path(table, version)
        if self.location.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        return self._load(path)

    def latest(self, table: str) -> VersionInfo | None:
        """The most recently committed version of ``table``, or ``None``."""
        entries = self.entries(table)
        return entries[-1] if entries else None

    def resolve(self, table: str, version: str | None = None) -> VersionInfo:
        """The version of ``table`` named by a full id or a unique prefix (latest when None).

        A damaged entry of the table blocks only what it could be: the latest
        version (its date is unknown) and the ids it matches.

        Raises:
            StoreError: When the table or version does not exist, or a prefix
                is ambiguous; the message lists what exists.
            StoreDamageError: When the version asked for may be a damaged entry.
        """
        entries, broken = self.scan(table)
        if not entries and not broken:
            tables = self.tables()
            shown = ", ".join(tables[:12]) or "(none)"
            raise StoreError(
                f"table {table!r}: expected a table of store {self.location.uri!r} "
                f"(tables: {shown}); found no committed version.{did_you_mean(table, tables)} "
                "Run the job that writes it first, or check --store."
            )
        if version is None:
            if broken:
                raise StoreDamageError(
                    broken[0].message(self.location.uri).replace(
                        ". Run", "; the latest version of the table is therefore unknown. Run", 1))
            return entries[-1]
        exact = [e for e in entries if e.version == version]
        if exact:
            return exact[0]
        hit = [p for p in broken if p.version.startswith(version)]
        if hit:
            raise StoreDamageError(hit[0].message(self.location.uri))
        matches = [e for e in entries if e.version.startswith(version)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(e.version[:SHORT_ID] for e in entries[-8:])
        if not matches:
            raise StoreError(
                f"version {table}@{version}: expected the id (or a unique prefix) of a version of "
                f"{table!r}; found none matching. Recent versions: {known}. "
                "List them with `alnm-ray features list`."
            )
        raise StoreError(
            f"version {table}@{version}: expected a unique prefix; it matches {len(matches)} "
            f"versions ({', '.join(m.version[:SHORT_ID] for m in matches[:5])}). "
            "Give more digits."
        )

    def referenced_dirs(self) -> set[str]:
        """Data folders (relative to the root) referenced by any entry.

        A damaged entry that still names a data folder keeps it referenced,
        so :meth:`FeatureStore.cleanup` never deletes the data of a version
        that ``features repair`` would rather quarantine.
        """
        out = set()
        for table in self.tables():
            for path in self._entry_files(table):
                try:
                    record = self._read_record(path)
                except StoreDamageError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("data_dir"), str):
                    out.add(record["data_dir"])
        return out

    # --- writing -----------------------------------------------------------
    def commit(self, record: dict[str, Any]) -> VersionInfo:
        """Publish a catalog entry; the first writer of a version id wins.

        Args:
            record: The entry (see :meth:`FeatureStore.write_version`); must
                hold ``table``, ``version`` and ``data_dir``.

        Returns:
            The committed entry: ``record`` itself, or the entry another
            writer committed first for the same version id.
        """
        fs = self.location.fs
        table, version = record["table"], record["version"]
        folder = self.location.path(CATALOG_DIR, table)
        fs.create_dir(folder, recursive=True)
        final = self._entry_path(table, version)
        data = json.dumps(record, indent=1, sort_keys=True).encode("utf-8")
        if self.location.is_local:
            tmp = f"{folder}/.{version}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, final)  # atomic and exclusive: fails when the entry exists
            except FileExistsError:
                logger.info("%s@%s was committed by another writer first", table, version[:SHORT_ID])
            except OSError:  # filesystems without hard links: last writer wins, both complete
                os.replace(tmp, final)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        elif fs.get_file_info(final).type != pafs.FileType.File:
            _fs.write_bytes(fs, final, data)
        committed = self._load(final)
        return committed

    # --- internals ---------------------------------------------------------
    def _entry_path(self, table: str, version: str) -> str:
        return self.location.path(CATALOG_DIR, table, f"{version}.json")

    def _entry_files(self, table: str) -> list[str]:
        check_table_name(table)
        return sorted(
            info.path for info in _fs.list_dir(self.location.fs, self.location.path(CATALOG_DIR, table))
            if info.type == pafs.FileType.File and info.base_name.endswith(".json")
            and not info.base_name.startswith(".")
        )

    def _rel(self, path: str) -> str:
        return path[len(self.location.root):].lstrip("/")

    def _read_record(self, path: str) -> Any:
        try:
            record = json.loads(_fs.read_bytes(self.location.fs, path))
        except (ValueError, UnicodeDecodeError) as err:
            raise StoreDamageError(
                f"catalog entry {self._rel(path)!r}: expected a JSON version record; the file is "
                f"corrupt ({err}). Restore it from a backup, or run `alnm-ray features repair` "
                "to move it out of _catalog/ (into _quarantine/) and hide that version."
            ) from err
        if isinstance(record, dict) and isinstance(record.get("catalog_format", 0), int) \
                and record.get("catalog_format", 0) > CATALOG_FORMAT:
            raise StoreError(
                f"catalog entry {path!r}: written by a newer alnm-ray (catalog format "
                f"{record.get('catalog_format')}, this one reads {CATALOG_FORMAT}); upgrade alnm-ray."
            )
        return record

    def _load(self, path: str) -> VersionInfo:
        table = posixpath.basename(posixpath.dirname(path))
        return record_to_info(self._read_record(path), table, _stem(path), self._rel(path),
                              self.location)


def _stem(path: str) -> str:
    return posixpath.basename(path)[: -len(".json")]


def _detail(err: StoreDamageError) -> str:
    """The expected/found part of an entry's message (without the entry's name and the fix)."""
    text = str(err).split(". Run `alnm-ray features", 1)[0].split(". Restore it", 1)[0]
    return _ENTRY_PREFIX.sub("", text, count=1)


def record_to_info(record: Any, table: str, stem: str, rel: str,
                   location: _fs.StoreLocation) -> VersionInfo:
    """Check a catalog record field by field and turn it into a :class:`VersionInfo`.

    Nothing in an entry is trusted: the table and version must match where
    the entry lies, the data folder must be ``tables/<table>/<plain name>``,
    file names must be plain names, counts non-negative integers.

    Args:
        record: The parsed JSON.
        table: The catalog folder the entry lies in.
        stem: The entry's file name without ``.json``.
        rel: The entry's path relative to the store root (for messages).
        location: The store.

    Raises:
        StoreDamageError: A field is missing or wrong; the message names the
            entry, the field, what was expected and found, and the fix.
    """
    def bad(name: str, expected: str, found: Any) -> StoreDamageError:
        shown = "(missing)" if found is _MISSING else repr(found)[:80]
        return StoreDamageError(
            f"catalog entry {rel!r} (version {table}@{stem[:SHORT_ID]}): expected {expected} in "
            f"field {name!r}; found {shown}. Run `alnm-ray features verify --store {location.uri}` "
            f"to list every problem and `alnm-ray features repair --store {location.uri}` to move "
            "the entry into _quarantine/ (or restore it from a backup).")

    if not isinstance(record, dict):
        raise bad("(record)", "a JSON object", type(record).__name__)
    get = lambda name: record.get(name, _MISSING)  # noqa: E731
    if get("table") != table:
        raise bad("table", f"{table!r} (the catalog folder it lies in)", get("table"))
    if get("version") != stem or not VERSION_ID_RE.match(stem):
        raise bad("version", f"{stem!r} (its file name)", get("version"))
    check_record_fields(record, table, bad)
    created = record["created"]
    data_dir = get("data_dir")
    if not (_fs.is_plain_relpath(data_dir) and data_dir.count("/") == 2
            and data_dir.startswith(f"tables/{table}/")):
        raise bad("data_dir", f"a folder 'tables/{table}/<name>' inside the store", data_dir)
    files = get("files")
    if not (isinstance(files, list) and files and all(_fs.is_plain_name(f) for f in files)):
        raise bad("files", "a non-empty list of plain file names", files)
    errors_file = record.get("errors_file")
    if errors_file is not None and not _fs.is_plain_name(errors_file):
        raise bad("errors_file", "a plain file name or null", errors_file)
    key, columns = record.get("key", []), record.get("columns", [])
    sizes, digests = record.get("file_sizes") or {}, record.get("file_sha256") or {}
    if not all(_fs.is_plain_name(k) and is_count(v) for k, v in sizes.items()):
        raise bad("file_sizes", "{file name: size in bytes}", sizes)
    if not all(_fs.is_plain_name(k) and isinstance(v, str) and _SHA256.match(v)
               for k, v in digests.items()):
        raise bad("file_sha256", "{file name: 64 hex digits}", digests)
    parent = record.get("parent")
    role = record.get("role") or default_role(table)  # entries written before roles were recorded
    return VersionInfo(
        table=table, version=stem, created=created, rows=record["rows"], cases=record["cases"],
        failures=record["failures"], params=record.get("params") or {},
        lineage=record.get("lineage") or {}, parent=parent, counts=record.get("counts") or {},
        path=location.display(data_dir), data_dir=data_dir, files=tuple(files), key=tuple(key),
        columns=tuple(tuple(c) for c in columns), errors_file=errors_file,
        package_version=str(record.get("package_version", "")), file_sizes=dict(sizes),
        file_sha256=dict(digests), role=role,
    )


_MISSING = object()
_ENTRY_PREFIX = re.compile(r"^catalog entry '[^']*'(?: \(version [^)]*\))?: ")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
