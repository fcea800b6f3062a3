"""Version identity: content hashes, names, and the :class:`VersionInfo` record.

A version id is a content address: the caller hashes everything that
determines the table (the cases' image/mask checksums, extraction params,
preprocessing config, library versions, this package's version) with
:func:`content_hash`, so that re-running the same inputs names the same
version and nothing is recomputed or rewritten.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alnm_ray._validation import look_up_option
from alnm_ray.constants import (TABLE_CV_RESULTS, TABLE_ERRORS, TABLE_OOF,
                                TABLE_PREDICTIONS)
from alnm_ray.exceptions import ConfigError

#: Table names: lower-case SQL identifiers, so that every table is a DuckDB view
#: of the same name without quoting (DuckDB folds identifier case).
TABLE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Version ids: hex content hashes in practice; any short token without path
#: separators or ``@`` is accepted.
VERSION_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$")
#: Names SQL gives to other things than stored tables.
RESERVED_TABLE_NAMES: frozenset[str] = frozenset({TABLE_ERRORS, "catalog", "table_at"})
#: Separator between a table and a version in references: ``radiomics@3fa2…``.
VERSION_SEP = "@"
#: How many hex digits the CLI shows of a version id (still unique in practice).
SHORT_ID = 12
#: Role of a table holding features to model (extracted, embedded, clinical, imported).
ROLE_FEATURE = "feature"
#: Role of a table holding results (CV results, out-of-fold predictions, scores).
ROLE_OUTPUT = "output"
#: Role of the table that describes other tables' columns (``feature_dictionary``).
ROLE_DICTIONARY = "dictionary"
#: What a table version holds, recorded when it is written.
ROLES: tuple[str, ...] = (ROLE_FEATURE, ROLE_OUTPUT, ROLE_DICTIONARY)
#: Roles of versions written without one (before roles were recorded, or by a writer
#: that does not say): these tables were results or the dictionary; any other is features.
UNRECORDED_ROLES: Mapping[str, str] = {
    TABLE_CV_RESULTS: ROLE_OUTPUT, TABLE_OOF: ROLE_OUTPUT, TABLE_PREDICTIONS: ROLE_OUTPUT,
    "feature_dictionary": ROLE_DICTIONARY}


def _canonical(obj: Any) -> Any:
    """A JSON-able, order-independent rendering of ``obj``."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            return {"__float__": repr(obj)}
        return obj
    if isinstance(obj, enum.Enum):
        return _canonical(obj.value)
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_canonical(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, (bytes, bytearray)):
        return {"__bytes__": bytes(obj).hex()}
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(dataclasses.asdict(obj))
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _canonical(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays
        return _canonical(obj.tolist())
    raise ConfigError(
        f"content_hash: expected JSON-like values (dict, list, str, number, bool, None, path, "
        f"dataclass, numpy scalar); got {type(obj).__name__} ({obj!r:.60}). Convert it to one of "
        "these first (e.g. str() or a dict of its fields)."
    )


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` to canonical JSON (sorted keys, no spaces, ASCII).

    Example:
        >>> canonical_json({"b": 1, "a": (1.5, None)})
        '{"a":[1.5,null],"b":1}'
    """
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_hash(parts: Mapping[str, Any]) -> str:
    """SHA-256 (hex, 64 digits) of the canonical JSON of ``parts``.

    Key order does not matter; tuples hash like lists, sets like sorted lists.

    Args:
        parts: Everything that determines a result, e.g. ``{"cases": [sha…],
            "params": {...}, "package": __version__}``.

    Returns:
        The hex digest.

    Raises:
        ConfigError: When a value cannot be rendered as JSON.

    Example:
        >>> content_hash({"a": 1, "b": [2]}) == content_hash({"b": (2,), "a": 1})
        True
    """
    return hashlib.sha256(canonical_json(dict(parts)).encode("ascii")).hexdigest()


def library_versions(*distributions: str) -> dict[str, str | None]:
    """Installed versions of ``distributions`` plus alnm-ray's, for content hashes.

    Args:
        distributions: Package names as pip knows them (``"pyradiomics"``,
            ``"SimpleITK"``, ``"numpy"``, ``"torch"``, ``"monai"``).

    Returns:
        ``{name: version or None when not installed}``, always including
        ``"alnm-ray"``.

    Example:
        >>> sorted(library_versions("numpy"))
        ['alnm-ray', 'numpy']
    """
    from importlib.metadata import PackageNotFoundError, version

    from alnm_ray._version import __version__

    out: dict[str, str | None] = {"alnm-ray": __version__}
    for name in distributions:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def check_table_name(name: str) -> str:
    """Check that ``name`` can name a stored table (and its SQL view).

    Raises:
        ConfigError: When it is not a lower-case identifier or is reserved.

    Example:
        >>> check_table_name("radiomics")
        'radiomics'
    """
    if not isinstance(name, str) or not TABLE_NAME_RE.match(name):
        suggestion = re.sub(r"[^a-z0-9_]", "_", str(name).lower()).strip("_") or "features"
        if not suggestion[0].isalpha():
            suggestion = "t_" + suggestion
        raise ConfigError(
            f"table name: expected a lower-case identifier (a letter, then letters, digits or "
            f"'_', at most 63 characters); got {name!r}. Use e.g. {suggestion[:63]!r}."
        )
    if name in RESERVED_TABLE_NAMES:
        raise ConfigError(
            f"table name: {name!r} is reserved for the store's SQL views "
            f"({', '.join(sorted(RESERVED_TABLE_NAMES))}); choose another name, e.g. '{name}_features'."
        )
    return name


def default_role(table: str) -> str:
    """The role of a version of ``table`` that records none (see :data:`UNRECORDED_ROLES`).

    Example:
        >>> default_role("cv_results"), default_role("radiomics")
        ('output', 'feature')
    """
    return UNRECORDED_ROLES.get(table, ROLE_FEATURE)


def check_role(role: str) -> str:
    """Check that ``role`` is one of :data:`ROLES`.

    Raises:
        ConfigError: Any other value (with the closest role).

    Example:
        >>> check_role("feature")
        'feature'
    """
    return look_up_option("role", role, ROLES)


def check_version_id(version: str) -> str:
    """Check that ``version`` can name a version (a hex hash or short token).

    Raises:
        ConfigError: When it contains path separators, ``@`` or spaces.
    """
    if not isinstance(version, str) or not VERSION_ID_RE.match(version):
        raise ConfigError(
            f"version_id: expected a hex content hash (or letters, digits, '_' and '-', at most "
            f"128 characters); got {version!r}. Compute it with alnm_ray.store.content_hash(...)."
        )
    return version


def split_ref(ref: str) -> tuple[str, str | None]:
    """Split ``"table@version"`` (or plain ``"table"``) into its parts.

    Example:
        >>> split_ref("radiomics@3fa2")
        ('radiomics', '3fa2')
    """
    table, sep, version = str(ref).partition(VERSION_SEP)
    return table, (version if sep else None)


def utc_now() -> str:
    """The current time, ISO-8601 in UTC with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version of one table: a commit of its Delta table.

    Attributes:
        table: Table name (``radiomics``, ``deep``, ``cv_results``, …).
        version: The version id (content hash).
        created: When the version was committed, ISO-8601 UTC.
        rows: Number of rows.
        cases: Distinct values of the case-key columns present
            (``constants.CASE_KEY``); 0 when the table has none.
        failures: Number of error rows recorded with the version.
        params: What produced it (params, configs, seeds, library versions).
        lineage: Where it came from (manifest path and hash, inputs).
        parent: The version this one was derived from (incremental runs).
        counts: Work counters given by the writer (computed/cached/failed).
        path: Folder or URI of the table's Delta table.
        data_dir: The same folder relative to the store root (``tables/<table>``).
        files: Data files of the version's snapshot, relative to ``path``;
            empty until :meth:`~alnm_ray.store.FeatureStore.with_files` fills them.
        key: Columns that identify a row uniquely (empty when none).
        columns: ``(name, arrow type)`` of every column.
        errors_file: Unused since error rows have their own Delta table (``errors/``).
        package_version: alnm-ray version that wrote it.
        file_sizes: Size in bytes of each file of :attr:`files`, as the Delta log records.
        file_sha256: SHA-256 (hex) of each file alnm-ray wrote itself, as the
            commit that added it records (none for files a merge or compaction wrote).
        role: What the table holds (:data:`ROLES`): ``feature`` (to model),
            ``output`` (results) or ``dictionary``.  Versions written before
            roles were recorded get :func:`default_role`.
        delta_version: The Delta Lake commit that wrote the version (-1 for
            a version of the old, pre-Delta layout).
        read_version: The newest Delta version with the same content (later
            compactions keep the rows and merge small files); what reads use.
        mode: How the commit wrote it: ``overwrite`` (the whole table),
            ``append`` (new rows only) or ``merge`` (rows upserted and deleted
            by key), ``restore`` (back to an earlier version's content).
    """

    table: str
    version: str
    created: str
    rows: int
    cases: int
    failures: int
    params: dict = field(default_factory=dict)
    lineage: dict = field(default_factory=dict)
    parent: str | None = None
    counts: dict = field(default_factory=dict)
    path: str = ""
    data_dir: str = ""
    files: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    errors_file: str | None = None
    package_version: str = ""
    file_sizes: dict = field(default_factory=dict)
    file_sha256: dict = field(default_factory=dict)
    role: str = ROLE_FEATURE
    delta_version: int = -1
    read_version: int = -1
    mode: str = "overwrite"

    @property
    def ref(self) -> str:
        """``"table@version"``."""
        return f"{self.table}{VERSION_SEP}{self.version}"

    @property
    def short(self) -> str:
        """``"table@<first 12 digits>"`` for display."""
        return f"{self.table}{VERSION_SEP}{self.version[:SHORT_ID]}"

    @property
    def column_names(self) -> list[str]:
        """Names of the columns, in order."""
        return [name for name, _ in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        out = dataclasses.asdict(self)
        out["files"] = list(self.files)
        out["key"] = list(self.key)
        out["columns"] = [list(c) for c in self.columns]
        return out
