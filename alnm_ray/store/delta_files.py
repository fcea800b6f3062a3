"""A table's Delta log read once, as JSON, for the SQL session of a local store.

:class:`~alnm_ray.store.delta_log.DeltaLog` lists versions through
``deltalake`` (its import and each table load cost time an interactive
``alnm-ray sql`` does not have).  :class:`JsonDeltaLog` reads the same log
directly: each ``_delta_log/<n>.json`` commit is parsed once per session and
replayed (``add`` / ``remove``) to list the data files of any version, and the
commit records go through the same field-by-field checks
(:func:`~alnm_ray.store.delta_log.record_to_info`).

Anything this reader does not handle exactly as the Delta protocol asks falls
back to ``deltalake`` for that table: a checkpoint (``_last_checkpoint``,
``*.checkpoint.parquet``), a gap in the commit numbers, a line that is not
JSON, a commit without ``commitInfo``, percent-encoded paths.  A snapshot that
DuckDB's ``read_parquet`` cannot show as the Delta table does (partition
columns, column mapping, deletion vectors, reader features, no files) is
marked :attr:`Snapshot.plain` ``False`` so the session reads it through Arrow.
The data file paths are checked exactly as ``deltalake``'s are
(:meth:`DeltaLog.files`): plain relative names inside the table folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from alnm_ray.exceptions import StoreDamageError
from alnm_ray.store import _fs
from alnm_ray.store._problems import Problem
from alnm_ray.store.delta_log import (_BAD_JSON, COMMIT_KEY, FOREIGN_PREFIX, TABLES_DIR, Commit, DeltaLog,
                                      valid_table_name)

#: A commit file of the log: 20 digits and ``.json``.
_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")
#: Table properties under which a Parquet column is not the table's column.
_COLUMN_MAPPING = "delta.columnMapping.mode"


class _Unsupported(Exception):
    """The log holds something this reader leaves to ``deltalake``."""


@dataclass(frozen=True)
class Snapshot:
    """The data files of one Delta version, and whether ``read_parquet`` shows them as the table.

    Attributes:
        files: ``(path relative to the store root, size in bytes)`` of each data file.
        columns: The table's column names, in the table's order.
        plain: Whether the files' own columns, null-filled by name, are the
            table (no partition columns, column mapping, deletion vectors).
    """

    files: tuple[tuple[str, int], ...]
    columns: tuple[str, ...]
    plain: bool


@dataclass
class _Commit:
    info: dict
    adds: list[dict]
    removes: list[str]
    metadata: dict | None
    protocol: dict | None


class JsonDeltaLog(DeltaLog):
    """A :class:`DeltaLog` of a local store that reads each table's log once, as JSON.

    Falls back to ``deltalake`` (the parent class) for a table whose log it
    does not handle (see the module docstring).
    """

    def __init__(self, location: _fs.StoreLocation) -> None:
        super().__init__(location)
        self._parsed: dict[str, tuple[tuple[str, ...], list[_Commit] | None]] = {}

    def tables(self) -> list[str]:
        """As :meth:`DeltaLog.tables`, listed with ``os.scandir`` (no pyarrow) on a local store."""
        if not self.location.is_local:
            return super().tables()
        try:
            entries = list(os.scandir(self.location.path(TABLES_DIR)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        if any(e.is_symlink() for e in entries):  # as pyarrow sees a link: its own listing
            return super().tables()
        return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False)
                      and valid_table_name(e.name) and self.is_table(f"{TABLES_DIR}/{e.name}"))

    def _log_names(self, rel: str) -> tuple[str, ...]:
        try:
            names = os.listdir(self.location.path(rel, "_delta_log"))
        except OSError:
            return ()
        return tuple(sorted(n for n in names
                            if n.endswith((".json", ".checkpoint.parquet", "_last_checkpoint"))))

    def _commits(self, rel: str) -> list[_Commit] | None:
        """The parsed commits of ``rel``, oldest first; ``None`` when left to ``deltalake``."""
        names = self._log_names(rel)
        cached = self._parsed.get(rel)
        if cached is not None and cached[0] == names:
            return cached[1]
        try:
            commits: list[_Commit] | None = self._parse(rel, names)
        except (_Unsupported, OSError, ValueError, TypeError, AttributeError):
            commits = None
        self._parsed[rel] = (names, commits)
        return commits

    def _parse(self, rel: str, names: tuple[str, ...]) -> list[_Commit]:
        numbers = []
        for name in names:
            match = _COMMIT_FILE.match(name)
            if match is None:  # a checkpoint or a name the protocol adds later
                raise _Unsupported(name)
            numbers.append(int(match.group(1)))
        if not numbers or numbers != list(range(len(numbers))):
            raise _Unsupported("gap")
        out = []
        for number in numbers:
            with open(self.location.path(rel, "_delta_log", f"{number:020d}.json"), "rb") as handle:
                lines = handle.read().decode("utf-8").splitlines()
            commit = _Commit({}, [], [], None, None)
            seen_info = False
            for line in lines:
                if not line.strip():
                    continue
                action = json.loads(line)
                if not isinstance(action, dict):
                    raise _Unsupported("action")
                if "commitInfo" in action:
                    if not isinstance(action["commitInfo"], dict):
                        raise _Unsupported("commitInfo")
                    commit.info, seen_info = action["commitInfo"], True
                elif "add" in action:
                    commit.adds.append(action["add"])
                elif "remove" in action:
                    commit.removes.append(action["remove"]["path"])
                elif "metaData" in action:
                    commit.metadata = action["metaData"]
                elif "protocol" in action:
                    commit.protocol = action["protocol"]
            if not seen_info:
                raise _Unsupported("no commitInfo")
            out.append(commit)
        return out

    def history(self, rel: str) -> list[Commit]:
        """The commits of the Delta table ``rel``, oldest first (as :meth:`DeltaLog.history`)."""
        commits = self._commits(rel)
        if commits is None:
            return super().history(rel)
        out = []
        for number, commit in enumerate(commits):
            raw = commit.info.get(COMMIT_KEY)
            try:
                record = json.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                record = _BAD_JSON
            timestamp = commit.info.get("timestamp")
            out.append(Commit(number, str(commit.info.get("operation", "")),
                              int(timestamp) if isinstance(timestamp, int) else 0, record))
        return out

    def snapshot(self, rel: str, read_version: int) -> Snapshot | None:
        """The data files and columns of Delta version ``read_version`` of ``rel``.

        Returns:
            The snapshot, or ``None`` when the log is left to ``deltalake``.

        Raises:
            StoreDamageError: The log names a file outside the table's folder.
        """
        commits = self._commits(rel)
        if commits is None or not 0 <= read_version < len(commits):
            return None
        live: dict[str, int] = {}
        plain, metadata, protocol = True, None, None
        for commit in commits[:read_version + 1]:
            for path in commit.removes:
                live.pop(path, None)
            for add in commit.adds:
                name, size = add.get("path"), add.get("size")
                if not isinstance(name, str) or "%" in name or not isinstance(size, int) \
                        or isinstance(size, bool):
                    return None  # encoded or odd entries: deltalake decodes them
                if add.get("deletionVector"):
                    plain = False
                live[name] = size
            metadata = commit.metadata or metadata
            protocol = commit.protocol or protocol
        if not isinstance(metadata, dict):
            return None
        try:
            fields = json.loads(metadata["schemaString"])["fields"]
            columns = tuple(str(f["name"]) for f in fields)
        except (KeyError, TypeError, ValueError):
            return None
        configuration = metadata.get("configuration") or {}
        if metadata.get("partitionColumns") or configuration.get(_COLUMN_MAPPING, "none") != "none" \
                or not isinstance(protocol, dict) or protocol.get("minReaderVersion", 1) != 1 \
                or not live:
            plain = False
        out = []
        for path, size in sorted(live.items()):
            if not _fs.is_plain_relpath(path) or path.startswith("_"):
                raise StoreDamageError(Problem(
                    rel.rsplit("/", 1)[-1], f"{FOREIGN_PREFIX}{read_version}", f"{rel}/_delta_log",
                    "escapes", f"expected data file paths inside the table folder; the log names "
                    f"{str(path)[:120]!r}").message(self.location.uri))
            out.append((f"{rel}/{path}", size))
        return Snapshot(tuple(out), columns, plain)

    def latest_snapshot(self, rel: str) -> Snapshot | None:
        """The snapshot of the newest commit of ``rel`` (``None``: left to ``deltalake``)."""
        commits = self._commits(rel)
        return None if not commits else self.snapshot(rel, len(commits) - 1)

    def files(self, rel: str, read_version: int) -> list[tuple[str, int]]:
        """As :meth:`DeltaLog.files`, from the parsed log when it can."""
        found = self.snapshot(rel, read_version)
        if found is None:
            return super().files(rel, read_version)
        return list(found.files)
