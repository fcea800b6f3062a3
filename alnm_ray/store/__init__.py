"""The versioned feature store (Delta Lake tables), its maintenance, and read-only SQL over it.

Example:
    >>> import pyarrow as pa, tempfile
    >>> from alnm_ray.store import FeatureStore, query
    >>> store = FeatureStore(tempfile.mkdtemp())
    >>> _ = store.write_version("clinical", pa.table({"patient_id": ["p1", "p2"], "age": [51.0, 60.0]}))
    >>> query(store, "SELECT count(*) AS n FROM clinical").column("n").to_pylist()
    [2]
"""

from alnm_ray.store.diff import FeatureChange, VersionDiff, diff_versions
from alnm_ray.store.feature_store import FeatureStore
from alnm_ray.store.health import Problem, VerifyReport, verify
from alnm_ray.store.imports import ImportResult, import_table
from alnm_ray.store.maintenance import VacuumReport, compact, pin, vacuum
from alnm_ray.store.migrate import MigrateResult, migrate
from alnm_ray.store.output import FORMATS, format_table, write_result
from alnm_ray.store.limits import SQLLimits
from alnm_ray.store.repair import Moved, repair
from alnm_ray.store.sql import StoreSQL, check_read_only, query
from alnm_ray.store.versions import (VersionInfo, canonical_json, content_hash, library_versions,
                                     split_ref)
from alnm_ray.store.wide import feature_columns, to_wide

__all__ = [
    "FORMATS",
    "FeatureChange",
    "FeatureStore",
    "ImportResult",
    "MigrateResult",
    "Moved",
    "Problem",
    "SQLLimits",
    "StoreSQL",
    "VersionDiff",
    "VacuumReport",
    "VersionInfo",
    "VerifyReport",
    "canonical_json",
    "check_read_only",
    "compact",
    "content_hash",
    "diff_versions",
    "feature_columns",
    "format_table",
    "import_table",
    "library_versions",
    "migrate",
    "pin",
    "query",
    "repair",
    "split_ref",
    "to_wide",
    "vacuum",
    "verify",
    "write_result",
]
