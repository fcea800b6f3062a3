"""The catalog: one small JSON file per committed version.

Layout below the store root::

    _catalog/<table>/<version>.json      one entry per version (the commit record)
    tables/<table>/<version>-<write id>/ its data (part-*.parquet, errors.parquet)

Why one file per version rather than one catalog file: writers never rewrite
a shared file, so no global lock is needed and two jobs writing the same store
at once cannot lose each other's entries.  An entry is written only after its
data folder is complete, so a version is visible exactly when its entry
exists: the entry is the commit point.  On a local filesystem the entry is
published with an exclusive hard link (the first writer of a version id wins;
a second one gets the existing entry back); on object stores it is one PUT,
and two writers racing on the *same* version id both leave complete data, the
last PUT wins and the other folder is an unreferenced orphan that
:meth:`FeatureStore.cleanup` removes.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

import pyarrow.fs as pafs

from alnm_ray._validation import did_you_mean
from alnm_ray.exceptions import StoreError
from alnm_ray.store import _fs
from alnm_ray.store.versions import SHORT_ID, VersionInfo, check_table_name

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
        """Names of tables with at least one committed version, sorted."""
        fs = self.location.fs
        names = []
        for info in _fs.list_dir(fs, self.location.path(CATALOG_DIR)):
            if info.type == pafs.FileType.Directory and self._entry_files(info.base_name):
                names.append(info.base_name)
        return sorted(names)

    def entries(self, table: str | None = None) -> list[VersionInfo]:
        """Every committed version (of ``table``, or of all tables), oldest first."""
        tables = [table] if table is not None else self.tables()
        out = []
        for name in tables:
            for path in self._entry_files(name):
                out.append(self._load(path))
        return sorted(out, key=lambda v: (v.created, v.table, v.version))

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

        Raises:
            StoreError: When the table or version does not exist, or a prefix
                is ambiguous; the message lists what exists.
        """
        entries = self.entries(table)
        if not entries:
            tables = self.tables()
            shown = ", ".join(tables[:12]) or "(none)"
            raise StoreError(
                f"table {table!r}: expected a table of store {self.location.uri!r} "
                f"(tables: {shown}); found no committed version.{did_you_mean(table, tables)} "
                "Run the job that writes it first, or check --store."
            )
        if version is None:
            return entries[-1]
        exact = [e for e in entries if e.version == version]
        if exact:
            return exact[0]
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
        """Data folders (relative to the root) referenced by any entry."""
        out = set()
        for table in self.tables():
            for path in self._entry_files(table):
                out.add(self._read_record(path)["data_dir"])
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

    def _read_record(self, path: str) -> dict[str, Any]:
        try:
            record = json.loads(_fs.read_bytes(self.location.fs, path))
        except (ValueError, UnicodeDecodeError) as err:
            raise StoreError(
                f"catalog entry {path!r}: expected a JSON version record; the file is corrupt "
                f"({err}). Restore it from a backup, or move it out of _catalog/ to hide that "
                "version."
            ) from err
        if record.get("catalog_format", 0) > CATALOG_FORMAT:
            raise StoreError(
                f"catalog entry {path!r}: written by a newer alnm-ray (catalog format "
                f"{record.get('catalog_format')}, this one reads {CATALOG_FORMAT}); upgrade alnm-ray."
            )
        return record

    def _load(self, path: str) -> VersionInfo:
        r = self._read_record(path)
        return VersionInfo(
            table=r["table"], version=r["version"], created=r["created"], rows=int(r["rows"]),
            cases=int(r["cases"]), failures=int(r["failures"]), params=r.get("params") or {},
            lineage=r.get("lineage") or {}, parent=r.get("parent"), counts=r.get("counts") or {},
            path=self.location.display(r["data_dir"]), data_dir=r["data_dir"], files=tuple(r.get("files", ())),
            key=tuple(r.get("key", ())), columns=tuple(tuple(c) for c in r.get("columns", ())),
            errors_file=r.get("errors_file"), package_version=r.get("package_version", ""),
        )
