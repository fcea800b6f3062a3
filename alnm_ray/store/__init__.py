"""The versioned feature store (Delta Lake tables), its maintenance, and read-only SQL over it.

Example:
    >>> import pyarrow as pa, tempfile
    >>> from alnm_ray.store import FeatureStore, query
    >>> store = FeatureStore(tempfile.mkdtemp())
    >>> _ = store.write_version("clinical", pa.table({"patient_id": ["p1", "p2"], "age": [51.0, 60.0]}))
    >>> query(store, "SELECT count(*) AS n FROM clinical").column("n").to_pylist()
    [2]
"""

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives: imported on first use (PEP 562), so `alnm-ray sql` pays only
#: for the modules it needs (the store's writer, imports and repair pull in pandas, SimpleITK...).
_WHERE = {
    **dict.fromkeys(("FeatureChange", "VersionDiff", "diff_versions"), "diff"),
    "FeatureStore": "feature_store",
    **dict.fromkeys(("Problem", "VerifyReport", "verify"), "health"),
    **dict.fromkeys(("ImportResult", "import_table"), "imports"),
    **dict.fromkeys(("VacuumReport", "compact", "pin", "vacuum"), "maintenance"),
    **dict.fromkeys(("MigrateResult", "migrate"), "migrate"),
    **dict.fromkeys(("FORMATS", "format_table", "write_result"), "output"),
    "SQLLimits": "limits",
    **dict.fromkeys(("Moved", "repair"), "repair"),
    **dict.fromkeys(("StoreSQL", "check_read_only", "query"), "sql"),
    **dict.fromkeys(("VersionInfo", "canonical_json", "content_hash", "library_versions",
                     "split_ref"), "versions"),
    **dict.fromkeys(("feature_columns", "to_wide"), "wide"),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``repair`` and ``migrate`` the functions when their modules are imported.

    Importing a submodule binds it to the package; with the names imported
    lazily, ``import alnm_ray.store.repair`` would otherwise replace the
    function ``alnm_ray.store.repair`` with its module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
